"""Engines and migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlmodel import create_engine

from config.settings import Settings
from crypto.keyring import Keyring

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, keyring: Keyring | None = None, **kwargs) -> Engine:
    """An engine whose errors never quote row values (they would carry student data into logs).

    ``keyring`` seals and unseals the encrypted columns (crypto/sealed.py);
    an engine without one can do everything else.
    """
    engine = _create(url, **kwargs)
    engine.dialect.crisisflow_keyring = keyring
    return engine


def open_engine(settings: Settings) -> Engine:
    """The engine of a service: the configured database, sealed with the payload keyring."""
    return make_engine(settings.resolved_database_url, keyring=settings.payload_keyring)


def _create(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # API and worker share the file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


#: PostgreSQL advisory lock key: API and worker replicas starting together migrate one at a time.
_MIGRATION_LOCK = 0x63F10001


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent, safe to run from every replica).

    Processes starting together take turns: PostgreSQL through an advisory lock, a SQLite file
    through an exclusive lock on a file beside it (an API and a worker started at once would
    otherwise both create the tables).
    """
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            command.upgrade(alembic_config(engine), "head")
            return
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                command.upgrade(alembic_config(engine), "head")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})

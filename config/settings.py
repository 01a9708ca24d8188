"""Settings, from the environment (``CRISISFLOW_*``) with embedded defaults."""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crypto.keyring import KEYRING_FILE, Keyring, KeyringError, ensure_file

SECRET_FILE = "secret"
MIN_SECRET_CHARS = 32
_WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "crisisflow", "dev", "test"}


def secret_problem(secret: str | None) -> str | None:
    """Why a token secret is unfit for production, or None."""
    if not secret:
        return "CRISISFLOW_SECRET is not set"
    if len(secret) < MIN_SECRET_CHARS:
        return f"CRISISFLOW_SECRET has {len(secret)} characters; at least {MIN_SECRET_CHARS} are needed"
    if secret.lower() in _WEAK_SECRETS or len(set(secret)) < 12:
        return "CRISISFLOW_SECRET is guessable (too few distinct characters); use e.g. `openssl rand -base64 48`"
    return None


def key_id(secret: str) -> str:
    """The public id of a token-signing secret (the ``kid`` of the tokens it signs)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRISISFLOW_", extra="ignore")

    env: Literal["dev", "prod"] = Field("prod", description="dev: embedded defaults allowed")
    data_dir: Path = Path("var")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir")
    temporal_address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "crisisflow-cases"
    secret: SecretStr | None = Field(None, description="signs bearer tokens; dev keeps one in the data dir")
    previous_secrets: list[SecretStr] = Field(
        [], description="secrets replaced by a rotation: tokens they signed are accepted until they expire"
    )
    keyring: SecretStr | None = Field(
        None, description="payload keyring: a file path or inline JSON; dev keeps one in the data dir"
    )
    openapi: bool = Field(False, description="serve /api/v1/openapi.json and /api/v1/docs")
    ui_origins: list[str] = Field([], description="origins of the Temporal UI allowed to call /codec (CORS)")
    write_rate_per_minute: int = Field(60, ge=1, description="writes each staff member may make per minute")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="largest request body, except history replay")
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest scan or photo of a signed paper")
    max_screening_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="largest screening result file uploaded")
    max_replay_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest body of POST /audit/replay")
    webhook_url: str | None = None
    channels_file: Path | None = Field(
        None, description="YAML of each school's channels (robot and mail URLs); secrets as ${ENV} or ${file:path}"
    )
    templates_dir: Path | None = Field(None, description="a school's edited copy of paper/templates")
    document_fonts: list[str] = Field(
        ["Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei"],
        description="font families for documents, the first installed one used; one must be a CJK font",
    )
    font_paths: list[Path] = Field([], description="extra folders of fonts for documents")
    public_url: str = Field("http://127.0.0.1:8000", description="the staff app's address, for links in messages")
    policy_file: Path | None = None
    screening_rules_file: Path | None = Field(
        None, description="JSON or TOML rules from screening results to flags (models/screening.py has the defaults)"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    metrics_host: str = Field("127.0.0.1", description="the operations port's address (/metrics, /livez, /readyz)")
    metrics_port: int = Field(9464, ge=0, le=65535, description="the operations port; 0 switches it off")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    worker_shutdown_grace_seconds: float = Field(
        10, ge=0, description="a stopping worker lets running activities finish this long before cancelling them"
    )
    history_event_limit: int = Field(10_000, ge=50, description="continue-as-new past this many events")
    session_idle_minutes: int = Field(30, ge=1, description="a staff app session ends after this long unused")
    session_max_hours: int = Field(12, ge=1, description="and after this long in any case")
    signin_failures_per_account: int = Field(
        5, ge=1, description="wrong passwords one address may try at one account in signin_window_seconds; later "
                             "tries from that address are refused (others still sign in)"
    )
    signin_failures_per_address: int = Field(
        20, ge=1, description="wrong sign-ins an account (from anywhere) or an address (at any account) may have in "
                              "signin_window_seconds before each answer is slowed down (never refused)")
    signin_window_seconds: int = Field(60, ge=1, description="the window the sign-in limits count in")
    signin_slowdown_max_seconds: float = Field(
        5, ge=0, description="the longest a sign-in answer is held back past signin_failures_per_address")
    totp_failures_per_pause: int = Field(5, ge=1, description="wrong TOTP codes in a row before the account pauses")
    totp_pause_minutes: list[int] = Field(
        [1, 15, 60], min_length=1, description="each pause, growing with each (the last repeats)")
    totp_failures_to_reset: int = Field(
        20, ge=2, description="wrong TOTP codes in a row after which the password is void: a new invitation is needed")
    help_requests_per_address_per_hour: int = Field(
        3, ge=1, description="help requests one address may send an hour (the help page; its fingerprint counts)")
    help_requests_per_school_per_hour: int = Field(
        30, ge=1, description="help requests a school's help page takes an hour, from everyone")
    invite_valid_hours: int = Field(72, ge=1, description="how long a `crisisflow staff invite` code is good")
    totp: bool = Field(True, description="ask roles that see students' names for a TOTP code; off only in dev")
    demo: bool = Field(False, description="the staff app says on every page that this is a demonstration")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'crisisflow.db').resolve()}"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @cached_property
    def signing_secret(self) -> str:
        """The token secret: the environment's, else the one kept in the data dir."""
        if self.secret is not None:
            return self.secret.get_secret_value()
        file = self.data_dir / SECRET_FILE
        if file.exists():
            return file.read_text().strip()
        raise RuntimeError(
            "no token secret: set CRISISFLOW_SECRET, or run 'crisisflow dev' once to make one in the data dir"
        )

    @cached_property
    def token_keys(self) -> dict[str, str]:
        """Secrets that verify tokens, by key id; the first is the one that signs."""
        secrets_ = [self.signing_secret, *(s.get_secret_value() for s in self.previous_secrets)]
        return {key_id(s): s for s in secrets_}

    @property
    def keyring_source(self) -> str:
        if self.keyring is not None:
            return self.keyring.get_secret_value()
        file = self.data_dir / KEYRING_FILE
        if file.exists():
            return str(file)
        raise KeyringError(
            "no payload keyring: set CRISISFLOW_KEYRING, or run 'crisisflow dev' once to make one in the data dir"
        )

    @cached_property
    def payload_keyring(self) -> Keyring:
        return Keyring(self.keyring_source)

    def production_problems(self) -> list[str]:
        """What stops a non-dev service from starting: weak or missing secrets and keys."""
        if self.env == "dev":
            return []
        problems = []
        if not self.totp:
            problems.append("CRISISFLOW_TOTP is off: the second factor may be switched off in dev only")
        if problem := secret_problem(self.secret.get_secret_value() if self.secret else None):
            problems.append(problem)
        if self.keyring is None:
            problems.append("CRISISFLOW_KEYRING is not set (a keyring file path or inline JSON)")
        else:
            try:
                self.payload_keyring  # noqa: B018 - parses and checks every key
            except KeyringError as exc:
                problems.append(f"CRISISFLOW_KEYRING: {exc}")
        return problems


def ensure_dev_keyring(data_dir: Path) -> Path:
    """Create (once) the keyring a dev installation encrypts payloads with."""
    return ensure_file(data_dir / KEYRING_FILE)


def ensure_dev_secret(data_dir: Path) -> str:
    """Create (once) and return the secret a dev installation signs tokens with."""
    data_dir.mkdir(parents=True, exist_ok=True)
    file = data_dir / SECRET_FILE
    if not file.exists():
        file.touch(mode=0o600)
        file.write_text(secrets.token_urlsafe(48))
    return file.read_text().strip()

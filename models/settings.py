"""Settings, from the environment (``CRISISFLOW_*``) with embedded defaults."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRISISFLOW_", extra="ignore")

    env: Literal["dev", "prod"] = Field("prod", description="dev: embedded defaults allowed")
    data_dir: Path = Path("var")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir")
    temporal_address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "crisisflow-cases"
    secret: SecretStr | None = Field(None, description="signs bearer tokens; dev keeps one in the data dir")
    webhook_url: str | None = None
    policy_file: Path | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    history_event_limit: int = Field(10_000, ge=50, description="continue-as-new past this many events")

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


def ensure_dev_secret(data_dir: Path) -> str:
    """Create (once) and return the secret a dev installation signs tokens with."""
    data_dir.mkdir(parents=True, exist_ok=True)
    file = data_dir / SECRET_FILE
    if not file.exists():
        file.touch(mode=0o600)
        file.write_text(secrets.token_urlsafe(48))
    return file.read_text().strip()

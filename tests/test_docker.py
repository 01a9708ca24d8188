"""Docker does not run here, so the compose file and Dockerfile are checked against the code.

Every CRISISFLOW_* setting they pass exists in the settings model; every
address, port and database name agrees between the services; every command
exists; every path the Dockerfile copies exists.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from api.app import create_app
from cli import COMMANDS
from config.settings import Settings
from ops.health import Probes
from ops.server import ops_app
from tests.conftest import KEYRING_JSON

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
SETTING_NAMES = {f"CRISISFLOW_{name.upper()}" for name in Settings.model_fields}
OURS = [name for name, svc in SERVICES.items() if svc.get("image", "").startswith("crisisflow")]


def _plain(value: str) -> str:
    """Replace ${VAR...} interpolations with a placeholder."""
    return re.sub(r"\$\{[^}]+\}", "placeholder", str(value))


def _env(service: str) -> dict[str, str]:
    return {k: _plain(v) for k, v in SERVICES[service].get("environment", {}).items()}


def _container_ports(service: str) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1]) for p in SERVICES[service].get("ports", [])}


def test_our_services_are_setup_api_and_worker():
    assert sorted(OURS) == ["api", "setup", "worker"]
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("service", OURS)
def test_every_setting_passed_exists(service, monkeypatch):
    env = _env(service)
    unknown = {k for k in env if k.startswith("CRISISFLOW_")} - SETTING_NAMES
    assert not unknown, f"{service} passes settings the code does not read: {unknown}"
    for key in [k for k in os.environ if k.startswith("CRISISFLOW_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if value:
            monkeypatch.setenv(key, value)
    settings = Settings()  # every value parses, as the container reads it
    assert settings.env == "prod"


@pytest.mark.parametrize("service", OURS)
def test_every_service_gets_the_keyring_it_is_pointed_at(service):
    secret = SERVICES[service]["secrets"]
    assert secret == ["crisisflow_keyring"]
    assert _env(service)["CRISISFLOW_KEYRING"] == f"/run/secrets/{secret[0]}"
    assert COMPOSE["secrets"][secret[0]]["file"] == "./keyring.json"


def test_the_temporal_ui_decodes_through_the_api():
    ui = SERVICES["temporal-ui"]["environment"]
    api_port = int(_env("api")["CRISISFLOW_API_PORT"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec"
    origins = json.loads(_env("api")["CRISISFLOW_UI_ORIGINS"])
    host_port = int(SERVICES["temporal-ui"]["ports"][0].split(":")[1])
    assert origins == [f"http://localhost:{host_port}"] == [ui["TEMPORAL_CORS_ORIGINS"]]


@pytest.mark.parametrize("service", OURS)
def test_addresses_agree(service):
    env = _env(service)
    host, port = env["CRISISFLOW_TEMPORAL_ADDRESS"].split(":")
    assert host in SERVICES and int(port) in _container_ports(host)
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == env["CRISISFLOW_TEMPORAL_ADDRESS"]
    url = make_url(env["CRISISFLOW_DATABASE_URL"])
    db = SERVICES[url.host]["environment"]
    assert (url.port, url.username, url.database) == (5432, db["POSTGRES_USER"], db["POSTGRES_DB"])
    assert url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize("service", OURS)
def test_commands_exist(service):
    assert SERVICES[service]["command"][0] in COMMANDS


def test_api_port_and_healthcheck_match_the_app():
    env = _env("api")
    port = int(env["CRISISFLOW_API_PORT"])
    assert port in _container_ports("api")
    assert f"EXPOSE {port}" in DOCKERFILE
    assert create_app(Settings(secret="x" * 40, keyring=KEYRING_JSON)).openapi()["paths"]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_healthchecks_ask_the_operations_port_for_readiness(service):
    """Compose waits on readiness (database, Temporal, keyring, a polling worker), on the port the
    process serves it on."""
    ops_port = int(_env(service)["CRISISFLOW_METRICS_PORT"])
    assert _env(service)["CRISISFLOW_METRICS_HOST"] == "0.0.0.0"  # Prometheus scrapes from its container
    probe = " ".join(SERVICES[service]["healthcheck"]["test"])
    path = re.search(rf"http://127\.0\.0\.1:{ops_port}(/\S+?)['\"]", probe).group(1)
    probes = Probes(Settings(secret="x" * 40, keyring=KEYRING_JSON), engine=None, client=None)
    assert path == "/readyz" and path in {r.path for r in ops_app(probes, state=False, sdk_address=None).routes}


def test_dockerfile_copies_what_exists_and_sets_real_settings():
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    env_keys = set(re.findall(r"(CRISISFLOW_[A-Z_]+)=", DOCKERFILE))
    assert env_keys and env_keys <= SETTING_NAMES
    assert 'ENTRYPOINT ["crisisflow"]' in DOCKERFILE


def test_workers_and_api_share_the_documents_volume():
    assert SERVICES["api"]["volumes"] == SERVICES["worker"]["volumes"]
    assert _env("worker")["CRISISFLOW_DATA_DIR"] == "/data"
    assert any(v.endswith(":/data") for v in SERVICES["worker"]["volumes"])

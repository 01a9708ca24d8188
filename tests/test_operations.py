"""What the on-call engineer sees: metrics after a real lifecycle, readiness when the database goes
away, and the compose file, dashboard and alert rules checked against what the code exports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy
import yaml
from prometheus_client.parser import text_string_to_metric_families

from config.temporal import connect
from ops import metrics, service_options
from tests.conftest import PG_URL, SCHOOL, free_port, make_settings, running_stack
from tests.receivers import SwitchableWebhook, TraceCollector
from tests.support import STUDENT_NAME, eventually, open_body, open_case, step
from tests.test_faults import Deployment, _temporal_ready
from workflows.deadlines import TOP_LEVEL

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
PROMTOOL = shutil.which("promtool") or str(Path(ROOT / ".venv" / "bin" / "promtool"))


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scrape.items() if n == name and wanted <= ls)


def exported_names(text: str) -> set[str]:
    """Every metric name a scrape declares or has samples of (declared-but-empty ones included)."""
    names = set(re.findall(r"^# (?:HELP|TYPE) (\S+)", text, re.M))
    names |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    return names


async def scrape(address: str) -> str:
    async with httpx.AsyncClient(timeout=15) as http:
        r = await http.get(f"{address}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


@pytest.fixture(scope="module")
async def lifecycle(dev_env, tmp_path_factory):
    """One case through the whole consent path on a stack with the operations port on, its first
    webhook delivery failing for a while: the scrapes before, during and after."""
    tmp_path = tmp_path_factory.mktemp("ops")
    hook = SwitchableWebhook()
    port = free_port()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", hook.url, metrics_port=port,
                             temporal_address=dev_env.client.service_client.config.target_host)
    client = await connect(settings, **service_options(settings))  # the SDK's metrics too, as the services run
    address = f"http://127.0.0.1:{port}"
    try:
        async with running_stack(client, settings) as stack:
            before = await scrape(address)
            hook.failing.set()
            case_id = (await open_case(stack))["case_id"]
            failing = await eventually(lambda: _failing(address), timeout=30)
            hook.failing.clear()
            for action in ("assess", "guardian_notice", "intervene", "refer", "guardian_response"):
                await step(stack, case_id, action)
            during = await scrape(address)
            await step(stack, case_id, "close")
            await eventually(lambda: _settled(address), timeout=60)
            after = await scrape(address)
    finally:
        hook.close()
    return {"before": before, "failing": failing, "during": during, "after": after, "case_id": case_id}


async def _failing(address: str) -> str | None:
    text = await scrape(address)
    return text if value(samples(text), "crisisflow_outbox_deliveries", status="failing") >= 1 else None


async def _settled(address: str) -> bool:
    s = samples(await scrape(address))
    return (value(s, "crisisflow_documents_rendered_total") >= 3
            and value(s, "crisisflow_outbox_deliveries") == 0 and value(s, "crisisflow_cases_closed_total") >= 1)


async def test_metrics_move_with_a_lifecycle(lifecycle):
    before, failing, during, after = (samples(lifecycle[k]) for k in ("before", "failing", "during", "after"))

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # one case opened and one closed, in its school
    assert moved("crisisflow_cases_opened_total", school=SCHOOL) == 1
    assert moved("crisisflow_cases_closed_total", school=SCHOOL) == 1
    assert moved("crisisflow_case_actions_total", school=SCHOOL, action="closure_decision") == 1
    # open cases by state and risk: the one case while it ran, none once closed
    assert value(during, "crisisflow_open_cases", school=SCHOOL, state="referred", risk="high") == 1
    assert value(after, "crisisflow_open_cases") == 0
    # the webhook was down: its delivery showed as failing, with its age; then everything was sent
    assert value(failing, "crisisflow_outbox_deliveries", school=SCHOOL, channel="webhook", status="failing") >= 1
    assert value(failing, "crisisflow_outbox_oldest_failing_seconds", school=SCHOOL, channel="webhook") >= 0
    assert moved("crisisflow_deliveries_total", channel="webhook", outcome="failing") >= 1
    assert moved("crisisflow_deliveries_total", channel="webhook", outcome="sent") >= 7
    assert value(after, "crisisflow_outbox_deliveries") == 0
    # three documents typeset (notice, referral letter, closure summary), with their times
    assert moved("crisisflow_documents_rendered_total") == 3
    assert moved("crisisflow_document_render_seconds_count", kind="referral_letter") == 1
    # requests by route template and status; every identified call in the access log
    assert moved("crisisflow_http_requests_total", method="POST", route="/api/v1/cases", status="201") == 1
    assert moved("crisisflow_http_requests_total", method="POST", route="/api/v1/cases/{case_id}/closure") == 1
    assert moved("crisisflow_http_request_duration_seconds_count", route="/api/v1/cases") == 1
    assert moved("crisisflow_access_log_appends_total") >= 8
    # the read model caught up; the workers polled
    assert value(after, "crisisflow_projection_lag_seconds") == 0
    assert moved("crisisflow_projection_delay_seconds_count") >= 8
    assert value(after, "crisisflow_task_queue_pollers", kind="workflow") >= 1
    assert value(after, "crisisflow_task_queue_pollers", kind="activity") >= 1
    # the SDK's own metrics, on the same scrape
    assert moved("temporal_workflow_completed_total") >= 1
    assert value(after, "temporal_sticky_cache_size") >= 0 and "temporal_sticky_cache_size" in exported_names(
        lifecycle["after"])
    assert moved("temporal_activity_execution_failed_total") >= 1  # the failing delivery


async def test_no_label_is_a_case_a_student_or_a_name(lifecycle):
    body = open_body()
    forbidden = {lifecycle["case_id"], f"case-{lifecycle['case_id']}", body["student"]["ref"], STUDENT_NAME}
    for key in ("before", "failing", "during", "after"):
        for family in text_string_to_metric_families(lifecycle[key]):
            for sample in family.samples:
                for label, text in sample.labels.items():
                    assert not any(f in text for f in forbidden), (sample.name, label, text)
                    assert not re.fullmatch(r"[0-9a-f]{16,}", text), (sample.name, label, text)


# ------------------------------------------------------------------ readiness


class Proxy:
    """A TCP forwarder on loopback in front of PostgreSQL, on a thread and event loop of its own
    (the stack's database calls block theirs): stopping it takes the database away."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = None
        self.links: set[asyncio.StreamWriter] = set()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        async def start():
            self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)
        self._call(start())

    def stop(self) -> None:
        async def stop():
            self.server.close()
            for writer in list(self.links):
                writer.transport.abort()
            await self.server.wait_closed()
        self._call(stop())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _link(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, up_writer}

        async def pump(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.links -= {writer, up_writer}


async def test_readiness_follows_the_database(dev_env, webhook, tmp_path):
    schema = f"cf_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = sqlalchemy.engine.make_url(PG_URL)
    proxy = Proxy(free_port(), (url.host, url.port or 5432))
    proxy.start()
    port = free_port()
    db = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(tmp_path, f"{db}?application_name={schema}&options=-csearch_path%3D{schema}",
                             webhook.url, metrics_port=port)
    root = None
    try:
        async with running_stack(dev_env.client, settings) as stack:
            root = stack.base_url.removesuffix("/api/v1")
            async with httpx.AsyncClient(timeout=15) as http:
                async def ready() -> bool:
                    return (await http.get(f"{root}/readyz")).status_code == 200

                await eventually(ready, timeout=30)  # once the worker's first polls are seen
                # the metrics are on the operations port only, never on the public API's
                assert (await http.get(f"{root}/metrics")).status_code == 404
                assert (await http.get(f"{stack.base_url}/metrics")).status_code in (401, 404)
                answer = (await http.get(f"{root}/readyz")).json()
                assert answer == {"status": "ready", "checks": dict.fromkeys(
                    ["database", "temporal", "keyring", "worker"], "ok")}

                proxy.stop()
                public = await http.get(f"{root}/readyz")
                assert public.status_code == 503
                assert public.json() == {"status": "not ready", "checks": {
                    "database": "failing", "temporal": "ok", "keyring": "ok", "worker": "ok"}}
                inside = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert inside.status_code == 503 and inside.json()["checks"]["database"].startswith("OperationalError")
                for live in (f"{root}/livez", f"http://127.0.0.1:{port}/livez"):
                    assert (await http.get(live)).status_code == 200

                proxy.start()
                await eventually(ready, timeout=30)
    finally:
        with contextlib.suppress(Exception):
            proxy.stop()
        proxy.close()
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                         " WHERE application_name = :s AND pid <> pg_backend_pid()"), {"s": schema})
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ------------------------------------------------------------------ the services as processes


@dataclass
class OpsDeployment(Deployment):
    """``crisisflow worker`` and ``crisisflow api`` as separate processes, each on an operations port."""

    ports: dict[str, int] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), "CRISISFLOW_METRICS_PORT": str(self.ports[self._starting])}

    def start(self, name: str) -> None:
        self._starting = name
        super().start(name)


async def test_the_worker_and_the_api_each_serve_their_operations_port(tmp_path):
    d = OpsDeployment(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'data' / 'cf.db'}",
                      ports={"temporal": 0, "worker": free_port(), "api": free_port()})
    d.data_dir.mkdir()
    try:
        d.start("temporal")
        await _temporal_ready(d)
        d.start("worker")
        d.start("api")
        await d.wait_ready()
        worker, api = (f"http://127.0.0.1:{d.ports[n]}" for n in ("worker", "api"))
        async with httpx.AsyncClient(timeout=15) as http:
            async def ready(address: str) -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get(f"{address}/readyz")).status_code == 200
                return False

            # the worker is ready once Temporal has seen it poll; the API once it sees a worker
            await eventually(lambda: ready(worker), timeout=60)
            await eventually(lambda: ready(api), timeout=60)
            assert (await http.get(f"{worker}/livez")).json() == {"status": "live"}
        worker_names, api_names = exported_names(await scrape(worker)), exported_names(await scrape(api))
        # each process has the SDK's metrics; the read model's gauges come from the API alone
        assert "temporal_num_pollers" in worker_names and "temporal_request_total" in api_names
        assert "crisisflow_projection_lag_seconds" in worker_names
        assert "crisisflow_open_cases" in api_names and "crisisflow_open_cases" not in worker_names
        assert value(samples(await scrape(api)), "crisisflow_task_queue_pollers", kind="workflow") >= 1
    finally:
        d.stop_all()


# ------------------------------------------------------------------ docker/


def _rules() -> list[dict]:
    data = yaml.safe_load((DOCKER / "prometheus" / "alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (ours and the SDK's: their prefixes)."""
    return set(re.findall(r"\b((?:crisisflow|temporal)_[a-z0-9_]+)", expr))


def _dashboard() -> dict:
    return json.loads((DOCKER / "grafana" / "dashboards" / "crisisflow.json").read_text())


def _panel_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]


def test_compose_references_only_what_exists():
    services, volumes = COMPOSE["services"], set(COMPOSE.get("volumes", {}))
    assert {"prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on {dependency}, which is not a service"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).resolve().exists(), f"{name} mounts {source}, which is not in the repo"
            else:
                assert source in volumes, f"{name} uses the volume {source}, which is not declared"
    for name in ("api", "worker"):  # probed on their readiness, on the operations port
        check = " ".join(services[name]["healthcheck"]["test"])
        port = services[name]["environment"].get("CRISISFLOW_METRICS_PORT") or COMPOSE["x-crisisflow-env"][
            "CRISISFLOW_METRICS_PORT"]
        assert f"127.0.0.1:{port}/readyz" in check


def test_prometheus_scrapes_our_services_and_loads_the_rules():
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    mounts = dict(m.split(":")[:2][::-1] for m in COMPOSE["services"]["prometheus"]["volumes"] if m.startswith("."))
    for rule_file in config["rule_files"]:
        assert rule_file in mounts and (DOCKER / mounts[rule_file]).exists()
    port = COMPOSE["x-crisisflow-env"]["CRISISFLOW_METRICS_PORT"]
    targets = {t for job in config["scrape_configs"] for sc in job.get("dns_sd_configs", []) for t in sc["names"]}
    targets |= {t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    for service in ("api", "worker"):
        assert any(t.startswith(service) for t in targets), f"{service} is not scraped"
    for job in config["scrape_configs"]:
        for sc in job.get("dns_sd_configs", []):
            assert sc["port"] == int(port) and all(n in COMPOSE["services"] for n in sc["names"])


def test_grafana_is_provisioned_with_the_dashboard():
    grafana = COMPOSE["services"]["grafana"]
    mounts = dict(m.split(":")[:2][::-1] for m in grafana["volumes"] if m.startswith("."))
    sources = yaml.safe_load((DOCKER / mounts["/etc/grafana/provisioning/datasources"] / "prometheus.yml").read_text())
    uid = sources["datasources"][0]["uid"]
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((DOCKER / mounts["/etc/grafana/provisioning/dashboards"] / "crisisflow.yml").read_text())
    folder = providers["providers"][0]["options"]["path"]
    assert folder in mounts and (DOCKER / mounts[folder] / "crisisflow.json").exists()
    dashboard = _dashboard()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]


async def test_every_alert_and_panel_reads_a_metric_the_code_exports(lifecycle):
    exported = exported_names(lifecycle["after"]) | {"up"}  # ``up``: Prometheus's own, one per target
    alerts = {rule["alert"]: rule for rule in _rules()}
    assert {"DeliveryFailing", "ProjectionLagging", "ObligationsAtTopOfLadder", "NoWorkerPolling"} <= set(alerts)
    assert f'level="{TOP_LEVEL}"' in alerts["ObligationsAtTopOfLadder"]["expr"]  # the ladder's top, as the code has it
    for name, rule in alerts.items():
        used = _metric_names(rule["expr"]) | ({"up"} if re.search(r"\bup\{", rule["expr"]) else set())
        assert used, f"alert {name} reads no metric"
        assert used <= exported, f"alert {name} reads {used - exported}, which nothing exports"
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#")
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f'<a id="{anchor}"></a>' in (ROOT / "docs" / "operations.md").read_text(), name
    panels = _panel_exprs(_dashboard())
    assert len(panels) >= 8
    for expr in panels:
        used = _metric_names(expr)
        assert used and used <= exported, f"panel reads {used - exported}"
    # the figures the issue asks the dashboard for are on it
    on_board = set().union(*(_metric_names(e) for e in panels))
    for figure in ("crisisflow_http_requests_total", "crisisflow_open_cases", "crisisflow_overdue_obligations",
                   "crisisflow_outbox_deliveries", "crisisflow_documents_rendered_total",
                   "crisisflow_access_log_appends_total", "crisisflow_projection_lag_seconds"):
        assert figure in on_board, figure


def test_promtool_accepts_the_rules_their_tests_and_the_config(tmp_path):
    assert Path(PROMTOOL).exists(), "promtool is missing: `make test` installs it (Debian's prometheus package)"
    rules = subprocess.run([PROMTOOL, "check", "rules", str(DOCKER / "prometheus" / "alerts.yml")],
                           capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    tests = subprocess.run([PROMTOOL, "test", "rules", str(DOCKER / "prometheus" / "alerts_test.yml")],
                           capture_output=True, text=True, cwd=DOCKER / "prometheus")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # the config as the container sees it: its rule file where compose mounts it
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(DOCKER / "prometheus" / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_metrics_module_declares_only_our_prefix():
    declared = {m.name for m in metrics.REGISTRY.collect()}
    assert declared and all(name.startswith(metrics.PREFIX) for name in declared), declared


# ------------------------------------------------------------------ tracing


async def test_a_staff_action_is_one_trace_from_request_to_activities(dev_env, tmp_path):
    from temporalio.client import Client

    from config.temporal import data_converter
    from ops.tracing import Tracing
    from tests.conftest import KEYRING

    collector = TraceCollector()
    tracing = Tracing(collector.endpoint, "crisisflow-test")
    client = await Client.connect(dev_env.client.service_client.config.target_host, namespace=dev_env.client.namespace,
                                  data_converter=data_converter(KEYRING), interceptors=[tracing.interceptor()])
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None)
    body = open_body()
    try:
        async with running_stack(client, settings, tracing=tracing) as stack:
            case_id = (await open_case(stack, body))["case_id"]
            await step(stack, case_id, "assess")
        tracing.flush()
        spans = collector.spans
        request = next(s for s in spans if s.name == "POST /api/v1/cases/{case_id}/assessment")
        # the request's trace holds the client's update ...
        update = next(s for s in spans if s.trace_id == request.trace_id and s.name.startswith("StartWorkflowUpdate:"))
        assert update.parent_span_id == request.span_id
        # ... which the workflow's handling of it links to (Temporal's interceptor keeps a case's
        # workflow spans in the case's own trace: a case lives for months), and the activities the
        # workflow ran are in that trace
        handled = next(s for s in spans if s.name == update.name.replace("StartWorkflowUpdate:", "HandleUpdate:")
                       and any(link.span_id == update.span_id for link in s.links))
        in_case = {s.name for s in spans if s.trace_id == handled.trace_id}
        assert {"RunActivity:project_step", "StartActivity:project_step", "RunWorkflow:CaseWorkflow"} <= in_case
        attributes = {(a.key, a.value.string_value or str(a.value.int_value)) for a in request.attributes}
        assert ("http.route", "/api/v1/cases/{case_id}/assessment") in attributes
        assert ("http.response.status_code", "200") in attributes
        # no personal data anywhere in any span: not the name, the ref, the narrative
        personal = [body["student"]["name"], body["student"]["ref"], body["summary"][:6]]
        for span in spans:
            for a in span.attributes:
                text = a.value.string_value
                assert not any(p in text for p in personal), (span.name, a.key)
            assert not any(p in span.name for p in personal)
    finally:
        tracing.shutdown()
        collector.close()

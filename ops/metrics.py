"""Our Prometheus metrics, and the Temporal SDK's beside them on one scrape.

Two kinds live here:

- **Counters and histograms** the code moves as things happen (a request
  answered, a case opened or closed, a delivery attempted, a document typeset,
  an access-log entry appended, a step projected). Each process counts its own;
  Prometheus sums them.
- **Gauges read at scrape time** from the read model and the Temporal server
  (open cases, overdue obligations, the outbox, pollers on the task queue):
  ``StateGauges``, exported by the processes given it (the API's and
  ``crisisflow dev``'s), so a district with several workers does not count the
  same cases several times.

Labels carry school ids and vocabulary (states, risk levels, channels, routes as
their templates), never a case id, a student ref or a name:
``tests/test_operations.py`` reads every label value of a real scrape.

The SDK's own metrics (workflow task latency, sticky cache, activity failures,
pollers) come from Temporal's Rust core, which serves them itself:
``sdk_runtime`` binds that exporter on a loopback port, and the operations port
(``ops/server.py``) appends what it serves to ours, so one scrape has both.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from db import dashboard
from models.domain import Action, CaseState

#: Every metric of ours (and the process collector's); a registry of our own, so importing this
#: module twice in one process (tests) or a library's metrics never mix in.
REGISTRY = CollectorRegistry(auto_describe=True)
PREFIX = "crisisflow_"

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "crisisflow_http_requests", "Requests answered, by route template and status", ["method", "route", "status"],
    registry=REGISTRY)
HTTP_LATENCY = Histogram(
    "crisisflow_http_request_duration_seconds", "Time to answer a request, by route template", ["method", "route"],
    buckets=_LATENCY, registry=REGISTRY)
CASES_OPENED = Counter("crisisflow_cases_opened", "Cases opened (first written to the read model)", ["school"],
                       registry=REGISTRY)
CASES_CLOSED = Counter("crisisflow_cases_closed", "Cases closed", ["school"], registry=REGISTRY)
CASE_ACTIONS = Counter("crisisflow_case_actions", "Case events written to the read model, by action",
                       ["school", "action"], registry=REGISTRY)
DELIVERIES = Counter("crisisflow_deliveries", "Delivery attempts, by channel and outcome (sent, failing, refused)",
                     ["channel", "outcome"], registry=REGISTRY)
DOCUMENTS = Counter("crisisflow_documents_rendered", "Documents typeset and sealed (every form), by kind", ["kind"],
                    registry=REGISTRY)
DOCUMENT_SECONDS = Histogram("crisisflow_document_render_seconds", "Time to typeset and seal a document",
                             ["kind"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=REGISTRY)
ACCESS_APPENDS = Counter("crisisflow_access_log_appends", "Entries appended to the hash-chained access log",
                         registry=REGISTRY)
PROJECTION_DELAY = Histogram(
    "crisisflow_projection_delay_seconds", "From a workflow step to its commit in the read model",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=REGISTRY)
BUILD = Info("crisisflow_build", "The running code", registry=REGISTRY)


# ------------------------------------------------------------------ recording


def request_answered(method: str, route: str | None, status: int, seconds: float) -> None:
    """``route`` is the matched route's template (``/api/v1/cases/{case_id}``), never the path."""
    template = route or "unmatched"
    HTTP_REQUESTS.labels(method, template, str(status)).inc()
    HTTP_LATENCY.labels(method, template).observe(seconds)


def events_projected(school_id: str, events: Iterable[dict]) -> None:
    """Events newly written to the read model (each once, whatever retried)."""
    for event in events:
        action = str(event["action"])
        CASE_ACTIONS.labels(school_id, action).inc()
        if action == Action.open.value:
            CASES_OPENED.labels(school_id).inc()
        if str(event["to_state"]) == CaseState.closed.value and event.get("from_state") != CaseState.closed.value:
            CASES_CLOSED.labels(school_id).inc()


def delivery_attempted(channel: str, outcome: str) -> None:
    DELIVERIES.labels(channel, outcome).inc()


def document_rendered(kind: str, seconds: float) -> None:
    DOCUMENTS.labels(kind).inc()
    DOCUMENT_SECONDS.labels(kind).observe(seconds)


def access_appended() -> None:
    ACCESS_APPENDS.inc()


class ProjectionLag(Collector):
    """How far the read model is behind the workflows this process projects.

    A projection attempt registers the oldest step it carries; its commit clears it (and observes
    the delay). What stays registered is a step the read model does not have yet: the gauge is the
    age of the oldest, 0 when caught up. An entry no attempt has touched for ``forget`` (the case
    ended, or another worker took the retry) is dropped.
    """

    def __init__(self, forget: timedelta = timedelta(minutes=10)) -> None:
        self._pending: dict[str, tuple[datetime, float]] = {}
        self._lock = threading.Lock()
        self._forget = forget.total_seconds()

    def attempt(self, case_id: str, oldest_step: datetime) -> None:
        with self._lock:
            first = self._pending.get(case_id, (oldest_step, 0.0))[0]
            self._pending[case_id] = (min(first, oldest_step), time.monotonic())

    def committed(self, case_id: str, oldest_step: datetime) -> None:
        with self._lock:
            first = self._pending.pop(case_id, (oldest_step, 0.0))[0]
        PROJECTION_DELAY.observe(max((datetime.now(UTC) - min(first, oldest_step)).total_seconds(), 0.0))

    def seconds(self) -> float:
        now, monotonic = datetime.now(UTC), time.monotonic()
        with self._lock:
            for case_id in [c for c, (_, seen) in self._pending.items() if monotonic - seen > self._forget]:
                del self._pending[case_id]
            oldest = min((first for first, _ in self._pending.values()), default=None)
        return 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)

    def collect(self):
        gauge = GaugeMetricFamily("crisisflow_projection_lag_seconds",
                                  "Age of the oldest workflow step not yet in the read model (0: caught up)")
        gauge.add_metric([], self.seconds())
        yield gauge


PROJECTION_LAG = ProjectionLag()
REGISTRY.register(PROJECTION_LAG)


# ------------------------------------------------------------------ read at scrape time

class StateGauges:
    """The read model's and the task queue's state, read when Prometheus scrapes (the queries are
    ``db.dashboard.district_state``; ``sent`` rows, which grow for ever, are the
    ``crisisflow_deliveries_total`` counter instead)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self, pollers: dict[str, int] | None) -> list[GaugeMetricFamily]:
        now = datetime.now(UTC)
        open_cases = GaugeMetricFamily("crisisflow_open_cases", "Cases not closed, by state and risk level",
                                       labels=["school", "state", "risk"])
        overdue = GaugeMetricFamily("crisisflow_overdue_obligations",
                                    "Obligations past their deadline, by warning level (0: not yet escalated)",
                                    labels=["school", "level"])
        outbox = GaugeMetricFamily("crisisflow_outbox_deliveries", "Outbox rows not sent, by channel and status",
                                   labels=["school", "channel", "status"])
        oldest = GaugeMetricFamily("crisisflow_outbox_oldest_failing_seconds",
                                   "Age of the oldest delivery still failing, by channel", labels=["school", "channel"])
        state = dashboard.district_state(self.engine, now)
        for school, case_state, risk, n in state.open_cases:
            open_cases.add_metric([school, case_state, risk or "unassessed"], n)
        for school, level, n in state.overdue:
            overdue.add_metric([school, str(level)], n)
        for school, channel, status, n, first in state.unsent:
            outbox.add_metric([school, channel, status], n)
            if status == "failing":
                oldest.add_metric([school, channel], max((now - first).total_seconds(), 0.0))
        families = [open_cases, overdue, outbox, oldest]
        if pollers is not None:
            polling = GaugeMetricFamily("crisisflow_task_queue_pollers",
                                        "Workers the Temporal server saw polling the case task queue lately",
                                        labels=["kind"])
            for kind, n in pollers.items():
                polling.add_metric([kind], n)
            families.append(polling)
        return families


def exposition(families: Iterable) -> bytes:
    """Scrape-time families in the text format."""
    class _Once(Collector):
        def collect(self):
            yield from families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Once())
    return generate_latest(registry)


# ------------------------------------------------------------------ the SDK's


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@lru_cache(maxsize=1)
def sdk_runtime() -> tuple[Runtime, str]:
    """One Temporal runtime per process, its Prometheus exporter on a loopback port of its own
    (read through ``render``); returns it and the exporter's address."""
    address = f"127.0.0.1:{free_loopback_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True)))
    return runtime, address


def sdk_address_of(client) -> str | None:
    """The exporter's address when ``client`` runs on ``sdk_runtime``'s runtime."""
    if sdk_runtime.cache_info().currsize == 0:
        return None
    runtime, address = sdk_runtime()
    return address if client.service_client.config.runtime is runtime else None


async def sdk_text(address: str | None) -> bytes:
    """What the SDK's exporter serves ('' when this process has none, or it does not answer)."""
    if address is None:
        return b""
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            response = await http.get(f"http://{address}/metrics")
        return response.content if response.status_code == 200 else b""
    except httpx.HTTPError:
        return b""


def ours() -> bytes:
    return generate_latest(REGISTRY)

"""Operations: what an on-call engineer watches (metrics, health, traces).

- ``metrics``: our Prometheus metrics, and the Temporal SDK's on the same scrape;
- ``health``: liveness and readiness checks;
- ``server``: the operations port (``/metrics``, ``/livez``, ``/readyz``);
- ``tracing``: OpenTelemetry spans, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

docs/operations.md says what each alert means and what to do about it.
"""

from __future__ import annotations

from config.settings import Settings
from ops import metrics, tracing


def service_options(settings: Settings) -> dict:
    """``Client.connect`` options of a long-running process (API, worker, dev): the SDK's metrics
    when the operations port is on, traces when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. The worker
    built from that client inherits both."""
    options: dict = {}
    if settings.metrics_port:
        options["runtime"] = metrics.sdk_runtime()[0]
    if (traced := tracing.from_env()) is not None:
        options["interceptors"] = [traced.interceptor()]
    return options

"""OpenTelemetry tracing, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

A staff action is followed from the API request (a span named by the route's template) through
the client's update (its child) into the workflow, whose handling of the update is linked to it,
and the activities that handling runs (``temporalio.contrib.opentelemetry.TracingInterceptor``, on
the client: the worker built from that client carries it too). Temporal's interceptor keeps a
workflow's spans in the trace of the request that started it, so a case's whole life is one trace
and each later action a link into it. Its newer ``OpenTelemetryPlugin`` shows workflow spans only
once the workflow completes (a case runs for months) and is marked experimental: not used.
Spans are exported over OTLP/HTTP to the endpoint (``/v1/traces``), in batches, off the request path.

Span attributes are the route template, the method and the status, and Temporal's ids (workflow
ids hold the case id, which is no personal data): never a path, a query, a body or a header.
"""

from __future__ import annotations

import os
from functools import lru_cache

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"


class Tracing:
    """A tracer provider of crisisflow's own (not the process-global one) and what uses it."""

    def __init__(self, endpoint: str, service: str = "crisisflow") -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
        self.tracer = self.provider.get_tracer("crisisflow")

    def interceptor(self) -> TracingInterceptor:
        return TracingInterceptor(self.tracer)

    def request_span(self, method: str, headers) -> trace.Span:
        """A server span for a request, its parent taken from a ``traceparent`` header if sent;
        named and given its route once the route is known (``finish``)."""
        return self.tracer.start_span(method, context=propagate.extract(dict(headers)), kind=trace.SpanKind.SERVER,
                                      attributes={"http.request.method": method})

    @staticmethod
    def finish(span: trace.Span, method: str, route: str | None, status: int) -> None:
        template = route or "unmatched"
        span.update_name(f"{method} {template}")
        span.set_attribute("http.route", template)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.StatusCode.ERROR)
        span.end()

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()


@lru_cache(maxsize=1)
def from_env() -> Tracing | None:
    """The process's tracing, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` says where spans go."""
    endpoint = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if not endpoint:
        return None
    return Tracing(endpoint, os.environ.get("OTEL_SERVICE_NAME", "crisisflow"))

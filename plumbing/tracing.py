"""Distributed tracing with OpenTelemetry, for both services: W3C `traceparent` / `tracestate`
from TrueEngage through the facade, over gRPC metadata, into the decision service and its lookups.

Off unless the standard variables turn it on: `OTEL_TRACES_EXPORTER` (`otlp`, `console`, or a
comma-separated list; `none` is off) or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), unless `OTEL_SDK_DISABLED=true`. The OTLP protocol is
`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (the
specification's default) or `grpc`. The SDK itself reads the rest: `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` (+ `_ARG`), the endpoint, headers and timeouts,
`OTEL_BSP_*` for the batch processor.

Each service holds its own `Tracing` (its own provider and resource), not the process-global
tracer provider: two services in one test process stay two services. Off, a `Tracing` is a flag
that every call site reads before it does anything, so tracing costs the request path one
attribute read."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is imported when tracing is turned on, not by every command
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

PROTOCOLS = ("http/protobuf", "grpc")
EXPORTERS = ("otlp", "console", "none")


class TracingSettingsError(ValueError):
    """An OTEL_* variable with a value this service cannot use; the message names it."""


class Tracing:
    """One service's tracer, or nothing (`Tracing.off()`)."""

    def __init__(self, provider: TracerProvider | None, scope: str = "callback-router") -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer: Any = None
        if provider is not None:
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            self._tracer = provider.get_tracer(scope)
            self._propagator = TraceContextTextMapPropagator()  # W3C, nothing else
            log_trace_ids()

    @classmethod
    def off(cls) -> Tracing:
        return cls(None)

    @classmethod
    def with_processors(
        cls, service_name: str, processors: Iterable[SpanProcessor], scope: str = "callback-router"
    ) -> Tracing:
        """A tracer whose spans go to `processors` (tests hand in an in-memory exporter's)."""
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        for processor in processors:
            provider.add_span_processor(processor)
        return cls(provider, scope)

    @classmethod
    def from_environment(
        cls, service_name: str, environ: Mapping[str, str] = os.environ
    ) -> Tracing:
        """As the OTEL_* variables say (module docstring); `service_name` unless
        `OTEL_SERVICE_NAME` names the service. Raises TracingSettingsError."""
        exporters = exporters_from(environ)
        if not exporters:
            return cls.off()
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        return cls.with_processors(
            environ.get("OTEL_SERVICE_NAME") or service_name,
            [BatchSpanProcessor(exporter) for exporter in exporters],
        )

    @contextlib.contextmanager
    def server_span(self, name: str, carrier: Any) -> Iterator[None]:
        """A span for a call this service serves, continuing the trace the caller sent in
        `carrier` (HTTP headers, or gRPC metadata as (key, value) pairs), and current inside."""
        assert self._tracer is not None, "only when enabled"
        from opentelemetry.trace import SpanKind

        parent = self._propagator.extract(_as_mapping(carrier))
        with self._tracer.start_as_current_span(name, parent, kind=SpanKind.SERVER):
            yield

    @contextlib.contextmanager
    def span(self, name: str, client: bool = False) -> Iterator[None]:
        """A child of the current span (`client`: a call to another service); a no-op when
        tracing is off."""
        if self._tracer is None:
            yield
            return
        from opentelemetry.trace import SpanKind

        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        with self._tracer.start_as_current_span(name, kind=kind):
            yield

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The current span's context as `traceparent` (and `tracestate`) metadata pairs."""
        if self._tracer is None:
            return ()
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return tuple(carrier.items())

    def mark_failed(self, description: str) -> None:
        """Marks the current span failed (a fail-open answer, an aborted call)."""
        if self._tracer is not None:
            from opentelemetry.trace import Status, StatusCode, get_current_span

            get_current_span().set_status(Status(StatusCode.ERROR, description))

    def shutdown(self) -> None:
        """Exports what is left (the batch processor's queue) and stops."""
        if self.provider is not None:
            self.provider.shutdown()


_traced_process = False  # set once a tracer exists in this process (log_trace_ids)


def log_trace_ids() -> None:
    """From now on, every log line of this process carries the current trace's id."""
    global _traced_process
    _traced_process = True


def logged_trace_id() -> str | None:
    """What a log line says of its trace: the id once tracing is on in this process, else
    None (without asking OpenTelemetry anything)."""
    return current_trace_id() if _traced_process else None


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, for log lines; None outside a trace."""
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def exporters_from(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The span exporters the variables ask for; [] when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        named = "otlp" if endpoint else "none"
    names = [name.strip() for name in named.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise TracingSettingsError(
            f"OTEL_TRACES_EXPORTER: {unknown[0]!r} is not one of {', '.join(EXPORTERS)}"
        )
    exporters: list[SpanExporter] = []
    for name in dict.fromkeys(names):
        if name == "otlp":
            exporters.append(_otlp_exporter(environ))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
    return exporters


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    variable = (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        if environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        else "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = environ.get(variable, "").strip().lower() or "http/protobuf"
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    raise TracingSettingsError(f"{variable}: {protocol!r} is not one of {', '.join(PROTOCOLS)}")


def _as_mapping(carrier: Any) -> Mapping[str, str]:
    if isinstance(carrier, Mapping) or hasattr(carrier, "get"):
        return {
            key: value
            for key in ("traceparent", "tracestate")
            if (value := carrier.get(key)) is not None
        }
    # gRPC metadata: (key, value) pairs, keys lower case.
    return {key: str(value) for key, value in carrier or () if key in ("traceparent", "tracestate")}

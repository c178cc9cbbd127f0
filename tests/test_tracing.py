"""Tracing with OpenTelemetry: one webhook is one trace, with spans from the facade and from the
decision service (its directory lookup included), continuing the `traceparent` TrueEngage sent;
off unless the standard OTEL_* variables turn it on."""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from plumbing.logs import AccessLog
from plumbing.tracing import Tracing, TracingSettingsError, exporters_from
from tests.conftest import (
    EXAMPLE_RULES,
    SEED,
    Webhook,
    contacts_cli,
    facade_settings,
    refused_start,
    start_decision,
    start_facade,
)
from tests.in_process import InProcessDecision, InProcessFacade

EXAMPLES = EXAMPLE_RULES.parent
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
VIP = {**SEED, "phoneNumber": "07400 654321", "countryCode": "+44"}  # in examples/contacts.csv


@pytest.fixture
def directory(tmp_path):
    db = tmp_path / "contacts.sqlite3"
    imported = contacts_cli("import", "--contacts", str(db), str(EXAMPLES / "contacts.csv"))
    assert imported.returncode == 0, imported.stderr
    return db


def test_one_webhook_is_one_trace_with_spans_from_both_services(services, directory):
    exported = InMemorySpanExporter()
    decision_tracing = Tracing.with_processors(
        "callback-router-decision", [SimpleSpanProcessor(exported)]
    )
    facade_tracing = Tracing.with_processors(
        "callback-router-facade", [SimpleSpanProcessor(exported)]
    )
    lines = io.StringIO()
    access_log = AccessLog("facade", lines, trace_ids=True)
    with InProcessDecision(
        services, EXAMPLE_RULES, contacts=str(directory), tracing=decision_tracing
    ) as decision:
        facade = InProcessFacade(
            services,
            facade_settings(f"127.0.0.1:{decision.port}", deadline_ms=5000),
            access_log,
            tracing=facade_tracing,
        )
        try:
            reply = Webhook(facade.port).post(VIP, traceparent=TRACEPARENT)
            # The answer is written inside the facade's span, which ends in the same turn of
            # the services' loop: one more turn, and every span has ended.
            services.run(asyncio.sleep(0))
        finally:
            facade.stop()
    assert reply.status == 200
    assert reply.body["callbackUserName"] == "Ada Lovelace"  # the lookup happened

    spans = {(span.name, span.kind): span for span in exported.get_finished_spans()}
    assert set(spans) == {
        ("POST /trueengage/callback", SpanKind.SERVER),
        ("decision.v1.DecisionService/Decide", SpanKind.CLIENT),
        ("decision.v1.DecisionService/Decide", SpanKind.SERVER),
        ("contact lookup", SpanKind.INTERNAL),
    }
    assert {format(span.context.trace_id, "032x") for span in spans.values()} == {TRACE_ID}
    webhook = spans["POST /trueengage/callback", SpanKind.SERVER]
    asks = spans["decision.v1.DecisionService/Decide", SpanKind.CLIENT]
    decides = spans["decision.v1.DecisionService/Decide", SpanKind.SERVER]
    lookup = spans["contact lookup", SpanKind.INTERNAL]
    assert format(webhook.parent.span_id, "016x") == PARENT_ID  # TrueEngage's span
    assert asks.parent.span_id == webhook.context.span_id
    assert decides.parent.span_id == asks.context.span_id  # over gRPC metadata
    assert lookup.parent.span_id == decides.context.span_id
    service_of = {span.name: span.resource.attributes["service.name"] for span in spans.values()}
    assert service_of["POST /trueengage/callback"] == "callback-router-facade"
    assert service_of["contact lookup"] == "callback-router-decision"

    access = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [line["trace_id"] for line in access] == [TRACE_ID]


def test_a_webhook_without_traceparent_starts_a_trace(services, decision_in_process):
    exported = InMemorySpanExporter()
    tracing = Tracing.with_processors("callback-router-facade", [SimpleSpanProcessor(exported)])
    facade = InProcessFacade(
        services, facade_settings(f"127.0.0.1:{decision_in_process.port}"), tracing=tracing
    )
    try:
        assert Webhook(facade.port).post(SEED).status == 200
        services.run(asyncio.sleep(0))
    finally:
        facade.stop()
    (webhook,) = [s for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert webhook.parent is None
    assert webhook.context.trace_id != 0


def test_off_no_span_and_no_trace_id_in_the_access_log(services, decision_in_process):
    lines = io.StringIO()
    facade = InProcessFacade(
        services,
        facade_settings(f"127.0.0.1:{decision_in_process.port}"),
        AccessLog("facade", lines),
    )
    try:
        assert Webhook(facade.port).post(SEED, traceparent=TRACEPARENT).status == 200
    finally:
        facade.stop()
    (line,) = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert "trace_id" not in line
    assert not facade.server.tracing.enabled


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, [HttpExporter]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, [HttpExporter]),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, [GrpcExporter]),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp,console",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",  # the signal's wins
            },
            [HttpExporter, ConsoleSpanExporter],
        ),
    ],
)
def test_the_standard_variables_choose_the_exporters(environ, exporters):
    assert [type(exporter) for exporter in exporters_from(environ)] == exporters


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER: 'jaeger' is not one of"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' is not one of http/protobuf, grpc",
        ),
    ],
)
def test_a_value_it_cannot_use_is_named(environ, message):
    with pytest.raises(TracingSettingsError, match=message):
        exporters_from(environ)


@pytest.mark.parametrize("module", ["facade", "decision"])
def test_a_bad_variable_stops_the_start_in_one_line(module):
    result = refused_start(module, {"OTEL_TRACES_EXPORTER": "zipkin"})
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"{module}: OTEL_TRACES_EXPORTER: 'zipkin' is not one of otlp, console, none"
    )


class GrpcCollector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC receiver on a loopback port: what an OpenTelemetry Collector would get."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request, context):
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class HttpCollector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver (POST /v1/traces, protobuf body)."""

    received: list[tuple[str, trace_service_pb2.ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(
            (self.path, trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collectors() -> Iterator[tuple[GrpcCollector, int, type[HttpCollector], int]]:
    grpc_collector = GrpcCollector()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(grpc_collector, server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    HttpCollector.received = []
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpCollector)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield grpc_collector, grpc_port, HttpCollector, http_server.server_address[1]
    http_server.shutdown()
    http_server.server_close()
    server.stop(None)


def _spans(requests) -> list[tuple[str, str, str]]:
    """(service name, span name, trace id) of every span in OTLP export requests."""
    found = []
    for request in requests:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append((attributes["service.name"], span.name, span.trace_id.hex()))
    return found


def test_both_processes_export_one_trace_over_otlp_grpc_and_http(collectors, tmp_path):
    grpc_collector, grpc_port, http_collector, http_port = collectors
    decision_log = tmp_path / "decision.err"
    facade_log = tmp_path / "facade.err"
    with decision_log.open("w") as decision_err, facade_log.open("w") as facade_err:
        decision = start_decision(
            EXAMPLE_RULES,
            stderr=decision_err,
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
        )
        try:
            facade = start_facade(
                f"127.0.0.1:{decision.port}",
                5000,
                stderr=facade_err,
                env={
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_SERVICE_NAME": "te-webhook",
                },
            )
            try:
                reply = Webhook(facade.port).post(SEED, traceparent=TRACEPARENT)
            finally:
                assert facade.stop() == 0  # SIGTERM: what is batched is exported on the way out
        finally:
            assert decision.stop() == 0
    assert reply.status == 200
    assert ("te-webhook", "POST /trueengage/callback", TRACE_ID) in _spans(
        request for _, request in http_collector.received
    )
    assert {path for path, _ in http_collector.received} == {"/v1/traces"}
    assert (
        "callback-router-decision",
        "decision.v1.DecisionService/Decide",
        TRACE_ID,
    ) in _spans(grpc_collector.requests)
    for log in (facade_log, decision_log):
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line["msg"] in ("request", "decision")]
        assert access, log
        assert {line.get("trace_id") for line in access} == {TRACE_ID}, log

"""The baselines every scenario is compared with, written as lean as they can be:

(a) `tornado`: a bare Tornado handler that parses the webhook JSON and answers a fixed JSON;
(b) `grpc`:    a no-op grpc.aio DecisionService that answers an empty DecideResponse;
(c) `proxy`:   the leanest facade: bare Tornado handler -> one grpc.aio call to (b) -> JSON.

Not a baseline but a step between (c) and the facade, to tell where the facade's own cost goes:
`proxy-in-facade-server`, (c)'s handler served by the facade's HTTP server (facade/http_server.py:
connection caps and eviction, the drain, the HTTP/1.1 hardening of facade/http1.py) with the
facade's default settings. What it costs over (c) is the server's; what the facade costs over
it, the webhook handler's (authentication, validation, deadline, answer check, logs, metrics).

Likewise between (b) and the decision service: `grpc-in-service-server`, (b)'s no-op Decide
behind the service's own gRPC server (decision/service/grpc_server.py's build_server: its
options, call limit, health, reflection and request reader).

Not a baseline, but run the same way: `collector`, an OTLP/HTTP receiver that takes the spans of a
traced stack and drops them (what an OpenTelemetry Collector costs the services, no more).

Run one with `python -m bench.baselines NAME --listen HOST:PORT [--decision HOST:PORT]`."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import grpc
import tornado.httpserver
import tornado.netutil
import tornado.web
from google.protobuf.json_format import MessageToDict

from contract.client import CHANNEL_OPTIONS
from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.rules.live import LiveRules
from decision.service.grpc_server import build_server
from decision.service.servicer import DecisionServicer
from facade.app import make_http_server
from facade.config import FacadeSettings
from facade.connection_limits import connection_budget, current_open_files_limit
from plumbing.event_loop import loop_factory
from plumbing.graceful import wait_for_exit_signal

RULES = Path(__file__).resolve().parent.parent / "examples" / "rules.toml"


class FixedAnswer(tornado.web.RequestHandler):
    def post(self) -> None:
        json.loads(self.request.body)
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"queueId":"5a9d0c4e-1b2f-4c3d-8e5f-000000000001"}')


class LeanProxy(tornado.web.RequestHandler):
    def initialize(self, stub: decision_pb2_grpc.DecisionServiceStub) -> None:
        self.stub = stub

    async def post(self) -> None:
        body = json.loads(self.request.body)
        request = decision_pb2.DecideRequest(
            phone_number=body.get("phoneNumber", ""), country_code=body.get("countryCode", "")
        )
        reply = await self.stub.Decide(request, timeout=0.5)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(MessageToDict(reply.patch)))


class DroppedSpans(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_header("Content-Type", "application/x-protobuf")
        self.finish(b"")  # an empty ExportTraceServiceResponse: all accepted


class NoOpDecision(decision_pb2_grpc.DecisionServiceServicer):
    async def Decide(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.DecideResponse:
        return decision_pb2.DecideResponse()


async def _serve_http(
    app: tornado.web.Application, listen: str, in_facade_server: bool = False
) -> None:
    host, _, port = listen.rpartition(":")
    sockets = tornado.netutil.bind_sockets(int(port), host)
    if in_facade_server:
        settings = FacadeSettings()
        budget = connection_budget(settings, current_open_files_limit())
        server: tornado.httpserver.HTTPServer = make_http_server(
            app, settings, "webhook", budget.webhook, budget.webhook_per_address
        )
    else:
        server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(f"baseline: serving on {host}:{sockets[0].getsockname()[1]}", flush=True)
    await wait_for_exit_signal()


class NoOpDecisionService(DecisionServicer):
    """The decision service's servicer, its Decide answering as (b)'s does."""

    async def Decide(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.DecideResponse:
        return decision_pb2.DecideResponse()


async def _serve_grpc(listen: str, in_service_server: bool = False) -> None:
    if in_service_server:
        server, _ = build_server(NoOpDecisionService(LiveRules(RULES)))
    else:
        server = grpc.aio.server()
        decision_pb2_grpc.add_DecisionServiceServicer_to_server(NoOpDecision(), server)
    port = server.add_insecure_port(listen)
    await server.start()
    print(f"baseline: serving on {listen.rpartition(':')[0]}:{port}", flush=True)
    await wait_for_exit_signal()
    await server.stop(1)


async def _main(args: argparse.Namespace) -> None:
    if args.name == "tornado":
        await _serve_http(
            tornado.web.Application([("/trueengage/callback", FixedAnswer)]), args.listen
        )
    elif args.name in ("grpc", "grpc-in-service-server"):
        await _serve_grpc(args.listen, in_service_server=args.name == "grpc-in-service-server")
    elif args.name == "collector":
        await _serve_http(tornado.web.Application([("/v1/traces", DroppedSpans)]), args.listen)
    else:
        channel = grpc.aio.insecure_channel(args.decision, options=CHANNEL_OPTIONS)
        stub = decision_pb2_grpc.DecisionServiceStub(channel)
        app = tornado.web.Application([("/trueengage/callback", LeanProxy, {"stub": stub})])
        await _serve_http(app, args.listen, in_facade_server=args.name == "proxy-in-facade-server")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "name",
        choices=[
            "tornado",
            "grpc",
            "grpc-in-service-server",
            "proxy",
            "proxy-in-facade-server",
            "collector",
        ],
    )
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--decision", default="")
    # Plain asyncio unless asked: the anchors of the targets are on asyncio, and the same
    # anchors on uvloop say how close the services are to the limit of the stack.
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    arguments = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory(arguments.loop)) as runner:
        runner.run(_main(arguments))

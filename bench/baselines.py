"""The baselines every scenario is compared with, written as lean as they can be:

(a) `tornado`: a bare Tornado handler that parses the webhook JSON and answers a fixed JSON;
(b) `grpc`:    a no-op grpc.aio DecisionService that answers an empty DecideResponse;
(c) `proxy`:   the leanest facade: bare Tornado handler -> one grpc.aio call to (b) -> JSON.

Not a baseline, but run the same way: `collector`, an OTLP/HTTP receiver that takes the spans of a
traced stack and drops them (what an OpenTelemetry Collector costs the services, no more).

Run one with `python -m bench.baselines NAME --listen HOST:PORT [--decision HOST:PORT]`."""

from __future__ import annotations

import argparse
import asyncio
import json

import grpc
import tornado.httpserver
import tornado.netutil
import tornado.web
from google.protobuf.json_format import MessageToDict

from contract.client import CHANNEL_OPTIONS
from contract.v1 import decision_pb2, decision_pb2_grpc
from plumbing.event_loop import loop_factory
from plumbing.graceful import wait_for_exit_signal


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


async def _serve_http(app: tornado.web.Application, listen: str) -> None:
    host, _, port = listen.rpartition(":")
    sockets = tornado.netutil.bind_sockets(int(port), host)
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    print(f"baseline: serving on {host}:{sockets[0].getsockname()[1]}", flush=True)
    await wait_for_exit_signal()


async def _serve_grpc(listen: str) -> None:
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
    elif args.name == "grpc":
        await _serve_grpc(args.listen)
    elif args.name == "collector":
        await _serve_http(tornado.web.Application([("/v1/traces", DroppedSpans)]), args.listen)
    else:
        channel = grpc.aio.insecure_channel(args.decision, options=CHANNEL_OPTIONS)
        stub = decision_pb2_grpc.DecisionServiceStub(channel)
        app = tornado.web.Application([("/trueengage/callback", LeanProxy, {"stub": stub})])
        await _serve_http(app, args.listen)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=["tornado", "grpc", "proxy", "collector"])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--decision", default="")
    # Plain asyncio unless asked: the anchors of the targets are on asyncio, and the same
    # anchors on uvloop say how close the services are to the limit of the stack.
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    arguments = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory(arguments.loop)) as runner:
        runner.run(_main(arguments))

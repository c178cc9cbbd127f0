"""A real gRPC DecisionService on a loopback port whose answers a test scripts: held until the
test releases them, failing, or returning what our own engine would refuse to (TrueEngage's data
keys)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from contract.v1 import decision_pb2, decision_pb2_grpc


class ScriptedDecision(decision_pb2_grpc.DecisionServiceServicer):
    def __init__(self) -> None:
        self.status: grpc.StatusCode | None = None
        self.patch = decision_pb2.CallbackPatch()
        self.requests: list[decision_pb2.DecideRequest] = []
        self.metadata: list[dict[str, str]] = []
        self.time_remaining: list[float | None] = []  # each call's deadline, as it arrived
        self._arrived = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()

    def hold(self) -> None:
        """From now on, each Decide waits (having been counted as arrived) until `release`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        """Returns once `count` Decide calls have arrived in all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} decisions arrived")

    def Decide(self, request, context):
        with self._arrived:
            self.requests.append(request)
            self.metadata.append(dict(context.invocation_metadata()))
            self.time_remaining.append(context.time_remaining())
            self._arrived.notify_all()
        self._gate.wait()
        if self.status is not None:
            context.abort(self.status, "scripted failure")
        return decision_pb2.DecideResponse(patch=self.patch)


class CountedHealth(health.HealthServicer):
    """The standard health service, counting the calls it gets by method."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def Check(self, request, context):
        self.calls["Check"] += 1
        return super().Check(request, context)

    def Watch(self, request, context, send_response_callback=None):
        self.calls["Watch"] += 1
        return super().Watch(request, context, send_response_callback)


class ScriptedServer:
    def __init__(self) -> None:
        self.servicer = ScriptedDecision()
        # Each facade's health watch holds one of these threads for as long as it watches.
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        decision_pb2_grpc.add_DecisionServiceServicer_to_server(self.servicer, self.server)
        self.health = CountedHealth()
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self) -> None:
        self.servicer.release()  # a held call must not outlive the server's threads
        self.server.stop(grace=None).wait()

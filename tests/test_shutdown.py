"""A graceful stop loses nothing: SIGTERM under keep-alive load, as Kubernetes sends it while the
load balancer still holds open connections and may open new ones. A process, since it is about
a signal."""

from __future__ import annotations

import http.client
import json
import signal
import threading
from dataclasses import dataclass, field

from contract.v1 import decision_pb2
from tests.conftest import API_KEY, SEED, Webhook, start_facade, wait_until

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


@dataclass
class KeepAliveSender:
    """Posts SEED over one keep-alive connection, reconnecting when told to close, until it is
    told to close after `stopping` is set (the load balancer took the replica out) or cannot
    connect. A request is lost when it was written on a connection and got no answer."""

    port: int
    stopping: threading.Event
    statuses: list[int] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    told_to_close: int = 0

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while True:
                if connection.sock is None:
                    try:
                        connection.connect()
                    except ConnectionRefusedError:
                        return  # nothing was sent
                try:
                    connection.request("POST", "/trueengage/callback", json.dumps(SEED), HEADERS)
                    response = connection.getresponse()
                    response.read()
                except (http.client.HTTPException, OSError) as error:
                    self.lost.append(repr(error))
                    connection.close()
                    continue
                self.statuses.append(response.status)
                if response.getheader("Connection") == "close":
                    self.told_to_close += 1
                    connection.close()
                    if self.stopping.is_set():
                        return
        finally:
            connection.close()


def test_sigterm_under_keep_alive_load_loses_no_request(scripted):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    facade = start_facade(f"127.0.0.1:{scripted.port}", 10_000, "--drain-seconds", "3")
    webhook = Webhook(facade.port)
    stopping = threading.Event()
    senders = [KeepAliveSender(facade.port, stopping) for _ in range(4)]
    threads = [threading.Thread(target=sender.run) for sender in senders]
    # A connection that is open but idle when the stop begins, as a balancer's pool holds.
    idle = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=30)
    try:
        idle.request("POST", "/trueengage/callback", json.dumps(SEED), HEADERS)
        assert (
            idle.getresponse().read()
            == json.dumps({"queueId": QUEUE}, separators=(",", ":")).encode()
        )
        for thread in threads:
            thread.start()
        wait_until(lambda: all(len(s.statuses) >= 5 for s in senders), "load on every connection")
        facade.process.send_signal(signal.SIGTERM)
        wait_until(lambda: webhook.request("GET", "/readyz").status == 503, "readiness off")
        stopping.set()
        # During the drain: the idle connection is still served, and so is a new one.
        idle.request("POST", "/trueengage/callback", json.dumps(SEED), HEADERS)
        on_idle = idle.getresponse()
        assert (on_idle.status, on_idle.getheader("Connection")) == (200, "close")
        on_idle.read()
        late = webhook.post(SEED)
        assert (late.status, late.headers["Connection"]) == (200, "close")
        for thread in threads:
            thread.join()
        assert facade.process.wait(30) == 0
    finally:
        stopping.set()
        idle.close()
        facade.stop()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()
    lost = [error for sender in senders for error in sender.lost]
    assert lost == [], f"{len(lost)} requests sent and never answered"
    assert {status for sender in senders for status in sender.statuses} == {200}
    assert all(sender.told_to_close for sender in senders)

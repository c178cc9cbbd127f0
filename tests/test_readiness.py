"""Readiness says whether the facade can answer TrueEngage, which it always can while it runs (it
fails open), so a decision outage never takes a facade out of its Service. Whether the decision
service is up is told apart: the `facade_decision_serving` gauge and `GET /healthz/decision`,
both fed by one Health.Watch stream, never by an RPC per question."""

from __future__ import annotations

import http.client

from prometheus_client.parser import text_string_to_metric_families

from contract.v1 import decision_pb2
from tests.conftest import (
    EXAMPLE_RULES,
    SEED,
    Webhook,
    start_decision,
    start_facade,
    wait_until,
)

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"


def scraped(webhook: Webhook, name: str, **labels: str) -> float | None:
    """A sample from the facade's own GET /metrics, as Prometheus reads it."""
    connection = http.client.HTTPConnection("127.0.0.1", webhook.port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_decision_service_stopped_facade_stays_ready_and_answers_empty():
    """Real processes on both sides: the decision service stopped (SIGTERM), the facade still
    ready and answering `{}`; the gauge and the deep endpoint tell the outage, and the restart."""
    # A grace far longer than ServiceProcess.stop waits: the facade's health stream must not
    # hold the decision service's graceful stop open (it would be killed, not exit 0).
    decision = start_decision(EXAMPLE_RULES, "--grace", "60")
    port = decision.port
    facade = start_facade(f"127.0.0.1:{port}", 300)
    webhook = Webhook(facade.port)
    try:
        wait_until(lambda: scraped(webhook, "facade_decision_serving") == 1, "serving seen")
        assert webhook.request("GET", "/healthz/decision").status == 200
        assert webhook.post(SEED).body["queueId"] == QUEUE

        assert decision.stop() == 0
        ready = webhook.request("GET", "/readyz")
        assert (ready.status, ready.body) == (200, {"status": "ready"})
        before = scraped(webhook, "facade_fail_open_total", reason="unavailable") or 0
        reply = webhook.post(SEED)
        assert (reply.status, reply.body) == (200, {})
        assert scraped(webhook, "facade_fail_open_total", reason="unavailable") == before + 1
        wait_until(lambda: scraped(webhook, "facade_decision_serving") == 0, "outage seen")
        deep = webhook.request("GET", "/healthz/decision")
        assert (deep.status, deep.body) == (503, {"status": "decision service not serving"})
        ready = webhook.request("GET", "/readyz")
        assert (ready.status, ready.body) == (200, {"status": "ready"})

        decision = start_decision(EXAMPLE_RULES, port=port)
        wait_until(lambda: scraped(webhook, "facade_decision_serving") == 1, "restart seen")
        assert webhook.request("GET", "/healthz/decision").status == 200
        wait_until(lambda: webhook.post(SEED).body, "a decision after the restart")
    finally:
        facade.stop()
        decision.stop()


def test_not_serving_is_pushed_while_decisions_still_flow(scripted, facade_in_process):
    """The service's own status, not only a broken stream: NOT_SERVING shows at once."""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    webhook = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}").port)
    wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 200, "serving")
    scripted.health.set("", 2)  # NOT_SERVING
    wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 503, "not serving")
    assert webhook.request("GET", "/readyz").status == 200
    assert webhook.post(SEED).body == {"queueId": QUEUE}
    scripted.health.set("", 1)  # SERVING
    wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 200, "serving again")


def test_scrapes_and_deep_checks_cost_the_decision_service_nothing(scripted, facade_in_process):
    webhook = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}").port)
    wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 200, "serving")
    for _ in range(50):
        assert scraped(webhook, "facade_decision_serving") is not None
        assert webhook.request("GET", "/healthz/decision").status == 200
        assert webhook.request("GET", "/readyz").status == 200
    assert scripted.health.calls == {"Watch": 1}

"""The published OpenAPI contract is the one generated from contract/callback.py, and the running
facade keeps to it (schemathesis) and to the Genesys fields whatever the payload (hypothesis,
awkward bodies included): never a 5xx, never an answer outside the contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from contract.callback import CALLBACK_PATCH, PROTECTED_DATA_KEYS, WEBHOOK_EXAMPLE
from facade.openapi import REGENERATE, REPO_FILE, render_openapi
from tests.conftest import API_KEY, Webhook, start_facade
from tests.json_strategies import bodies

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def webhook(decision_service):
    # schemathesis sends wrong keys far past any brute-force budget and expects 401 each time;
    # the budget itself is tested in test_hardening.
    facade = start_facade(f"127.0.0.1:{decision_service.port}", 300, "--auth-failure-rate", "0")
    yield Webhook(facade.port)
    facade.stop()


def test_committed_spec_is_generated_from_the_contract():
    assert REPO_FILE.read_text() == render_openapi(), (
        f"{REPO_FILE.name} differs from what contract/callback.py says: run `{REGENERATE}` "
        "and commit the result"
    )


def test_served_spec_is_generated_from_the_contract(webhook):
    """Against a document generated now, not the file the handler reads: a facade serving a
    stale or broken copy fails here even when the copy is the committed one."""
    reply = webhook.request("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.body == json.loads(render_openapi())


def test_the_packaged_webhook_example_is_examples_webhook_json():
    """The OpenAPI example ships in the package (contract.callback); tests, bench and docs send
    examples/webhook.json. They are one body."""
    assert json.loads((ROOT / "examples" / "webhook.json").read_text()) == dict(WEBHOOK_EXAMPLE)
    schema = json.loads(render_openapi())["components"]["schemas"]["CallbackWebhook"]
    assert schema["example"] == dict(WEBHOOK_EXAMPLE)


def test_facade_honours_its_contract(webhook):
    # Driven by hand rather than through schemathesis' pytest plugin so that the schema can
    # come from the facade this module started on a free port.
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{webhook.port}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert "POST /trueengage/callback" in {op.label for op in operations}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def honours(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"X-API-Key": API_KEY})

        honours()


@given(body=bodies)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_payload_gets_200_or_4xx_and_a_clean_answer(webhook, body):
    reply = webhook.post(body)
    assert reply.status in (200, 400, 413), reply.body
    if reply.status == 200:
        assert set(reply.body) <= set(CALLBACK_PATCH)
        assert not PROTECTED_DATA_KEYS & set(reply.body.get("data", {}))
    else:
        assert set(reply.body) <= {"error", "field"}

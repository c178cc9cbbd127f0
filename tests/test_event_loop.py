"""The event loop: uvloop unless CALLBACK_ROUTER_EVENT_LOOP says otherwise. The rest of the suite
runs on the default (the in-process services too: tests/in_process.py); this file checks the
choice itself and that plain asyncio still serves, reloads and stops cleanly."""

from __future__ import annotations

import signal
import sys

import pytest

from plumbing.event_loop import EventLoopChoiceError, chosen_loop, run, running_loop_name
from tests.conftest import (
    EXAMPLE_RULES,
    SEED,
    Webhook,
    refused_start,
    start_decision,
    start_facade,
)


@pytest.mark.parametrize(
    ("value", "loop"),
    [
        ("", "uvloop"),
        ("auto", "uvloop"),
        ("uvloop", "uvloop"),
        ("asyncio", "asyncio"),
        (" ASYNCIO ", "asyncio"),
    ],
)
def test_the_variable_chooses_the_loop(value, loop):
    environ = {"CALLBACK_ROUTER_EVENT_LOOP": value}
    assert chosen_loop(environ) == loop

    async def name() -> str:
        return running_loop_name()

    assert run(name(), environ) == loop


def test_a_loop_it_cannot_run_is_named(monkeypatch):
    with pytest.raises(EventLoopChoiceError, match="'tokio' is not one of auto, uvloop, asyncio"):
        chosen_loop({"CALLBACK_ROUTER_EVENT_LOOP": "tokio"})
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert chosen_loop({}) == "asyncio"
    with pytest.raises(EventLoopChoiceError, match="uvloop is not installed"):
        chosen_loop({"CALLBACK_ROUTER_EVENT_LOOP": "uvloop"})


@pytest.mark.parametrize("module", ["facade", "decision"])
def test_a_bad_choice_stops_the_start_in_one_line(module):
    result = refused_start(module, {"CALLBACK_ROUTER_EVENT_LOOP": "x"})
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"{module}: CALLBACK_ROUTER_EVENT_LOOP: 'x' is not one of auto, uvloop, asyncio"
    )


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_both_services_serve_reload_and_stop_on_either_loop(loop, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(EXAMPLE_RULES.read_text())
    env = {"CALLBACK_ROUTER_EVENT_LOOP": loop}
    decision = start_decision(rules, env=env)
    try:
        facade = start_facade(f"127.0.0.1:{decision.port}", 2000, env=env)
        try:
            assert decision.ready_line.endswith(f" loop {loop}")
            assert facade.ready_line.endswith(f" loop {loop}")
            webhook = Webhook(facade.port)
            assert webhook.post(SEED).body["routingData"]["queueId"]
            decision.process.send_signal(signal.SIGHUP)  # reload: the same rules again
            facade.process.send_signal(signal.SIGHUP)  # keys reloaded
            assert webhook.post(SEED).status == 200
        finally:
            assert facade.stop() == 0
    finally:
        assert decision.stop() == 0

"""Operating it: decision log and replay, metrics, joined request ids, settings precedence,
and scale-out over processes and replicas."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.decision_log.writer import DecisionLog
from decision.engine import NO_FACTS
from decision.service.settings import DecisionSettings
from plumbing.service_process import ServiceProcess
from plumbing.settings import SettingsError, add_arguments, resolve
from tests.conftest import (
    EXAMPLE_RULES,
    SEED,
    Webhook,
    background_load,
    start_decision,
    start_facade,
    wait_until,
)

UK = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
US_EVENING = decision_pb2.DecideRequest(phone_number="2025550123", country_code="+1")
LANDLINE = decision_pb2.DecideRequest(phone_number="02079460000", country_code="+44")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def at(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


def logged_decisions(tmp_path: Path, full_numbers: bool) -> Path:
    log = tmp_path / "decisions.jsonl"
    args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        str(EXAMPLE_RULES),
        "--decision-log",
        str(log),
    ]
    service = ServiceProcess(
        "decision", args + (["--log-full-numbers", "true"] if full_numbers else [])
    )
    try:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            for request in (UK, UK, US_EVENING, LANDLINE):
                request = decision_pb2.DecideRequest.FromString(request.SerializeToString())
                request.at.CopyFrom(at("2026-11-24T23:00:00Z"))
                client.decide(request, request_id="r-" + request.phone_number[-4:])
    finally:
        assert service.stop() == 0
    return log


def replay(log: Path, rules: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "decision", "replay", str(log), "--rules", str(rules), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_decision_log_and_replay_of_a_rules_change(tmp_path):
    log = logged_decisions(tmp_path, full_numbers=True)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 4
    first = entries[0]
    assert set(first) == {
        "decision_id",
        "request_id",
        "at",
        "request",
        "facts",
        "contact",
        "schedule_groups",
        "live",
        "matched_rules",
        "patch",
        "notes",
        "rules_version",
        "latency_ms",
    }
    assert first["request_id"] == "r-3456"
    assert first["matched_rules"] == ["uk-mobile"]
    assert first["at"] == "2026-11-24T23:00:00+00:00"

    same = replay(log, EXAMPLE_RULES, "--fail-on-change")
    assert same.returncode == 0, same.stdout
    assert "unchanged: 4" in same.stdout

    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        EXAMPLE_RULES.read_text().replace(
            'then = { queue = "support-uk"', 'then = { queue = "support-us"'
        )
    )
    changed = replay(log, candidate, "--fail-on-change")
    assert changed.returncode == 1
    lines = changed.stdout.splitlines()
    assert "  would change: 2" in lines
    assert "    uk-mobile -> uk-mobile: 2" in lines
    assert any(
        line.strip().startswith(
            "queueId: 5a9d0c4e-1b2f-4c3d-8e5f-000000000001 (support-uk) -> "
            "5a9d0c4e-1b2f-4c3d-8e5f-000000000002 (support-us)"
        )
        for line in lines
    )


def test_masked_decision_log_replays_from_logged_facts(tmp_path):
    log = logged_decisions(tmp_path, full_numbers=False)
    text = log.read_text()
    assert "07400123456" not in text
    assert "*******3456" in text
    result = replay(log, EXAMPLE_RULES)
    assert "unchanged: 4" in result.stdout
    # No example rule reads the number itself (prefix, percent): the logged facts are exact.
    assert "approximate" not in result.stdout
    reading = tmp_path / "prefix.toml"
    reading.write_text(
        EXAMPLE_RULES.read_text().replace(
            'when = { region = ["GB"], number_type = ["mobile"] }',
            'when = { region = ["GB"], number_type = ["mobile"], not = { prefix = "+4420" } }',
        )
    )
    assert "approximate: 4" in replay(log, reading).stdout


def test_full_decision_log_buffer_drops_and_counts():
    from prometheus_client import REGISTRY

    def dropped() -> float:
        return REGISTRY.get_sample_value("decision_log_dropped_total") or 0.0

    read_end, write_end = os.pipe()
    before = dropped()
    decision_log = DecisionLog(f"/dev/fd/{write_end}", capacity=4)
    response = decision_pb2.DecideResponse(decision_id="d", notes=["x" * 2000])

    def record_many() -> None:
        for _ in range(500):  # nobody reads the pipe yet: the writer blocks, the buffer fills
            decision_log.record(UK, response, datetime(2026, 11, 24, tzinfo=UTC), NO_FACTS, 0.1)

    recorder = threading.Thread(target=record_many)
    recorder.start()
    recorder.join(30)  # bounds a failing test only: recording must never wait for the writer
    assert not recorder.is_alive()
    assert dropped() - before > 300

    def drain() -> None:
        while os.read(read_end, 1 << 16):
            pass

    reader = threading.Thread(target=drain)
    reader.start()
    decision_log.close()  # the queued entries are written once the pipe is read
    os.close(write_end)
    reader.join(5)
    os.close(read_end)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_decision_metrics(tmp_path):
    port = free_port()
    rules = tmp_path / "rules.toml"
    rules.write_text(EXAMPLE_RULES.read_text())
    service = start_decision(
        rules,
        "--metrics-listen",
        f"127.0.0.1:{port}",
        "--watch-interval",
        "0.1",
        "--rules-settle",
        "0",
    )
    try:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            client.decide(UK)
            client.decide(LANDLINE)
            rules.write_text("version = 1\n[[rules]]\nname = 'broken'\n")
            failed = 'decision_rules_reloads_total{result="failed"} 1.0'
            wait_until(lambda: failed in scrape(port), "the watcher tries the broken file")
            text = scrape(port)
    finally:
        service.stop()
    assert 'decision_decisions_total{rule="uk-mobile"} 1.0' in text
    assert 'decision_decisions_total{rule="none"} 1.0' in text
    assert 'decision_rules_reloads_total{result="failed"} 1.0' in text
    assert f'decision_rules_info{{source="{rules}",version="' in text
    assert "decision_decide_seconds_count 2.0" in text


def test_request_id_joins_facade_and_decision_logs(tmp_path):
    decision_log, facade_log = tmp_path / "decision.err", tmp_path / "facade.err"
    with decision_log.open("w") as d_err, facade_log.open("w") as f_err:
        decision = ServiceProcess(
            "decision",
            ["serve", "--listen", "127.0.0.1:0", "--rules", str(EXAMPLE_RULES)],
            stderr=d_err,
        )
        facade = start_facade(f"127.0.0.1:{decision.port}", 2000, stderr=f_err)
        try:
            reply = Webhook(facade.port).post(SEED, **{"X-Request-Id": "join-me-42"})
            decision_id = reply.headers["X-Decision-Id"]
        finally:
            facade.stop()
            decision.stop()

    def lines(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]

    facade_line = next(e for e in lines(facade_log) if e.get("request_id") == "join-me-42")
    decision_line = next(e for e in lines(decision_log) if e.get("request_id") == "join-me-42")
    assert facade_line["decision_id"] == decision_line["decision_id"] == decision_id
    assert facade_line["phone"] == "*******3456"  # as TrueEngage sent it
    assert decision_line["phone"] == "*********3456"  # as E.164
    assert facade_line["status"] == 200


def test_settings_precedence_file_then_environment_then_flags(tmp_path):
    import argparse

    config = tmp_path / "decision.toml"
    config.write_text(
        'listen = "0.0.0.0:1"\nrules = "from-file.toml"\ngrace = 9.0\naccess_log = false\n'
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser, DecisionSettings, "DECISION")
    args = parser.parse_args(["--config", str(config), "--listen", "127.0.0.1:3"])
    env = {"DECISION_LISTEN": "127.0.0.1:2", "DECISION_RULES": "from-env.toml"}
    settings = resolve(DecisionSettings, args, env, "DECISION")
    assert (settings.listen, settings.rules, settings.grace, settings.access_log) == (
        "127.0.0.1:3",
        "from-env.toml",
        9.0,
        False,
    )
    with pytest.raises(SettingsError, match="DECISION_GRACE: expected float, got 'soon'"):
        resolve(DecisionSettings, parser.parse_args([]), {"DECISION_GRACE": "soon"}, "DECISION")
    config.write_text("colour = 'red'\n")
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        resolve(DecisionSettings, parser.parse_args(["--config", str(config)]), {}, "DECISION")


@pytest.mark.parametrize("module", ["decision", "facade"])
def test_help_lists_every_setting_with_its_variable(module):
    from facade.config import FacadeSettings

    settings = DecisionSettings if module == "decision" else FacadeSettings
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for name in settings.__dataclass_fields__:
        assert f"--{name.replace('_', '-')}" in out
        assert f"{module.upper()}_{name.upper()}" in out


def test_facade_worker_processes_share_the_port(decision_service):
    facade = start_facade(f"127.0.0.1:{decision_service.port}", 2000, "--processes", "2")
    webhook = Webhook(facade.port)
    try:
        replies = []
        threads = [
            threading.Thread(target=lambda: replies.extend(webhook.post(SEED) for _ in range(25)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.status for r in replies] == [200] * 100
        assert all(r.body["queueId"] for r in replies)
        text = urllib.request.urlopen(f"http://127.0.0.1:{facade.port}/metrics", timeout=5).read()
        assert b'facade_requests_total{status="200"} 100.0' in text  # both workers, summed
    finally:
        assert facade.stop() == 0


def test_decision_replicas_round_robin_and_survive_one_dying(tmp_path):
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with logs[0].open("w") as a_err, logs[1].open("w") as b_err:
        replicas = [
            ServiceProcess(
                "decision",
                ["serve", "--listen", "127.0.0.1:0", "--rules", str(EXAMPLE_RULES)],
                stderr=err,
            )
            for err in (a_err, b_err)
        ]
        target = "ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas)
        facade = start_facade(target, 1000)
        try:
            with background_load(Webhook(facade.port)) as replies:
                # Killed once its decisions are on record (its access log writes in batches).
                wait_until(lambda: '"msg":"decision"' in logs[0].read_text(), "replica A decides")
                replicas[0].stop(signal.SIGKILL)
                killed = len(replies)
                wait_until(lambda: len(replies) > killed + 50, "50 answers after the kill")
        finally:
            facade.stop()
            for replica in replicas:
                replica.stop()
    assert len(replies) > 50
    assert all(r.status == 200 and r.body.get("queueId") for r in replies)
    for log in logs:  # both replicas decided
        assert '"msg":"decision"' in log.read_text()


def test_readme_documents_every_setting():
    from facade.config import FacadeSettings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for prefix, settings in (("FACADE", FacadeSettings), ("DECISION", DecisionSettings)):
        for name in settings.__dataclass_fields__:
            assert f"| `--{name.replace('_', '-')}` | `{prefix}_{name.upper()}` |" in readme

"""The decision log under a bad sink: bounded in bytes when the sink stalls, honest counts when
writes fail, a new file after rotation on SIGHUP, and an exit that never waits on the sink."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.decision_log.writer import DecisionLog
from decision.engine import NO_FACTS
from tests.conftest import EXAMPLE_RULES, start_decision

UK = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
# What a large webhook makes: about 50 KB of attributes (the facade accepts 64 KB bodies).
BIG = decision_pb2.DecideRequest(
    phone_number="07400123456",
    country_code="+44",
    attributes={f"field{i}": "x" * 1000 for i in range(32)},  # as much as a call may carry
)
RESPONSE = decision_pb2.DecideResponse(decision_id="d", matched_rules=["uk-mobile"])
AT = datetime(2026, 11, 24, tzinfo=UTC)


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_a_stalled_sink_holds_at_most_the_byte_budget_and_never_blocks_close():
    read_end, write_end = os.pipe()  # nobody reads: the writer blocks once the pipe is full
    dropped, written = counter("decision_log_dropped_total"), counter("decision_log_written_total")
    budget = 1024 * 1024
    decision_log = DecisionLog(f"/dev/fd/{write_end}", capacity=1_000_000, buffer_bytes=budget)
    try:
        for _ in range(2000):  # 100 MB of decisions
            decision_log.record(BIG, RESPONSE, AT, NO_FACTS, 0.1)
            assert decision_log.waiting_bytes <= budget
        assert counter("decision_log_dropped_total") - dropped > 1900
        closing = threading.Thread(target=decision_log.close, kwargs={"timeout": 0.5})
        closing.start()
        closing.join(30)
        assert not closing.is_alive()  # close gave up on the sink instead of hanging
        lost = counter("decision_log_dropped_total") - dropped
        logged = counter("decision_log_written_total") - written
        assert lost + logged == 2000  # every entry is either written or counted as lost
    finally:
        os.close(read_end)  # the blocked writer gets EPIPE and ends
        until(lambda: not decision_log._thread.is_alive(), "the writer ends")
        os.close(write_end)


def test_a_failing_sink_counts_every_lost_entry_and_logs_once_per_interval(caplog):
    now = [1000.0]
    dropped, written = counter("decision_log_dropped_total"), counter("decision_log_written_total")
    decision_log = DecisionLog("/dev/full", report_every=60, clock=lambda: now[0])

    def settled(count: int) -> Callable[[], bool]:
        return lambda: counter("decision_log_dropped_total") - dropped == count

    for _ in range(50):
        decision_log.record(UK, RESPONSE, AT, NO_FACTS, 0.1)
    until(settled(50), "50 entries counted as lost")
    now[0] += 61  # the next interval
    for _ in range(30):
        decision_log.record(UK, RESPONSE, AT, NO_FACTS, 0.1)
    until(settled(80), "80 entries counted as lost")
    decision_log.close()
    assert counter("decision_log_written_total") == written
    errors = [r for r in caplog.records if r.name == "decision.log" and r.levelno >= logging.ERROR]
    assert all(r.exc_info is None for r in errors)  # no traceback per entry
    assert 2 <= len(errors) <= 3  # one per interval, and the rest at close
    assert "No space left on device" in errors[0].getMessage()
    total = sum(int(re.search(r"lost entries[^:]*: (\d+)", r.getMessage())[1]) for r in errors)
    assert total == 80


def decide(port: int, request: decision_pb2.DecideRequest = UK, count: int = 1) -> None:
    with BlockingDecisionClient(f"127.0.0.1:{port}", timeout=10) as client:
        for _ in range(count):
            client.decide(request)


def test_sighup_reopens_the_log_after_rotation(tmp_path):
    log = tmp_path / "decisions.jsonl"
    service = start_decision(EXAMPLE_RULES, "--decision-log", str(log))
    try:
        decide(service.port)
        until(lambda: log.exists() and log.read_text().count("\n") == 1, "the first entry")
        rotated = log.rename(tmp_path / "decisions.jsonl.1")  # what logrotate does
        service.process.send_signal(signal.SIGHUP)
        until(log.exists, "the log is reopened under its name")
        decide(service.port)
        until(lambda: log.read_text().count("\n") == 1, "the second entry in the new file")
    finally:
        assert service.stop() == 0
    assert rotated.read_text().count("\n") == 1
    assert json.loads(log.read_text())["matched_rules"] == ["uk-mobile"]


def test_sigterm_exits_promptly_with_a_stalled_log_sink(tmp_path):
    """The log is a FIFO whose reader never reads: decisions go on, and SIGTERM still exits."""
    fifo = tmp_path / "decisions.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    err = tmp_path / "decision.err"
    service = None
    try:
        with err.open("w") as stderr:
            service = start_decision(
                EXAMPLE_RULES,
                *("--decision-log", str(fifo), "--decision-log-buffer", "50", "--no-access-log"),
                stderr=stderr,
            )
            decide(service.port, BIG, count=320)  # 10 MB: the pipe and the buffer fill up
            returncode = service.stop(timeout=60)
    finally:
        if service is not None:  # a failed decide() left it running (stop twice is once)
            service.stop(timeout=60)
        os.close(reader)
    assert returncode == 0  # exited by itself, not killed
    assert "decision log sink stalled" in err.read_text()

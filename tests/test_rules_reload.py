"""Hot reload: a valid file replaces the rules between requests, an invalid or half-written one
never does, parsing never stops the service answering, and reload requests coalesce."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.engine import RuleSet
from decision.rules import live as rules_file
from decision.rules.live import LiveRules
from plumbing.service_process import ServiceProcess
from tests.conftest import EXAMPLE_RULES, wait_until

QUEUE_A = "aaaaaaaa-0000-4000-8000-000000000001"
QUEUE_B = "bbbbbbbb-0000-4000-8000-000000000002"
QUEUE_C = "cccccccc-0000-4000-8000-000000000003"
LONG_AGO = time.time() - 3600


def rules_text(queue: str) -> str:
    return f'version = 1\n[[rules]]\nname = "all"\nthen = {{ queue = "{queue}" }}\n'


def replace_file(path: Path, text: str, mtime: float | None = None) -> None:
    """Writes the way editors and Kubernetes do: a new file renamed over the old one. `mtime`
    backdates it: a file written that long ago has settled."""
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    if mtime is not None:
        os.utime(staging, (mtime, mtime))
    os.replace(staging, path)


def queue_in(rules: RuleSet) -> str:
    request = decision_pb2.DecideRequest(phone_number="+447400123456")
    return rules.decide(request, datetime.now(UTC)).patch.queue_id


async def until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    """Lets the loop run until `condition` holds (a generous deadline only catches a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


def test_live_rules_swap_and_refuse(tmp_path, caplog):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path, settle=0)
    first = live.current
    replace_file(path, rules_text(QUEUE_B))
    assert asyncio.run(live.reload()) is True
    assert live.current.version != first.version
    good = live.current
    replace_file(path, 'version = 1\n[[rules]]\nname = "x"\nthen = { queue = "nope" }\n')
    assert asyncio.run(live.reload()) is False
    assert live.current is good
    assert "then.queue: unknown queue name 'nope'" in caplog.text
    path.unlink()
    assert asyncio.run(live.reload()) is False
    assert live.current is good


def test_a_fifo_in_place_of_the_file_is_refused_without_blocking(tmp_path, caplog):
    """Opening a FIFO to read waits for a writer, forever: the reload thread would hang, and
    the service's exit with it (it waits for that thread)."""
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path, settle=0)
    good = live.current
    path.unlink()
    os.mkfifo(path)

    async def reload_or_give_up() -> bool | None:
        try:
            return await asyncio.wait_for(live.reload(), 20)
        except TimeoutError:  # a hang: a writer that closes at once lets the reader go
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            return None

    assert asyncio.run(reload_or_give_up()) is False
    assert live.current is good
    assert "cannot read: not a regular file" in caplog.text


def test_a_file_still_being_written_does_not_go_live(tmp_path, caplog):
    """A slow, non-atomic copy: a valid prefix of the new file sits on disk for a while. It is
    not loaded while it keeps changing; the whole file is, once it has settled."""
    caplog.set_level(logging.INFO, logger="decision.rules")
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    full = rules_text(QUEUE_B) + '[[rules]]\nname = "second"\nthen = { priority = 5 }\n'
    prefix = rules_text(QUEUE_B)  # valid on its own: the first rule only

    async def scenario() -> None:
        live = LiveRules(path, settle=3600)  # nothing written just now settles in this test
        old = live.current
        reloader = asyncio.create_task(live.run(interval=3600))
        with path.open("w") as copying:  # in place, as `cp` does
            copying.write(prefix)
            copying.flush()
            live.request_reload()
            await until(lambda: "is loaded once unchanged" in caplog.text, "the reloader waits")
            assert live.current is old
            copying.write(full[len(prefix) :])
        os.utime(path, (LONG_AGO, LONG_AGO))  # the copy finished long ago: settled
        live.request_reload()
        await until(lambda: live.current is not old, "the whole file goes live")
        reloader.cancel()
        assert [rule.name for rule in live.current.rules] == ["all", "second"]

    asyncio.run(scenario())
    assert caplog.text.count("is live") == 2  # the first file, then the whole new one


def test_a_file_modified_in_the_future_settles_by_staying_the_same(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    future = time.time() + 3600  # a skewed clock must not keep the file out forever
    os.utime(path, (future, future))
    live = LiveRules(path, settle=0.05)
    replace_file(path, rules_text(QUEUE_B), mtime=future)
    assert asyncio.run(live.reload()) is True
    assert queue_in(live.current) == QUEUE_B


class BlockedParse:
    """Stands in for `read_rules_and_inputs`: each call waits until the test releases it, and records
    whether the event loop kept running meanwhile."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.released_while_parsing = False
        self._read = rules_file.read_rules_and_inputs

    def __call__(self, path: Path) -> tuple[RuleSet, str, list[Path]]:
        self.calls += 1
        self.started.set()
        # The loop sets `release`; if the parse ran on the loop, nothing could set it.
        self.released_while_parsing = self.release.wait(timeout=10)
        return self._read(path)


def test_parsing_runs_off_the_event_loop(tmp_path, monkeypatch):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path, settle=0)
    parse = BlockedParse()
    monkeypatch.setattr(rules_file, "read_rules_and_inputs", parse)
    replace_file(path, rules_text(QUEUE_B))

    async def scenario() -> None:
        reload = asyncio.create_task(live.reload())
        await until(parse.started.is_set, "the parse starts")
        parse.release.set()  # runs only if the loop is free while the parse is under way
        assert await reload is True

    asyncio.run(scenario())
    assert parse.released_while_parsing


def test_a_storm_of_reload_requests_costs_one_more_parse(tmp_path, monkeypatch):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path, settle=0)
    parse = BlockedParse()
    monkeypatch.setattr(rules_file, "read_rules_and_inputs", parse)

    async def scenario() -> None:
        reloader = asyncio.create_task(live.run(interval=3600))  # only requests wake it
        replace_file(path, rules_text(QUEUE_B))
        live.request_reload()
        await until(parse.started.is_set, "the first parse starts")
        for _ in range(100):  # 100 SIGHUPs while it parses
            live.request_reload()
        parse.release.set()
        await until(lambda: parse.calls == 2, "the coalesced reload")
        replace_file(path, rules_text(QUEUE_C))
        live.request_reload()
        await until(lambda: queue_in(live.current) == QUEUE_C, "C goes live")
        reloader.cancel()

    asyncio.run(scenario())
    assert parse.calls == 3  # the first, one for the 100 requests made during it, then C


def start_service(path: Path, *extra: str, stderr: object = None) -> ServiceProcess:
    args = ["serve", "--listen", "127.0.0.1:0", "--rules", str(path), *extra]
    return ServiceProcess("decision", args, stderr=stderr, timeout=60)


@pytest.fixture
def reloading_service(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    with (tmp_path / "decision.err").open("w") as stderr:
        service = start_service(
            path, "--watch-interval", "0.1", "--rules-settle", "0.2", stderr=stderr
        )
        yield service, path
        service.stop()


def queue_of(client: BlockingDecisionClient) -> tuple[str, str]:
    reply = client.decide(decision_pb2.DecideRequest(phone_number="+447400123456"))
    return reply.patch.queue_id, reply.rules_version


def wait_for_queue(client: BlockingDecisionClient, queue: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while queue_of(client)[0] != queue:
        assert time.monotonic() < deadline, f"rules with {queue} never went live"
        time.sleep(0.05)


def wait_for_line(path: Path, text: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"never logged: {text}"
        time.sleep(0.05)


def test_service_picks_up_a_changed_file_and_keeps_good_rules_on_a_bad_one(
    reloading_service, tmp_path
):
    service, path = reloading_service
    with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
        assert queue_of(client)[0] == QUEUE_A
        replace_file(path, rules_text(QUEUE_B))
        wait_for_queue(client, QUEUE_B)
        replace_file(path, "version = 1\n[[rules]]\nname = 'broken'\n")
        wait_for_line(tmp_path / "decision.err", "rules reload refused")
        assert queue_of(client)[0] == QUEUE_B


def test_sighup_reloads_a_settled_file_at_once(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    # A watch interval of an hour: only SIGHUP can make the change visible.
    service = start_service(path, "--watch-interval", "3600")
    try:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            replace_file(path, rules_text(QUEUE_B), mtime=LONG_AGO)
            assert queue_of(client)[0] == QUEUE_A
            service.process.send_signal(signal.SIGHUP)
            wait_for_queue(client, QUEUE_B)
    finally:
        service.stop()


def big_rules(queue: str, count: int = 7000) -> str:
    """About 1 MB of rules: a long parse, during which the service must keep answering."""
    lines = [f'version = 1\n[names.queues]\nmain = "{queue}"']
    for i in range(count):
        lines.append(
            f'[[rules]]\nname = "widget-{i:05d}"\nwhen = {{ widget_id = "w{i}", '
            f'number_type = ["mobile", "fixed_line"] }}\nthen = {{ queue = "main", priority = {i % 10} }}'
        )
    lines.append('[[rules]]\nname = "catch-all"\nthen = { queue = "main" }')
    return "\n".join(lines) + "\n"


def test_a_sighup_storm_with_a_large_file_never_stops_the_answers(tmp_path):
    path = tmp_path / "rules.toml"
    replace_file(path, big_rules(QUEUE_A), mtime=LONG_AGO)
    assert path.stat().st_size > 1_000_000
    service = start_service(path, "--watch-interval", "3600", "--access-log", "false")
    answered: list[str] = []
    errors: list[Exception] = []
    storm_over = threading.Event()

    def caller() -> None:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=10) as client:
            while not storm_over.is_set():
                try:
                    answered.append(queue_of(client)[0])
                except Exception as error:  # any failed call fails the test below
                    errors.append(error)
                    return

    try:
        callers = [threading.Thread(target=caller) for _ in range(2)]
        for thread in callers:
            thread.start()
        wait_until(lambda: answered or errors, "the callers are answered before the storm")
        for _ in range(100):
            service.process.send_signal(signal.SIGHUP)
            time.sleep(0.005)  # pacing, so the signals are not merged by the kernel
        before_last = len(answered)
        # The storm is over once a new file sent with one more SIGHUP is live.
        replace_file(path, big_rules(QUEUE_B), mtime=LONG_AGO)
        service.process.send_signal(signal.SIGHUP)
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=10) as client:
            wait_for_queue(client, QUEUE_B, seconds=120)
        storm_over.set()
        for thread in callers:
            thread.join()
    finally:
        storm_over.set()
        service.stop()
    assert errors == []  # no call failed while the signals came
    assert len(answered) > before_last  # and answers went on while the last reloads ran
    assert set(answered) <= {QUEUE_A, QUEUE_B}


def test_reload_under_load_never_mixes_two_versions(reloading_service):
    service, path = reloading_service
    seen: dict[str, set[str]] = {}
    errors: list[Exception] = []
    stop = threading.Event()

    def hammer() -> None:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            while not stop.is_set():
                try:
                    queue, version = queue_of(client)
                except Exception as error:  # any failed call fails the test below
                    errors.append(error)
                    return
                seen.setdefault(version, set()).add(queue)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
        for queue in (QUEUE_B, QUEUE_A, QUEUE_B, QUEUE_A):
            replace_file(path, rules_text(queue))
            wait_for_queue(client, queue)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(seen) == 2  # both versions served
    assert all(len(queues) == 1 for queues in seen.values())  # each version, one answer


def test_the_reloader_survives_an_unexpected_error(tmp_path, monkeypatch, caplog):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path, settle=0)
    read = rules_file.read_rules_and_inputs
    failures = iter([RuntimeError("a bug in the parser")])

    def flaky(candidate: Path) -> tuple[RuleSet, str, list[Path]]:
        for failure in failures:
            raise failure
        return read(candidate)

    monkeypatch.setattr(rules_file, "read_rules_and_inputs", flaky)

    async def scenario() -> None:
        reloader = asyncio.create_task(live.run(interval=3600))
        replace_file(path, rules_text(QUEUE_B))
        live.request_reload()
        await until(lambda: "a bug in the parser" in caplog.text, "the failed reload is logged")
        live.request_reload()
        await until(lambda: queue_in(live.current) == QUEUE_B, "the next reload works")
        reloader.cancel()

    asyncio.run(scenario())


def test_a_reload_compiles_with_a_short_thread_switch_interval(tmp_path, monkeypatch):
    """The event loop gets the interpreter back within 0.5 ms of asking while a reload compiles
    (the default 5 ms made every socket call wait, and answers fell tenfold during a large
    reload: `make bench`, "while reloading"); the interval is restored after."""
    import sys

    from decision.rules import live as live_module

    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE_RULES.read_text())
    rules = live_module.LiveRules(path, settle=0)
    seen: list[float] = []
    real = live_module.read_rules_and_inputs

    def recording(p):
        seen.append(sys.getswitchinterval())
        return real(p)

    monkeypatch.setattr(live_module, "read_rules_and_inputs", recording)
    before = sys.getswitchinterval()
    asyncio.run(rules.reload())
    assert seen == [live_module.RELOAD_SWITCH_INTERVAL]
    assert sys.getswitchinterval() == before

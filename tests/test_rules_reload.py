"""Hot reload: a valid file replaces the rules between requests, an invalid one never does."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from decision.client import BlockingDecisionClient
from decision.rules_file import LiveRules
from decision.v1 import decision_pb2
from plumbing.service_process import ServiceProcess

QUEUE_A = "aaaaaaaa-0000-4000-8000-000000000001"
QUEUE_B = "bbbbbbbb-0000-4000-8000-000000000002"


def rules_text(queue: str) -> str:
    return f'version = 1\n[[rules]]\nname = "all"\nthen = {{ queue = "{queue}" }}\n'


def replace_file(path: Path, text: str) -> None:
    """Writes the way editors and Kubernetes do: a new file renamed over the old one."""
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    os.replace(staging, path)


def test_live_rules_swap_and_refuse(tmp_path, caplog):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    live = LiveRules(path)
    first = live.current
    replace_file(path, rules_text(QUEUE_B))
    assert live.reload() is True
    assert live.current.version != first.version
    good = live.current
    replace_file(path, 'version = 1\n[[rules]]\nname = "x"\nthen = { queue = "nope" }\n')
    assert live.reload() is False
    assert live.current is good
    assert "then.queue: unknown queue name 'nope'" in caplog.text
    path.unlink()
    assert live.reload() is False
    assert live.current is good


@pytest.fixture
def reloading_service(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    service = ServiceProcess(
        "decision",
        ["serve", "--listen", "127.0.0.1:0", "--rules", str(path), "--watch-interval", "0.1"],
    )
    yield service, path
    service.stop()


def queue_of(client: BlockingDecisionClient) -> tuple[str, str]:
    reply = client.decide(decision_pb2.DecideRequest(phone_number="+447400123456"))
    return reply.patch.queue_id, reply.rules_version


def wait_for_queue(client: BlockingDecisionClient, queue: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while queue_of(client)[0] != queue:
        assert time.monotonic() < deadline, f"rules with {queue} never went live"
        time.sleep(0.05)


def test_service_picks_up_a_changed_file_and_keeps_good_rules_on_a_bad_one(reloading_service):
    service, path = reloading_service
    with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
        assert queue_of(client)[0] == QUEUE_A
        replace_file(path, rules_text(QUEUE_B))
        wait_for_queue(client, QUEUE_B)
        replace_file(path, "version = 1\n[[rules]]\nname = 'broken'\n")
        time.sleep(0.5)
        assert queue_of(client)[0] == QUEUE_B


def test_sighup_reloads_at_once(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(rules_text(QUEUE_A))
    # A watch interval of an hour: only SIGHUP can make the change visible.
    service = ServiceProcess(
        "decision",
        ["serve", "--listen", "127.0.0.1:0", "--rules", str(path), "--watch-interval", "3600"],
    )
    try:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            replace_file(path, rules_text(QUEUE_B))
            assert queue_of(client)[0] == QUEUE_A
            service.process.send_signal(signal.SIGHUP)
            wait_for_queue(client, QUEUE_B, seconds=2)
    finally:
        service.stop()


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
    for queue in (QUEUE_B, QUEUE_A, QUEUE_B, QUEUE_A):
        replace_file(path, rules_text(queue))
        time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(seen) == 2  # both versions served
    assert all(len(queues) == 1 for queues in seen.values())  # each version, one answer

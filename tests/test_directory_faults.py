"""A contact directory that breaks, hangs or is replaced never takes routing down: the caller is
"unknown" for that decision, with a note and a count, and a file replaced at the same path is
picked up without a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.directory.cached import CachedDirectory
from decision.directory.provider import ContactProvider
from tests.conftest import EXAMPLE_RULES, counted, wait_until
from tests.in_process import InProcessDecision
from tests.test_directory import ScriptedBackend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADA = decision_pb2.DecideRequest(phone_number="07400654321", country_code="+44")
STRANGER = decision_pb2.DecideRequest(phone_number="07400999999", country_code="+44")


def import_csv(db: Path, csv: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "decision", "contacts", "import", "--contacts", str(db), str(csv)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def directory_file(tmp_path) -> Path:
    db = tmp_path / "contacts.sqlite3"
    import_csv(db, EXAMPLES / "contacts.csv")
    return db


def test_garbage_in_the_directory_file_leaves_every_decision_made(services, directory_file):
    with InProcessDecision(services, EXAMPLE_RULES, contacts=str(directory_file)) as decision:
        client = BlockingDecisionClient(f"127.0.0.1:{decision.port}", timeout=5)
        assert client.decide(ADA).patch.callback_user_name == "Ada Lovelace"
        failures = counted("decision_directory_failures_total", reason="error")
        for part in directory_file.parent.glob(f"{directory_file.name}*"):
            with part.open("r+b") as raw:  # in place: the open files themselves go bad
                raw.write(b"\xde\xad\xbe\xef" * (part.stat().st_size // 4 + 1))
        services.run(_forget_cache(decision.directory))
        for request in (ADA, STRANGER):
            reply = client.decide(request)  # a decision, not INTERNAL
            assert reply.matched_rules == ["uk-mobile"]
            assert not reply.facts.contact_known
            assert "contact directory error: caller treated as unknown" in reply.notes
        assert counted("decision_directory_failures_total", reason="error") == failures + 2
        assert counted("decision_directory_up") == 0
        with pytest.raises(grpc.RpcError) as caught:
            client.lookup_contact("07400654321", "+44")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert caught.value.details() == "the contact directory is failing"
        client.close()


async def _forget_cache(directory: CachedDirectory | None) -> None:
    assert directory is not None
    directory._drop()  # what a change would do; the next lookup goes to the file


def test_a_directory_replaced_at_the_same_path_is_picked_up(services, directory_file, tmp_path):
    with InProcessDecision(services, EXAMPLE_RULES, contacts=str(directory_file)) as decision:
        client = BlockingDecisionClient(f"127.0.0.1:{decision.port}", timeout=5)
        assert not client.decide(STRANGER).facts.contact_known
        directory_file.unlink()  # delete + import: a new file where the old one was
        fresh = tmp_path / "fresh.csv"
        fresh.write_text("number,country,name,tier\n07400 999999,GB,Late Arrival,vip\n")
        import_csv(directory_file, fresh)
        wait_until(
            lambda: client.decide(STRANGER).patch.callback_user_name == "Late Arrival",
            "the replaced file is read",
        )
        assert not client.decide(ADA).facts.contact_known  # the old file's contacts are gone
        client.close()


def test_a_lookup_past_its_deadline_means_unknown_and_degraded():
    async def scenario() -> None:
        backend = ScriptedBackend()
        backend.hold = asyncio.Event()  # never set: the backend hangs
        directory = CachedDirectory(backend, lookup_timeout=0.05)
        changes: list[bool] = []
        provider = ContactProvider(directory=directory)
        provider.health.watch(changes.append)
        assert await provider.provide(ADA, "GB") == (
            None,
            "contact directory timeout: caller treated as unknown",
        )
        assert changes == [False]
        backend.hold.set()
        backend.hold = None
        assert await provider.provide(ADA, "GB") == (None, "")  # answers again (unknown number)
        assert changes == [False, True]
        await directory.close()

    asyncio.run(scenario())


def test_failures_are_logged_once_per_interval_not_per_lookup(caplog):
    now = [0.0]
    health = ContactProvider(directory=object(), log_interval=10, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="decision.directory"):
        for _ in range(50):
            health.failed(OSError("disk I/O error"))
        now[0] = 10.0
        health.failed(OSError("disk I/O error"))
    lines = [r for r in caplog.records if r.name == "decision.directory"]
    assert len(lines) == 2
    assert lines[1].failures_since_last_line == 50

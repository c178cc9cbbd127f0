"""Files the service and the commands create hold phone numbers and contacts: they are created
for their owner alone (0600), and a symbolic link in a directory file's place is refused, never
followed into another file."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.v1 import decision_pb2
from decision.decision_log.writer import DecisionLog
from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.sqlite import SqliteDirectory
from decision.engine import NO_FACTS, Contact
from tests.conftest import EXAMPLE_RULES, contacts_cli, start_decision

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems start with (022): it left every file readable by all (0644)."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_decision_log_is_created_for_its_owner_alone(tmp_path):
    path = tmp_path / "decisions.jsonl"
    decision_log = DecisionLog(str(path))
    decision_log.record(
        decision_pb2.DecideRequest(phone_number="+447400123456"),
        decision_pb2.DecideResponse(decision_id="d"),
        datetime.now(UTC),
        NO_FACTS,
        0.1,
    )
    decision_log.close()
    assert path.read_text().count("\n") == 1
    assert mode(path) == 0o600


def test_an_existing_decision_log_keeps_the_mode_it_was_given(tmp_path):
    """An operator who shares the log with a shipper's group says so once, with chmod."""
    path = tmp_path / "decisions.jsonl"
    path.touch()
    path.chmod(0o640)
    DecisionLog(str(path)).close()
    assert mode(path) == 0o640


def test_a_sqlite_directory_and_its_wal_are_created_for_their_owner_alone(tmp_path):
    path = tmp_path / "contacts.sqlite3"

    async def write_and_look() -> None:
        async with await open_directory(str(path)) as directory:
            await directory.write([ContactRecord("a", ("+447400111111",), Contact(name="Ada"))])
            companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert [p for p in companions if p.exists()] == companions  # WAL: both, while open
            assert [mode(p) for p in (path, *companions)] == [0o600] * 3

    asyncio.run(write_and_look())
    imported = tmp_path / "imported.sqlite3"
    assert (
        contacts_cli(
            "import", "--contacts", str(imported), str(EXAMPLES / "contacts.csv")
        ).returncode
        == 0
    )
    assert mode(imported) == 0o600


@pytest.mark.parametrize("target_exists", [True, False])
def test_contacts_import_refuses_a_symlink_in_place_of_the_directory(tmp_path, target_exists):
    """Import followed the link and wrote a directory into whatever it pointed at: an empty
    file (SQLite takes one for an empty database), or a new file wherever the link said."""
    target = tmp_path / "elsewhere" / "someone-elses-file"
    target.parent.mkdir()
    if target_exists:
        target.touch()
    link = tmp_path / "contacts.sqlite3"
    link.symlink_to(target)
    result = contacts_cli("import", "--contacts", str(link), str(EXAMPLES / "contacts.csv"))
    assert result.returncode == 1
    assert result.stderr == (
        f"{link}: not a contact directory (a symbolic link; give the file's own path)\n"
    )
    assert target.exists() == target_exists
    assert not target_exists or target.stat().st_size == 0
    assert sorted(p.name for p in target.parent.iterdir()) == (
        ["someone-elses-file"] if target_exists else []
    )


def test_serve_refuses_a_symlink_in_place_of_the_directory(tmp_path):
    target = tmp_path / "someone-elses-file"
    target.touch()
    link = tmp_path / "contacts.sqlite3"
    link.symlink_to(target)
    with (tmp_path / "decision.log").open("w") as log, pytest.raises(RuntimeError, match="with 2"):
        start_decision(EXAMPLE_RULES, "--contacts", str(link), stderr=log).stop()
    last = (tmp_path / "decision.log").read_text().splitlines()[-1]
    assert (
        last
        == f"decision: {link}: not a contact directory (a symbolic link; give the file's own path)"
    )
    assert target.stat().st_size == 0


def test_a_symlink_swapped_in_later_is_not_opened(tmp_path):
    """The service reopens a directory file replaced at the same path: not when the
    replacement is a link."""
    path = tmp_path / "contacts.sqlite3"

    async def scenario() -> None:
        directory = await SqliteDirectory.open(path)
        try:
            await directory.write([ContactRecord("a", ("+447400111111",), Contact(name="Ada"))])
            target = tmp_path / "other.sqlite3"
            target.touch()
            os.replace(path, tmp_path / "moved-away.sqlite3")
            path.symlink_to(target)
            with pytest.raises(DirectoryError, match="a symbolic link"):
                await directory._run(directory._changed)  # the reopen check, once
            assert target.stat().st_size == 0
            assert (await directory.lookup("+447400111111")).name == "Ada"  # the old file
        finally:
            await directory.close()

    asyncio.run(scenario())


def test_the_org_snapshot_is_created_for_its_owner_alone(tmp_path):
    """It holds every user's name and email; it was forced 0644 whatever the umask."""
    from decision.genesys.snapshot import write_snapshot
    from tests.test_genesys_rules import org

    path = tmp_path / "org.json"
    write_snapshot(org(), path)
    assert mode(path) == 0o600
    path.chmod(0o640)  # shared with a group, once: a new pull keeps it
    write_snapshot(org(client_id="client-2"), path)
    assert mode(path) == 0o640
    assert "client-2" in path.read_text()


def test_a_symbolic_link_in_the_decision_log_s_place_is_refused_not_followed(tmp_path):
    """The service appended every decision into whatever file the link pointed at."""
    victim = tmp_path / "v.txt"
    victim.write_text("someone else's file\n")
    link = tmp_path / "decisions.jsonl"
    link.symlink_to(victim)
    with pytest.raises(OSError, match="a symbolic link") as refused:
        DecisionLog(str(link))
    assert refused.value.strerror == "a symbolic link; give the file's own path ('-' for stdout)"
    assert victim.read_text() == "someone else's file\n"


def test_the_system_s_names_of_a_descriptor_are_still_followed(tmp_path):
    read_end, write_end = os.pipe()
    try:
        decision_log = DecisionLog(f"/dev/fd/{write_end}")  # a link to the pipe
        decision_log.record(
            decision_pb2.DecideRequest(phone_number="+447400123456"),
            decision_pb2.DecideResponse(decision_id="d"),
            datetime.now(UTC),
            NO_FACTS,
            0.1,
        )
        decision_log.close()
        assert b'"decision_id":"d"' in os.read(read_end, 65536)
    finally:
        os.close(read_end)
        os.close(write_end)

"""The directory interface: the factory, the cache every backend gets, the SQLite backend."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable

import pytest

from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.cached import CachedDirectory
from decision.directory.sqlite import SqliteDirectory
from decision.engine import Contact

ADA = "+447400654321"


class ScriptedBackend:
    """A backend whose lookups and word of changes the test controls."""

    def __init__(self) -> None:
        self.where = "scripted"
        self.contacts: dict[str, Contact] = {}
        self.lookups: list[str] = []
        self.hold: asyncio.Event | None = None  # when set, lookups wait for it
        self.changes: asyncio.Queue[None] = asyncio.Queue()
        self.closed = False

    async def lookup(self, e164: str) -> Contact | None:
        self.lookups.append(e164)
        answer = self.contacts.get(e164)
        if self.hold is not None:
            await self.hold.wait()
        return answer

    async def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        records = list(records)
        for record in records:
            for number in record.numbers:
                self.contacts[number] = record.contact
        return len(records)

    async def records(self) -> list[ContactRecord]:
        return []

    async def wait_for_change(self) -> None:
        await self.changes.get()

    async def close(self) -> None:
        self.closed = True


async def settle() -> None:
    """Lets the cache's watcher task run what is ready (no clock involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_cached_answers_never_reach_the_backend_until_it_says_the_data_changed():
    async def scenario() -> None:
        backend = ScriptedBackend()
        backend.contacts[ADA] = Contact(name="Ada")
        directory = CachedDirectory(backend)
        assert (await directory.lookup(ADA)).name == "Ada"
        assert await directory.lookup("+447400000000") is None  # "unknown" is cached too
        backend.contacts[ADA] = Contact(name="Ada Lovelace")  # changed behind the cache's back
        assert (await directory.lookup(ADA)).name == "Ada"
        assert await directory.lookup("+447400000000") is None
        assert backend.lookups == [ADA, "+447400000000"]
        backend.changes.put_nowait(None)
        await settle()
        assert (await directory.lookup(ADA)).name == "Ada Lovelace"
        assert backend.lookups == [ADA, "+447400000000", ADA]
        await directory.close()
        assert backend.closed

    asyncio.run(scenario())


def test_an_answer_that_straddles_a_change_is_not_cached():
    async def scenario() -> None:
        backend = ScriptedBackend()
        backend.contacts[ADA] = Contact(name="old")
        directory = CachedDirectory(backend)
        backend.hold = asyncio.Event()
        pending = asyncio.create_task(directory.lookup(ADA))
        await settle()
        assert backend.lookups == [ADA]  # read "old", not yet answered
        backend.changes.put_nowait(None)
        await settle()
        backend.hold.set()
        assert (await pending).name == "old"
        backend.contacts[ADA] = Contact(name="new")
        assert (await directory.lookup(ADA)).name == "new"
        await directory.close()

    asyncio.run(scenario())


def test_own_writes_are_seen_at_once():
    async def scenario() -> None:
        backend = ScriptedBackend()
        directory = CachedDirectory(backend)
        assert await directory.lookup(ADA) is None
        await directory.write([ContactRecord("k", (ADA,), Contact(name="Ada"))])
        assert (await directory.lookup(ADA)).name == "Ada"
        await directory.close()

    asyncio.run(scenario())


def open_error(spec: str) -> str:
    with pytest.raises(DirectoryError) as caught:
        asyncio.run(open_directory(spec))
    return str(caught.value)


def test_the_factory_says_what_it_cannot_open(tmp_path):
    unreachable = open_error("postgresql://router:s3cret@127.0.0.1:1/contacts")
    assert unreachable.startswith("postgresql://router@127.0.0.1:1/contacts: ")
    assert "s3cret" not in unreachable
    assert open_error("mysql://router:s3cret@db/contacts") == (
        "mysql:// is not a kind of contact directory; give a SQLite file path or a postgresql:// URL"
    )
    assert open_error("") == "no contact directory given: a SQLite file path or a postgresql:// URL"
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database, just some text that is long enough" * 100)
    assert open_error(str(not_sqlite)).startswith(f"{not_sqlite}: not a contact directory (")
    assert open_error(str(tmp_path)) == f"{tmp_path}: not a contact directory (not a file)"


def test_a_file_path_opens_sqlite_behind_the_cache(tmp_path):
    async def scenario() -> None:
        async with await open_directory(str(tmp_path / "new" / "c.sqlite3")) as directory:
            assert isinstance(directory.backend, SqliteDirectory)
            assert await directory.lookup(ADA) is None

    asyncio.run(scenario())
    assert (tmp_path / "new" / "c.sqlite3").is_file()


def test_upsert_then_replace(tmp_path):
    async def scenario() -> None:
        async with await open_directory(str(tmp_path / "c.sqlite3")) as directory:
            await directory.write([ContactRecord("k1", ("+447400000001",), Contact(tier="a"))])
            await directory.write([ContactRecord("k2", ("+447400000002",), Contact(tier="b"))])
            assert [r.key for r in await directory.records()] == ["k1", "k2"]
            # Moving a number to another contact leaves no contact without numbers behind.
            await directory.write([ContactRecord("k3", ("+447400000001",), Contact(tier="c"))])
            assert [r.key for r in await directory.records()] == ["k2", "k3"]
            await directory.write(
                [ContactRecord("k4", ("+447400000004",), Contact())], replace=True
            )
            assert [r.key for r in await directory.records()] == ["k4"]
            assert await directory.lookup("+447400000002") is None

    asyncio.run(scenario())


def test_a_newer_schema_is_a_clear_error(tmp_path):
    path = tmp_path / "c.sqlite3"

    async def create() -> None:
        await (await open_directory(str(path))).close()

    asyncio.run(create())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    assert "schema version 99 is newer than this code knows" in open_error(str(path))


def records_with_tier(tier: str, count: int) -> list[ContactRecord]:
    return [ContactRecord(f"k{i}", (f"+4474005{i:05d}",), Contact(tier=tier)) for i in range(count)]


def test_imports_during_lookups_are_all_or_nothing(tmp_path):
    """Two connections, as a `contacts import` and the service have: the reader's worker thread
    queries while the writer's replaces the directory, uncached."""
    path = tmp_path / "c.sqlite3"

    async def scenario() -> list[str | None]:
        writer = await SqliteDirectory.open(path)
        reader = await SqliteDirectory.open(path)
        await writer.write(records_with_tier("old", 3000))

        async def imports() -> None:
            for tier in ("new", "newer", "newest"):
                await writer.write(records_with_tier(tier, 3000), replace=True)

        importing = asyncio.create_task(imports())
        seen: list[str | None] = []
        while not importing.done():
            first = await reader.lookup("+447400500000")
            last = await reader.lookup("+447400502999")
            seen += [first and first.tier, last and last.tier]
        await importing
        assert (await reader.lookup("+447400500000")).tier == "newest"
        await writer.close()
        await reader.close()
        return seen

    tiers = asyncio.run(scenario())
    assert None not in tiers  # never the empty middle of a replace
    order = list(dict.fromkeys(tiers))
    assert order == [t for t in ("old", "new", "newer", "newest") if t in order]


def test_the_cache_picks_up_another_writers_import(tmp_path):
    path = str(tmp_path / "c.sqlite3")

    async def scenario() -> None:
        async with await open_directory(path) as service, await open_directory(path) as cli:
            assert await service.lookup(ADA) is None
            await cli.write([ContactRecord("k", (ADA,), Contact(name="Ada"))])
            # Polled, up to 30 s: the cache's own watcher of the file is what is tested.
            for _ in range(600):
                contact = await service.lookup(ADA)
                if contact is not None:
                    break
                await asyncio.sleep(0.05)
            assert contact is not None
            assert contact.name == "Ada"

    asyncio.run(scenario())

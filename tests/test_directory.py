"""The directory interface: the factory and the read cache every backend gets, over a scripted
backend. What every real backend keeps is test_directory_conformance.py; what one backend alone
does, test_sqlite_directory.py and test_postgres_directory.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.cached import CachedDirectory, weight
from decision.engine import Contact

ADA = "+447400654321"


class ScriptedBackend:
    """A backend whose lookups and word of changes the test controls."""

    def __init__(self) -> None:
        self.where = "scripted"
        self.reachable = True
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


def test_the_cache_is_bounded_in_bytes_not_only_in_entries():
    """Adversary round 4, F3: 100 contacts of 100,000 attributes each took the service past
    1.5 GB, all of them cached (the bound was 50,000 entries)."""

    async def scenario() -> None:
        backend = ScriptedBackend()
        wide = Contact(name="Wide", attributes={f"a{n}": "x" * 100 for n in range(1_000)})
        numbers = [f"+4474000{n:05d}" for n in range(200)]
        for number in numbers:
            backend.contacts[number] = wide
        directory = CachedDirectory(backend, max_bytes=4 * 1024 * 1024)
        for number in numbers:
            assert await directory.lookup(number) is wide
        held = len(directory._cache)
        assert 0 < held < len(numbers)  # before: all 200 (about 100 MB of text)
        assert directory._bytes <= 4 * 1024 * 1024
        assert sum(weight(c) for _, c, _ in directory._cache.values()) == directory._bytes
        await directory.lookup(numbers[-1])  # the newest are kept
        assert backend.lookups.count(numbers[-1]) == 1
        await directory.close()

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


def test_the_factory_says_what_it_cannot_open():
    """Specs that name no backend at all; what each backend says of a place it cannot open is
    in the contract (test_directory_conformance.py)."""
    assert open_error("mysql://router:s3cret@db/contacts") == (
        "mysql:// is not a kind of contact directory; give a SQLite file path or a postgresql:// URL"
    )
    assert open_error("") == "no contact directory given: a SQLite file path or a postgresql:// URL"

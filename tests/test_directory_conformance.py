"""The contract every contact directory backend keeps, run against each one through
`open_directory` (as Cerbos' storage `TestSuite(store)` and OPA's storage tests do): what is
written reads back, upserts and replaces, order, readers that create nothing, schema versions,
one-line errors that name the directory and never its password, and another writer's import
reaching a reader's cache.

A new backend adds its entry to the `backend` fixture (a function like `sqlite` below) and
nothing else here; what only one backend does is tested in its own module
(test_sqlite_directory.py, test_postgres_directory.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.cached import CachedDirectory
from decision.directory.postgres import PostgresDirectory
from decision.directory.sqlite import SqliteDirectory
from decision.engine import Contact
from tests.conftest import contacts_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADA = "+447400654321"
LATE = "+447400999999"
CSV_HEADER = "number,country,name,tier,contact_id\n"


@dataclass(frozen=True)
class BackendPlace:
    """Somewhere one backend keeps a directory, and what the suite may do to it from outside."""

    spec: str  # what open_directory is given: a fresh place, no directory there yet
    where: str  # how the directory names itself in messages and logs
    kind: type  # the backend open_directory picks for `spec`
    secret: str  # a password in `spec` that nothing may show ("" for a kind without one)
    unopenable: str  # a spec of this kind that cannot be opened ...
    unopenable_where: str  # ... and how it is named
    holds_directory: Callable[[], bool]  # whether a directory (its schema) is there
    make_empty_place: Callable[[], None]  # the place itself, without a directory in it
    set_schema_version: Callable[[int], None]  # as a newer version of this code would
    break_storage: Callable[[], None]  # the storage fails under a directory that is open

    @property
    def env(self) -> dict[str, str]:
        """How an operator gives the commands this directory: in the environment, the one place
        (with a file) a password may be; on the command line it is refused."""
        return {"DECISION_CONTACTS": self.spec}

    async def open(self, create: bool = True) -> CachedDirectory:
        """The directory here, through the factory. Its lookup deadline only bounds a hang: a
        loaded machine's first query (a pool still connecting) may well take longer than the
        service's 100 ms, and what a missed deadline does is test_directory_faults.py's."""
        return await open_directory(self.spec, lookup_timeout=30, create=create)


def sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> BackendPlace:
    path = tmp_path / "new" / "contacts.sqlite3"  # in a folder not there yet: made too
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just some text that is long enough" * 100)

    def connect() -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(path, isolation_level=None))

    def holds_directory() -> bool:
        if not path.is_file():
            return False
        # Read-only: looking must not make a database of an empty file.
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            found = "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
            return db.execute(found).fetchone() is not None

    def make_empty_place() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def set_schema_version(version: int) -> None:
        with connect() as db:
            db.execute("UPDATE schema_version SET version = ?", (version,))

    def break_storage() -> None:
        for part in path.parent.glob(f"{path.name}*"):  # the file, its WAL and shared memory
            with part.open("r+b") as raw:  # in place: the open files themselves go bad
                raw.write(b"\xde\xad\xbe\xef" * (part.stat().st_size // 4 + 1))

    return BackendPlace(
        spec=str(path),
        where=str(path),
        kind=SqliteDirectory,
        secret="",
        unopenable=str(text),
        unopenable_where=str(text),
        holds_directory=holds_directory,
        make_empty_place=make_empty_place,
        set_schema_version=set_schema_version,
        break_storage=break_storage,
    )


def postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> BackendPlace:
    # A database that sorts text as production servers usually do, not in the test cluster's C
    # order; a password the suite's trust-auth cluster lets in, so every test shows it hidden.
    url = request.getfixturevalue("postgres").new_database(icu_locale="en-US")
    secret = "S3cretPW"
    with_secret = url.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@", 1)
    missing = url.rsplit("/", 1)[0] + "/no_such_database"

    def execute(statement: str) -> list[tuple]:
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return BackendPlace(
        spec=with_secret,
        where=url,
        kind=PostgresDirectory,
        secret=secret,
        unopenable=missing.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@"),
        unopenable_where=missing,
        holds_directory=lambda: (
            execute("SELECT to_regclass('callback_router_schema')") != [(None,)]
        ),
        make_empty_place=lambda: None,  # the database is there, empty
        set_schema_version=lambda version: execute(
            f"UPDATE callback_router_schema SET version = {int(version)}"
        ),
        break_storage=lambda: execute("DROP TABLE contact_numbers, contacts"),
    )


@pytest.fixture(params=[sqlite, postgresql], ids=lambda entry: entry.__name__)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendPlace:
    """Each backend in turn, at a fresh place."""
    return request.param(request, tmp_path)


def assert_names_the_directory(error: BaseException, where: str, backend: BackendPlace) -> None:
    message = str(error)
    assert message.startswith(f"{where}: "), message
    assert "\n" not in message, message
    if backend.secret:
        assert backend.secret not in message, message


def record(key: str, *numbers: str, **fields: object) -> ContactRecord:
    return ContactRecord(key, numbers, Contact(**fields))  # type: ignore[arg-type]


def test_the_factory_opens_the_backend_behind_the_cache_and_makes_an_empty_directory(backend):
    async def scenario() -> None:
        async with await backend.open() as directory:
            assert isinstance(directory, CachedDirectory)
            assert isinstance(directory.backend, backend.kind)
            assert directory.where == backend.where
            assert await directory.lookup(ADA) is None
            assert await directory.records() == []

    assert not backend.holds_directory()
    asyncio.run(scenario())
    assert backend.holds_directory()


def test_a_reader_finds_no_directory_where_there_is_none_and_makes_none(backend):
    """Readers (export, explain) open with create=False: a place without a directory, missing
    or empty, is a one-line error and is left as it was. Why it is missing is the backend's to
    say (no such file); an empty place is "no schema" for every backend."""

    async def read() -> list[ContactRecord]:
        async with await backend.open(create=False) as directory:
            return await directory.records()

    for state in ("nothing there", "the place, empty"):
        with pytest.raises(DirectoryError) as refused:
            asyncio.run(read())
        assert_names_the_directory(refused.value, backend.where, backend)
        assert str(refused.value).startswith(f"{backend.where}: no contact directory there (")
        if state == "the place, empty":
            assert str(refused.value) == f"{backend.where}: no contact directory there (no schema)"
        assert not backend.holds_directory()
        exported = contacts_cli("export", env=backend.env)
        assert exported.returncode == 1
        assert exported.stderr == f"{refused.value}\n"
        assert not backend.holds_directory()
        backend.make_empty_place()

    async def write_then_read() -> list[ContactRecord]:
        async with await backend.open() as directory:
            await directory.write([record("ada", ADA, name="Ada")])
        return await read()

    assert [r.key for r in asyncio.run(write_then_read())] == ["ada"]


def test_what_is_written_reads_back_field_for_field(backend):
    ada = ContactRecord(
        "acme-ada",
        ("+447400654321", "+12025550100"),  # two numbers, given out of order
        Contact(
            name="Ada Lovelace",
            tier="vip",
            language="english",
            preferred_agents=("alice", "bob"),
            skills=("premium", "français"),
            attributes={"account": "ACME-001", "région": "Île-de-France", "note": 'a "quote"'},
        ),
    )
    plain = ContactRecord("+447400000002", ("+447400000002",), Contact())

    async def scenario() -> None:
        async with await backend.open() as directory:
            assert await directory.write([ada, plain]) == 2
            assert await directory.lookup("+447400654321") == ada.contact
            assert await directory.lookup("+12025550100") == ada.contact
            assert await directory.lookup("+447400000002") == Contact()
            assert await directory.lookup(LATE) is None
            assert await directory.lookup("") is None
            assert await directory.records() == [
                plain,  # by key: "+" sorts before "a"
                ContactRecord("acme-ada", ("+12025550100", "+447400654321"), ada.contact),
            ]

    asyncio.run(scenario())


def test_an_upsert_updates_by_key_and_a_replace_swaps_everything(backend):
    async def scenario() -> None:
        async with await backend.open() as directory:
            assert await directory.write([record("k1", "+447400000001", tier="a")]) == 1
            await directory.write([record("k2", "+447400000002", tier="b")])
            assert [r.key for r in await directory.records()] == ["k1", "k2"]
            await directory.write([record("k2", "+447400000002", tier="gold")])
            assert (await directory.lookup("+447400000002")).tier == "gold"
            # Moving a number to another contact leaves no contact without numbers behind.
            await directory.write([record("k3", "+447400000001", tier="c")])
            assert [r.key for r in await directory.records()] == ["k2", "k3"]
            assert (await directory.lookup("+447400000001")).tier == "c"
            assert await directory.write([record("k4", "+447400000004")], replace=True) == 1
            assert [r.key for r in await directory.records()] == ["k4"]
            assert await directory.lookup("+447400000002") is None
            assert await directory.write([], replace=True) == 0  # --allow-empty
            assert await directory.records() == []
            assert await directory.lookup("+447400000004") is None

    asyncio.run(scenario())


def test_a_write_takes_its_records_in_order_the_last_word_on_a_key_or_number_wins(backend):
    """The CSV reader never sends a key or a number twice, but the interface may be given one:
    every backend must read it the same way, as the records written one after another."""

    async def scenario() -> None:
        async with await backend.open() as directory:
            await directory.write(
                [
                    record("ada", "+447400000001", tier="standard"),
                    record("bea", "+447400000002", name="Bea"),
                    record("ada", "+447400000003", tier="vip"),  # the same key again
                    record("cy", "+447400000002", name="Cy"),  # Bea's number again
                ]
            )
            assert await directory.records() == [
                record("ada", "+447400000001", "+447400000003", tier="vip"),
                record("cy", "+447400000002", name="Cy"),  # Bea went with her only number
            ]

    asyncio.run(scenario())


def test_records_come_in_key_order_code_point_by_code_point(backend):
    """Export order is records() order: the same directory exports the same file whatever the
    backend, and whatever language its server sorts text in."""
    keys = ["c-1", "B", "a", "+447400000001", "_x", "Z", "été", "A-2", "a1", "a 2"]

    async def scenario() -> None:
        async with await backend.open() as directory:
            await directory.write(
                [record(key, f"+4474000001{i:02d}") for i, key in enumerate(keys)]
                + [record("several", "+447400000200", "+12025550100", "+33612345678")]
            )
            records = await directory.records()
            assert [r.key for r in records] == sorted([*keys, "several"])
            numbers = {r.key: r.numbers for r in records}["several"]
            assert numbers == ("+12025550100", "+33612345678", "+447400000200")

    asyncio.run(scenario())


class UpstreamFailure(Exception):
    """What a caller's record stream raises halfway (a CSV read failing, say)."""


def test_a_write_that_fails_halfway_changes_nothing(backend):
    before = [record("ada", ADA, name="Ada")]

    def failing_halfway() -> Iterator[ContactRecord]:
        yield record("bea", "+447400000002", name="Bea")
        yield record("ada", ADA, name="Ada, renamed")
        raise UpstreamFailure("the stream broke")

    async def scenario() -> None:
        async with await backend.open() as directory:
            await directory.write(before)
            for replace in (False, True):
                with pytest.raises(UpstreamFailure):
                    await directory.write(failing_halfway(), replace=replace)
                assert await directory.records() == before
                assert await directory.backend.lookup("+447400000002") is None
                assert (await directory.backend.lookup(ADA)).name == "Ada"

    asyncio.run(scenario())


def test_a_schema_from_a_newer_version_is_refused_in_one_line(backend):
    async def scenario() -> None:
        await (await backend.open()).close()
        backend.set_schema_version(99)
        for create in (True, False):
            with pytest.raises(DirectoryError) as refused:
                await backend.open(create=create)
            assert_names_the_directory(refused.value, backend.where, backend)
            assert "schema version 99 is newer than this code knows" in str(refused.value)

    asyncio.run(scenario())


def test_a_place_that_cannot_be_opened_is_one_line_naming_it_without_its_password(backend):
    for create in (True, False):
        with pytest.raises(DirectoryError) as refused:
            asyncio.run(open_directory(backend.unopenable, create=create))
        assert_names_the_directory(refused.value, backend.unopenable_where, backend)


def test_storage_failing_under_an_open_directory_is_one_line_naming_it(backend):
    async def scenario() -> None:
        async with await backend.open() as directory:
            await directory.write([record("ada", ADA, name="Ada")])
            backend.break_storage()
            for call in (
                lambda: directory.backend.lookup(ADA),  # under the cache, which might know Ada
                lambda: directory.write([record("bea", "+447400000002")]),
                directory.records,
            ):
                with pytest.raises(DirectoryError) as failed:
                    await call()
                assert_names_the_directory(failed.value, backend.where, backend)

    asyncio.run(scenario())


def test_own_writes_are_seen_at_once_through_the_cache(backend):
    async def scenario() -> None:
        async with await backend.open() as directory:
            assert await directory.lookup(ADA) is None  # cached as unknown
            await directory.write([record("ada", ADA, name="Ada")])
            assert (await directory.lookup(ADA)).name == "Ada"
            await directory.write([record("bea", LATE, name="Bea")], replace=True)
            assert await directory.lookup(ADA) is None

    asyncio.run(scenario())


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, attempts: int = 400
) -> None:
    """Polls `condition` every 50 ms; the 20 s only bound a failing test, and stay
    under the cache's 30 s TTL, so nothing but word of a change can make it hold."""
    for _ in range(attempts):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {attempts * 0.05:.0f} s: {what}")


def test_another_writers_import_reaches_a_readers_cache_without_a_restart(backend):
    """Two directories on one place, as the service and a `contacts import` (or two replicas)
    have: `wait_for_change` drops the reader's cache, for a new contact and a removed one."""

    async def scenario() -> None:
        async with (
            await backend.open() as reader,
            await backend.open() as writer,
        ):
            assert await reader.lookup(ADA) is None  # cached as unknown
            await writer.write([record("ada", ADA, name="Ada")])

            async def ada_known() -> bool:
                return await reader.lookup(ADA) is not None

            await eventually(ada_known, "the reader hears of Ada")
            assert (await reader.lookup(ADA)).name == "Ada"  # cached as known
            assert await reader.lookup(LATE) is None  # cached as unknown
            await writer.write([record("late", LATE, name="Late Arrival")], replace=True)

            async def swapped() -> bool:
                return await reader.lookup(ADA) is None and await reader.lookup(LATE) is not None

            await eventually(swapped, "the reader forgets Ada and hears of Late Arrival")
            assert (await reader.lookup(LATE)).name == "Late Arrival"

    asyncio.run(scenario())


def records_with_tier(tier: str, count: int) -> list[ContactRecord]:
    return [record(f"k{i}", f"+4474005{i:05d}", tier=tier) for i in range(count)]


def test_lookups_during_replaces_see_one_whole_directory_never_half_or_none(backend):
    """Two directories, as a `contacts import` and the service have: the reader's backend
    (uncached) is asked while the writer replaces the whole directory, again and again."""

    async def scenario() -> list[str | None]:
        async with (
            await backend.open() as writer,
            await backend.open() as reader,
        ):
            await writer.write(records_with_tier("old", 3000))

            async def imports() -> None:
                for tier in ("new", "newer", "newest"):
                    await writer.write(records_with_tier(tier, 3000), replace=True)

            importing = asyncio.create_task(imports())
            seen: list[str | None] = []
            while not importing.done():
                first = await reader.backend.lookup("+447400500000")
                last = await reader.backend.lookup("+447400502999")
                seen += [first and first.tier, last and last.tier]
            await importing
            assert (await reader.backend.lookup("+447400500000")).tier == "newest"
            return seen

    tiers = asyncio.run(scenario())
    assert None not in tiers  # never the empty middle of a replace
    order = list(dict.fromkeys(tiers))
    assert order == [t for t in ("old", "new", "newer", "newest") if t in order]


def test_the_contacts_commands_import_replace_and_export_the_same_file(backend, tmp_path):
    """The CLI over each backend: the export of the example file is the same text whichever
    backend holds it, a --replace swaps it whole, and the password is never printed."""
    imported = contacts_cli("import", str(EXAMPLES / "contacts.csv"), env=backend.env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"{backend.where}: upserted 2 contacts (3 numbers) in ")
    exported = contacts_cli("export", env=backend.env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (
        "number,country,name,tier,language,preferred_agents,skills,contact_id,account\n"
        "+447400654321,GB,Ada Lovelace,vip,english,alice,premium,acme-ada,ACME-001\n"
        "+447400654322,GB,Ada Lovelace,vip,english,alice,premium,acme-ada,ACME-001\n"
        "+12025550199,US,Grace Hopper,standard,english,,,navy-grace,NAVY-042\n"
    )
    late = tmp_path / "late.csv"
    late.write_text("number,country,name,tier\n07400 999999,GB,Late Arrival,vip\n")
    replaced = contacts_cli("import", "--replace", str(late), env=backend.env)
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith(f"{backend.where}: replaced with 1 contact (1 number)")
    after = contacts_cli("export", env=backend.env)
    assert after.stdout.splitlines()[1:] == [f"{LATE},GB,Late Arrival,vip,,,,{LATE}"]
    if backend.secret:
        for result in (imported, exported, replaced, after):
            assert backend.secret not in result.stdout + result.stderr


def test_one_number_for_two_contacts_in_a_file_is_refused_by_line(backend, tmp_path):
    """A number is the directory's key: a file giving it to two contacts (SQLite kept the last
    silently, PostgreSQL failed with a traceback) is a line-numbered error; nothing written."""
    first = tmp_path / "first.csv"
    first.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    assert contacts_cli("import", str(first), env=backend.env).returncode == 0
    clash = tmp_path / "clash.csv"
    clash.write_text(
        CSV_HEADER
        + "+447400222222,,Bea,,b\n"
        + "07400 333333,GB,Cy,,c\n"
        + "+447400333333,,Di,,d\n"  # Cy's number, written another way
    )
    result = contacts_cli("import", str(clash), env=backend.env)
    assert result.returncode == 1
    assert result.stderr == (
        f"{clash}:4: number +447400333333 is already contact 'c' (line 3); a number belongs to "
        "one contact\n"
    )
    exported = contacts_cli("export", env=backend.env)
    assert [row.split(",")[0] for row in exported.stdout.splitlines()[1:]] == ["+447400111111"]

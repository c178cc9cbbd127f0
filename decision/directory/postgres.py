"""The contact directory in PostgreSQL: one directory every decision replica shares.

Lookups go through a small async pool under their own deadline; an import is one transaction
(COPY into staging tables, then swap or upsert), so no replica sees half of one; each import
bumps a generation and NOTIFYs, and every replica drops its cache when it hears it, or at the
latest when its periodic check sees the generation move (a missed notification)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from decision.directory import ContactRecord, DirectoryError
from decision.directory.postgres_url import DirectoryUrl, read_url
from decision.engine import Contact
from plumbing.lifecycle import BackgroundTask

log = logging.getLogger("decision.directory")

SCHEMA_VERSION = 1
CHANNEL = "callback_router_contacts"
LOST_LOG_SECONDS = 60.0  # while the listener cannot reach the database, a line this often
_MIGRATION_LOCK = 0x0C0B_AC_01  # pg_advisory_xact_lock key: replicas migrate one at a time
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS callback_router_schema (version integer NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contacts (
        key              text PRIMARY KEY,
        name             text  NOT NULL DEFAULT '',
        tier             text  NOT NULL DEFAULT '',
        language         text  NOT NULL DEFAULT '',
        preferred_agents jsonb NOT NULL DEFAULT '[]',
        skills           jsonb NOT NULL DEFAULT '[]',
        attributes       jsonb NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS contact_numbers (
        e164        text PRIMARY KEY,
        contact_key text NOT NULL REFERENCES contacts(key) ON DELETE CASCADE)""",
    """CREATE INDEX IF NOT EXISTS contact_numbers_by_contact ON contact_numbers(contact_key)""",
    """CREATE TABLE IF NOT EXISTS contact_generation (generation bigint NOT NULL)""",
)
_CONTACT_COLUMNS = "key, name, tier, language, preferred_agents, skills, attributes"
_LOOKUP = (
    "SELECT c.name, c.tier, c.language, c.preferred_agents, c.skills, c.attributes "
    "FROM contact_numbers n JOIN contacts c ON c.key = n.contact_key WHERE n.e164 = %s"
)


def _contact(row: Sequence[Any]) -> Contact:
    name, tier, language, agents, skills, attributes = row
    return Contact(name, tier, language, tuple(agents), tuple(skills), attributes)


async def migrate(connection: psycopg.AsyncConnection, where: str, create: bool = True) -> None:
    """Creates (unless `create` is False) or upgrades the schema; refuses one written by a
    newer version."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        exists = await (
            await connection.execute("SELECT to_regclass('callback_router_schema')")
        ).fetchone()
        version = None
        if exists and exists[0]:
            row = await (
                await connection.execute("SELECT version FROM callback_router_schema")
            ).fetchone()
            version = row[0] if row else None
        if version is None and not create:
            raise DirectoryError(f"{where}: no contact directory there (no schema)")
        if version is not None and version > SCHEMA_VERSION:
            raise DirectoryError(
                f"{where}: contact directory schema version {version} is newer than this code "
                f"knows ({SCHEMA_VERSION}); upgrade callback-router or use another database"
            )
        if version is None or version < SCHEMA_VERSION:
            # Version 1 is the first schema; later versions add their steps here, in order.
            for statement in _SCHEMA:
                await connection.execute(statement)
            await connection.execute("DELETE FROM callback_router_schema")
            await connection.execute(
                "INSERT INTO callback_router_schema VALUES (%s)", (SCHEMA_VERSION,)
            )
            await connection.execute(
                "INSERT INTO contact_generation SELECT 0 "
                "WHERE NOT EXISTS (SELECT 1 FROM contact_generation)"
            )


class PostgresDirectory:
    """The backend (caching is the shared wrapper's job: `wait_for_change` tells it when)."""

    def __init__(
        self, url: str, check_interval: float = 5.0, pool_size: int = 4, create: bool = True
    ) -> None:
        """Raises DirectoryError, before any connection, for a URL libpq would misread or
        reject (`read_url`)."""
        self._url = read_url(url)  # before the pool: its log lines are redacted from the first
        self.url = url
        self.where = self._url.where
        self.check_interval = check_interval
        self._create = create
        self._migrated = False  # lookups wait for the schema check (a newer one is not read)
        self._changed = asyncio.Event()
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 5},
            reconnect_timeout=0,  # never give up: the database comes back, so must we
        )
        self._listener = BackgroundTask()
        self._generation: int | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        check_interval: float = 5.0,
        create: bool = True,
        start_unreachable: bool = False,
    ) -> PostgresDirectory:
        """Migrates the schema and starts listening for imports; DirectoryError when the
        database cannot be reached or holds a newer schema. `check_interval`: seconds between
        generation checks, the fallback for a notification lost with a connection.
        `start_unreachable`: a database that cannot be reached gives a directory that fails
        every lookup until the listener reaches it and migrates, instead of an error."""
        directory = cls(url, check_interval, create=create)
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=5
            ) as connection:
                await directory._migrate(connection)
        except psycopg.OperationalError as error:
            if not start_unreachable:
                raise DirectoryError(
                    f"{directory.where}: {_first_line(error, directory._url)}"
                ) from None
            log.warning(
                "contact directory unreachable at start: callers unknown until it answers",
                extra={"directory": directory.where, "error": _first_line(error, directory._url)},
            )
        except psycopg.Error as error:
            raise DirectoryError(
                f"{directory.where}: {_first_line(error, directory._url)}"
            ) from None
        await directory._pool.open(wait=False)
        directory._listener.start(directory._listen())
        return directory

    @property
    def reachable(self) -> bool:
        return self._migrated

    async def _migrate(self, connection: psycopg.AsyncConnection) -> None:
        if not self._migrated:
            await migrate(connection, self.where, self._create)
            self._migrated = True

    @contextlib.contextmanager
    def _named_failures(self) -> Iterator[None]:
        """The driver's errors as one-line DirectoryErrors naming the directory, no password."""
        try:
            yield
        except psycopg.Error as error:
            raise DirectoryError(f"{self.where}: {_first_line(error, self._url)}") from None

    async def lookup(self, e164: str) -> Contact | None:
        """Raises DirectoryError when the database fails: the caller's deadline and fallback
        decide what that means."""
        if not self._migrated:
            raise DirectoryError(f"{self.where}: not reached yet")
        with self._named_failures():
            async with self._pool.connection() as connection:
                cursor = await connection.execute(_LOOKUP, (e164,))
                row = await cursor.fetchone()
        return _contact(row) if row else None

    async def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        """One transaction: COPY into staging tables, then swap or upsert, bump the
        generation and notify every replica (NOTIFY is delivered at commit)."""
        with self._named_failures():
            return await self._write(records, replace)

    async def _write(self, records: Iterable[ContactRecord], replace: bool) -> int:
        count = 0
        async with self._pool.connection() as connection, connection.transaction():
            # `position`: the order the records came in, so that a key or a number given twice
            # takes its last value, as writing the records one by one would.
            await connection.execute(
                "CREATE TEMP TABLE staged_contacts (LIKE contacts, "
                "position bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP"
            )
            await connection.execute(
                "CREATE TEMP TABLE staged_numbers (LIKE contact_numbers, "
                "position bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP"
            )
            numbers: list[tuple[str, str]] = []
            async with connection.cursor().copy(
                f"COPY staged_contacts ({_CONTACT_COLUMNS}) FROM STDIN"
            ) as copy:
                for record in records:
                    c = record.contact
                    await copy.write_row(
                        (
                            record.key,
                            c.name,
                            c.tier,
                            c.language,
                            Jsonb(list(c.preferred_agents)),
                            Jsonb(list(c.skills)),
                            Jsonb(dict(c.attributes)),
                        )
                    )
                    numbers += [(number, record.key) for number in record.numbers]
                    count += 1
            async with connection.cursor().copy(
                "COPY staged_numbers (e164, contact_key) FROM STDIN"
            ) as copy:
                for row in numbers:
                    await copy.write_row(row)
            if replace:
                # DELETE, not TRUNCATE: readers keep reading the old rows until commit.
                await connection.execute("DELETE FROM contact_numbers")
                await connection.execute("DELETE FROM contacts")
            await connection.execute(
                f"INSERT INTO contacts ({_CONTACT_COLUMNS}) SELECT DISTINCT ON (key) "
                f"{_CONTACT_COLUMNS} FROM staged_contacts ORDER BY key, position DESC "
                "ON CONFLICT (key) DO UPDATE SET name = excluded.name, tier = excluded.tier, "
                "language = excluded.language, preferred_agents = excluded.preferred_agents, "
                "skills = excluded.skills, attributes = excluded.attributes"
            )
            await connection.execute(
                "INSERT INTO contact_numbers (e164, contact_key) SELECT DISTINCT ON (e164) "
                "e164, contact_key FROM staged_numbers ORDER BY e164, position DESC "
                "ON CONFLICT (e164) DO UPDATE SET contact_key = excluded.contact_key"
            )
            # A number moved to another contact can leave its old contact with none.
            await connection.execute(
                "DELETE FROM contacts c WHERE NOT EXISTS "
                "(SELECT 1 FROM contact_numbers n WHERE n.contact_key = c.key)"
            )
            cursor = await connection.execute(
                "UPDATE contact_generation SET generation = generation + 1 RETURNING generation"
            )
            bumped = await cursor.fetchone()
            # The schema is created with its one generation row, and nothing deletes it.
            assert bumped is not None, "contact_generation has no row"
            generation = bumped[0]
            await connection.execute(f"NOTIFY {CHANNEL}, '{int(generation)}'")
        return count

    async def records(self) -> list[ContactRecord]:
        """By key, then number, in code point order ("C"), as every backend gives them: the
        database's own collation (en_US on most servers) would sort `B` after `a`."""
        with self._named_failures():
            async with self._pool.connection() as connection:
                cursor = await connection.execute(
                    "SELECT c.key, c.name, c.tier, c.language, c.preferred_agents, c.skills, "
                    'c.attributes, array_agg(n.e164 ORDER BY n.e164 COLLATE "C") '
                    "FROM contacts c JOIN contact_numbers n ON n.contact_key = c.key "
                    'GROUP BY c.key ORDER BY c.key COLLATE "C"'
                )
                rows = await cursor.fetchall()
        return [
            ContactRecord(key, tuple(numbers), _contact(fields)) for key, *fields, numbers in rows
        ]

    async def _listen(self) -> None:
        """NOTIFY for speed, a periodic generation check for what a lost connection missed."""
        told: tuple[str, float] | None = None  # the loss last logged, and when
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5
                ) as connection:
                    await self._migrate(connection)  # a database unreachable at start
                    await connection.execute(f"LISTEN {CHANNEL}")
                    if told is not None:
                        log.info("contact directory listener back", extra={"directory": self.where})
                        told = None
                    while True:
                        await self._check_generation(connection)
                        async for _ in connection.notifies(timeout=self.check_interval):
                            break  # something changed: check (and drop caches) at once
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, DirectoryError) as error:  # DirectoryError: a newer schema
                problem, now = _first_line(error, self._url), time.monotonic()
                # It retries every second while the database is away: one line when the problem
                # starts or changes, then one a minute, not a line a second per replica.
                if told is None or told[0] != problem or now - told[1] >= LOST_LOG_SECONDS:
                    log.warning("contact directory listener lost: %s", problem)
                    told = (problem, now)
                self._generation = None  # whatever happened meanwhile, look again
                await asyncio.sleep(min(self.check_interval, 1.0))

    async def _check_generation(self, connection: psycopg.AsyncConnection) -> None:
        cursor = await connection.execute("SELECT generation FROM contact_generation")
        row = await cursor.fetchone()
        generation = row[0] if row else 0
        if generation != self._generation:
            self._generation = generation
            self._changed.set()

    async def wait_for_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def close(self) -> None:
        await self._listener.stop()
        await self._pool.close()


def _first_line(error: Exception, url: DirectoryUrl) -> str:
    """The driver's message, first line, with the URL's password blotted out wherever it shows."""
    return url.first_line(error)

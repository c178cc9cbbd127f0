"""The SQLite backend: one file in WAL mode, so an import is one transaction that lookups see all
of or none of, and never wait for. sqlite3 calls block, so every one of them runs on one worker
thread that owns the connection, never on the event loop.

The file holds callers' numbers and names: it is created for its owner alone (0600, whatever the
umask lets through; SQLite gives its -wal and -shm files the same mode), an existing file keeps
its mode, and a symbolic link in its place is refused, never followed (an import, often run by
a scheduler with more rights than the person who made the link, would write into the file it
points at, or create one wherever it says)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from decision.directory import ContactRecord, DirectoryError
from decision.engine import Contact

T = TypeVar("T")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    key              TEXT PRIMARY KEY,   -- the CSV's contact_id, or the contact's first number
    name             TEXT NOT NULL DEFAULT '',
    tier             TEXT NOT NULL DEFAULT '',
    language         TEXT NOT NULL DEFAULT '',
    preferred_agents TEXT NOT NULL DEFAULT '[]',  -- JSON list of agent ids or names
    skills           TEXT NOT NULL DEFAULT '[]',  -- JSON list of skill ids or names
    attributes       TEXT NOT NULL DEFAULT '{}'   -- JSON object of strings
);
CREATE TABLE IF NOT EXISTS numbers (
    e164        TEXT PRIMARY KEY,
    contact_key TEXT NOT NULL REFERENCES contacts(key) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS numbers_by_contact ON numbers(contact_key);
"""
_LOOKUP = (
    "SELECT c.name, c.tier, c.language, c.preferred_agents, c.skills, c.attributes "
    "FROM numbers n JOIN contacts c ON c.key = n.contact_key WHERE n.e164 = ?"
)
_UPSERT_CONTACT = (
    "INSERT INTO contacts (key, name, tier, language, preferred_agents, skills, attributes) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET name=excluded.name, "
    "tier=excluded.tier, language=excluded.language, "
    "preferred_agents=excluded.preferred_agents, skills=excluded.skills, "
    "attributes=excluded.attributes"
)
_UPSERT_NUMBER = (
    "INSERT INTO numbers (e164, contact_key) VALUES (?, ?) "
    "ON CONFLICT(e164) DO UPDATE SET contact_key=excluded.contact_key"
)
_RECORDS = (
    "SELECT c.key, c.name, c.tier, c.language, c.preferred_agents, c.skills, c.attributes, "
    "group_concat(n.e164, ' ') FROM contacts c JOIN numbers n ON n.contact_key = c.key "
    "GROUP BY c.key ORDER BY c.key"
)


def _contact_from_row(row: tuple) -> Contact:
    name, tier, language, agents, skills, attributes = row
    return Contact(
        name=name,
        tier=tier,
        language=language,
        preferred_agents=tuple(json.loads(agents)),
        skills=tuple(json.loads(skills)),
        attributes=json.loads(attributes),
    )


def _has_schema(db: sqlite3.Connection) -> bool:
    found = "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
    return db.execute(found).fetchone() is not None


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    version = None
    if _has_schema(db):
        version = db.execute("SELECT version FROM schema_version").fetchone()
    if version and version[0] > SCHEMA_VERSION:
        raise DirectoryError(
            f"{path}: contact directory schema version {version[0]} is newer than this "
            f"code knows ({SCHEMA_VERSION}); upgrade callback-router or use another file"
        )
    if version is None or version[0] < SCHEMA_VERSION:
        # Version 1 is the first schema; later versions add their steps here, in order.
        # Every statement is idempotent, so two processes migrating at once agree.
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")


def _refuse_unusual(path: Path) -> None:
    """Refuses a symbolic link (never followed) or anything but a regular file at `path`; a
    FIFO put in its place would hold the directory's thread for good."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise DirectoryError(f"{path}: cannot open the contact directory ({error})") from None
    if stat.S_ISLNK(mode):
        raise DirectoryError(
            f"{path}: not a contact directory (a symbolic link; give the file's own path)"
        )
    if not stat.S_ISREG(mode):
        raise DirectoryError(f"{path}: not a contact directory (not a file)")


def _create_private(path: Path) -> None:
    """An empty file for its owner alone, unless there is one already (kept as it is). O_EXCL
    creates, never follows a link: one put here since `_refuse_unusual` looked fails it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """`create` False: a file without the schema (an empty one, another program's database) is
    refused, untouched."""
    try:
        _refuse_unusual(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if create:
            _create_private(path)
        db = sqlite3.connect(path, isolation_level=None)
    except DirectoryError:
        raise
    except (OSError, sqlite3.Error) as error:
        raise DirectoryError(f"{path}: cannot open the contact directory ({error})") from None
    try:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        # Before WAL mode is set, which would already make a database of an empty file.
        if not create and not _has_schema(db):
            raise DirectoryError(f"{path}: no contact directory there (no schema)")
        db.execute("PRAGMA journal_mode=WAL")
        _migrate(db, path)
    except sqlite3.Error as error:
        db.close()
        raise DirectoryError(f"{path}: not a contact directory ({error})") from None
    except DirectoryError:
        db.close()
        raise
    return db


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` now (None while there is none)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


class SqliteDirectory:
    """A `DirectoryBackend` over one SQLite file; `open` it, from inside the event loop."""

    def __init__(
        self, path: Path, worker: ThreadPoolExecutor, poll_seconds: float, create: bool
    ) -> None:
        """Runs on `worker`, the thread that will own the connection."""
        self.path = path
        self.where = str(path)
        self.reachable = True  # a file: there or refused at open
        self._create = create
        self._db = _connect(path, create)
        self._file = _identity(path)
        self._worker = worker
        self._poll_seconds = poll_seconds
        # Read before the first lookup, so no commit after it can go unnoticed.
        self._data_version = self._current_data_version()

    @classmethod
    async def open(
        cls, path: str | Path, poll_seconds: float = 0.5, create: bool = True
    ) -> SqliteDirectory:
        """Creates (unless `create` is False) or migrates the file. `poll_seconds`: how often to
        ask SQLite whether another connection committed (its data_version), for
        `wait_for_change`."""
        path = Path(path)
        _refuse_unusual(path)
        if not create and not path.exists():
            raise DirectoryError(f"{path}: no contact directory there (no such file)")
        # One thread: an sqlite3 connection is used by one thread at a time, and it keeps
        # lookups in order behind a write made through this same directory.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="directory-sqlite")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                worker, cls, path, worker, poll_seconds, create
            )
        except BaseException:
            worker.shutdown()
            raise

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        """`work` on the connection's thread; SQLite's errors (a locked, broken or vanished
        file) as one-line DirectoryErrors naming the file."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, work, *args)
        except sqlite3.Error as error:
            raise DirectoryError(f"{self.path}: {error}") from None

    async def lookup(self, e164: str) -> Contact | None:
        """One indexed query."""
        return await self._run(self._lookup, e164)

    def _lookup(self, e164: str) -> Contact | None:
        row = self._db.execute(_LOOKUP, (e164,)).fetchone()
        return _contact_from_row(row) if row else None

    async def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        return await self._run(self._write, records, replace)

    def _write(self, records: Iterable[ContactRecord], replace: bool) -> int:
        count = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if replace:
                self._db.execute("DELETE FROM numbers")
                self._db.execute("DELETE FROM contacts")
            for record in records:
                c = record.contact
                self._db.execute(
                    _UPSERT_CONTACT,
                    (
                        record.key,
                        c.name,
                        c.tier,
                        c.language,
                        json.dumps(c.preferred_agents),
                        json.dumps(c.skills),
                        json.dumps(dict(c.attributes), sort_keys=True),
                    ),
                )
                self._db.executemany(_UPSERT_NUMBER, [(n, record.key) for n in record.numbers])
                count += 1
            # A number moved to another contact can leave its old contact with none.
            self._db.execute(
                "DELETE FROM contacts WHERE key NOT IN (SELECT contact_key FROM numbers)"
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return count

    async def records(self) -> list[ContactRecord]:
        return await self._run(self._records)

    def _records(self) -> list[ContactRecord]:
        return [
            ContactRecord(key, tuple(sorted(numbers.split())), _contact_from_row(fields))
            for key, *fields, numbers in self._db.execute(_RECORDS)
        ]

    async def wait_for_change(self) -> None:
        """SQLite's data_version changes when another connection (a `contacts import` in another
        process) commits; a file replaced at the same path (deleted, then imported anew) is a
        new file to open. Both are polled, off the loop, every `poll_seconds`."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            if await self._run(self._changed):
                return

    def _changed(self) -> bool:
        current = _identity(self.path)
        if current is not None and current != self._file:
            fresh = _connect(self.path, self._create)  # DirectoryError leaves the old file in use
            self._db.close()
            self._db, self._file = fresh, current
            self._data_version = self._current_data_version()
            return True
        version = self._current_data_version()
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    def _current_data_version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    async def close(self) -> None:
        await self._run(self._db.close)
        self._worker.shutdown()

"""The contact directory: who is calling, keyed by E.164 number, in an embedded SQLite file.

`ContactDirectory` is the whole interface the service uses; `SqliteDirectory` implements it.
A PostgreSQL implementation for replicas that share one directory needs the same four methods."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from decision.engine import Contact

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


class DirectoryError(RuntimeError):
    """A directory this code cannot use (e.g. written by a newer version)."""


@dataclass(frozen=True)
class ContactRecord:
    """A contact as stored: its key, numbers and fields."""

    key: str
    numbers: tuple[str, ...]
    contact: Contact = field(default_factory=Contact)


class ContactDirectory(Protocol):
    def lookup(self, e164: str) -> Contact | None: ...

    def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int: ...

    def records(self) -> Iterator[ContactRecord]: ...

    def close(self) -> None: ...


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


class SqliteDirectory:
    """SQLite in WAL mode: an import is one transaction, so a lookup sees the directory
    before it or after it, never half of it, and lookups are not blocked while it runs.

    Lookups are on the request path, so answers are cached in memory (bounded, with a TTL);
    the cache is dropped as soon as SQLite's data_version says another connection committed,
    so an import is visible at the next decision without a restart."""

    def __init__(self, path: str | Path, cache_size: int = 50_000, ttl: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()  # one connection, used from the loop and from CLI threads
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()
        self._cache: OrderedDict[str, tuple[float, Contact | None]] = OrderedDict()
        self._cache_size = cache_size
        self._ttl = ttl
        self._data_version = self._current_data_version()

    def _migrate(self) -> None:
        row = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        version = self._db.execute("SELECT version FROM schema_version").fetchone() if row else None
        if version and version[0] > SCHEMA_VERSION:
            raise DirectoryError(
                f"{self.path}: contact directory schema version {version[0]} is newer than this "
                f"code knows ({SCHEMA_VERSION}); upgrade callback-router or use another file"
            )
        if version is None or version[0] < SCHEMA_VERSION:
            # Version 1 is the first schema; later versions add their steps here, in order.
            # Every statement is idempotent, so two processes migrating at once agree.
            self._db.executescript(_SCHEMA)
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM schema_version")
            self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            self._db.execute("COMMIT")

    def _current_data_version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def lookup(self, e164: str) -> Contact | None:
        """One indexed query at most; usually a dictionary hit."""
        if not e164:
            return None
        now = time.monotonic()
        with self._lock:
            version = self._current_data_version()
            if version != self._data_version:
                self._cache.clear()
                self._data_version = version
            hit = self._cache.get(e164)
            if hit is not None and hit[0] > now:
                return hit[1]
            row = self._db.execute(
                "SELECT c.name, c.tier, c.language, c.preferred_agents, c.skills, c.attributes "
                "FROM numbers n JOIN contacts c ON c.key = n.contact_key WHERE n.e164 = ?",
                (e164,),
            ).fetchone()
            contact = _contact_from_row(row) if row else None
            self._cache[e164] = (now + self._ttl, contact)
            self._cache.move_to_end(e164)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return contact

    def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        """Upserts contacts (or, with `replace`, swaps the whole directory) in one transaction."""
        count = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    self._db.execute("DELETE FROM numbers")
                    self._db.execute("DELETE FROM contacts")
                for record in records:
                    c = record.contact
                    self._db.execute(
                        "INSERT INTO contacts (key, name, tier, language, preferred_agents, "
                        "skills, attributes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO "
                        "UPDATE SET name=excluded.name, tier=excluded.tier, "
                        "language=excluded.language, preferred_agents=excluded.preferred_agents, "
                        "skills=excluded.skills, attributes=excluded.attributes",
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
                    self._db.executemany(
                        "INSERT INTO numbers (e164, contact_key) VALUES (?, ?) "
                        "ON CONFLICT(e164) DO UPDATE SET contact_key=excluded.contact_key",
                        [(number, record.key) for number in record.numbers],
                    )
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

    def records(self) -> Iterator[ContactRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT c.key, c.name, c.tier, c.language, c.preferred_agents, c.skills, "
                "c.attributes, group_concat(n.e164, ' ') FROM contacts c "
                "JOIN numbers n ON n.contact_key = c.key GROUP BY c.key ORDER BY c.key"
            ).fetchall()
        for key, *fields, numbers in rows:
            yield ContactRecord(key, tuple(sorted(numbers.split())), _contact_from_row(fields))

    def close(self) -> None:
        self._db.close()

"""The contact directory: who is calling, keyed by E.164 number, behind one async interface.

`ContactDirectory` is what the service, the CLI and `make run` use; each backend is a module
beside this one (`sqlite.py`, `postgres.py`) implementing `DirectoryBackend`; `open_directory`
picks the backend from what the user gives and wraps it in the read cache every backend shares
(`cached.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

from decision.directory.cached import CachedDirectory
from decision.engine import Contact

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A PostgreSQL connection string that is not a URL (libpq's `key=value` form, a `postgresql:`
# short of its `//`) would otherwise be taken for a file name: created, and echoed, password and
# all.
_NOT_A_URL = re.compile(r"(^|\s)[A-Za-z_]+\s*=|^postgres(ql)?:(?!//)", re.IGNORECASE)
# A password in a URL: `user:password@` (the `@` may be the password's own), or a `password=`
# parameter. Read generously: taking a URL for one with a password only refuses it on argv.
# `sslpassword` (the client key's) is one too.
_PASSWORD = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^@]*@|[?&](?:ssl)?password=", re.IGNORECASE
)


class DirectoryError(RuntimeError):
    """A directory this code cannot open or use (a newer schema, not a database, unknown kind)."""


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact as stored: its key, numbers and fields."""

    key: str
    numbers: tuple[str, ...]
    contact: Contact = field(default_factory=Contact)


class ContactDirectory(Protocol):
    """What callers use. Every method may wait on the backend; none blocks the event loop."""

    async def lookup(self, e164: str) -> Contact | None: ...

    async def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        """Upserts contacts (with `replace`: swaps the whole directory) all at once or not at
        all; returns how many contacts were written. Records count in order: a key or a number
        given twice takes its last."""
        ...

    async def records(self) -> list[ContactRecord]:
        """Every contact by key, each with its numbers, both in code point order."""
        ...

    async def close(self) -> None: ...


class DirectoryBackend(ContactDirectory, Protocol):
    """What a backend implements: the interface, uncached, plus word of other writers."""

    where: str  # the directory's name for messages and logs: never a password

    @property
    def reachable(self) -> bool:
        """False while a database unreachable at start has not answered yet (lookups fail)."""
        ...

    async def wait_for_change(self) -> None:
        """Returns once another writer (another process, another replica) may have changed the
        data since the last return, so the cache must be dropped."""
        ...


def backend_name(spec: str) -> str:
    """Which backend `spec` names ("sqlite", "postgresql"), for metrics; never any of `spec`."""
    scheme = _URL_SCHEME.match(spec)
    if scheme is None:
        return "sqlite"
    kind = scheme[1].lower()
    return "postgresql" if kind in ("postgresql", "postgres") else "unknown"


def carries_password(spec: str) -> bool:
    """Whether `spec` holds a password: a URL's `user:password@` or `password=` (or
    `sslpassword=`), or a connection string (libpq's `key=value` form) that mentions one.
    libpq decodes a URL's query keywords, so `?pass%77ord=` is read as `?password=` too."""
    decoded = unquote(spec)
    return bool(
        _PASSWORD.search(spec)
        or _PASSWORD.search(decoded)
        or (_NOT_A_URL.search(spec) and "password" in decoded.lower())
    )


async def open_directory(
    spec: str, lookup_timeout: float = 0.1, create: bool = True, start_unreachable: bool = False
) -> CachedDirectory:
    """The directory `spec` names, cached: a file path is SQLite, a postgresql:// URL
    PostgreSQL. `create`: an empty directory where there is none (a file, a schema); readers
    say False. `start_unreachable`: a database server that cannot be reached yet gives a
    directory whose lookups fail until it answers (the service, which routes without contacts)
    rather than an error (the commands). Raises DirectoryError with a one-line reason. Call
    inside the event loop that will use the directory."""
    return CachedDirectory(
        await _open_backend(spec, create, start_unreachable), lookup_timeout=lookup_timeout
    )


async def _open_backend(spec: str, create: bool, start_unreachable: bool) -> DirectoryBackend:
    if not spec:
        raise DirectoryError(
            "no contact directory given: a SQLite file path or a postgresql:// URL"
        )
    scheme = _URL_SCHEME.match(spec)
    # Backends are imported only when asked for, so a database driver is needed only by those
    # who use that database. A new backend adds its branch here, its module beside this one and
    # its entry in the conformance suite's `backend` fixture (tests/test_directory_conformance.py).
    if scheme is None and _NOT_A_URL.search(spec):
        raise DirectoryError(
            "the contact directory looks like a PostgreSQL connection string, not a URL (not "
            "shown: it may hold a password); write it as postgresql://user:password@host:5432/db"
        )
    if scheme is None:
        from decision.directory.sqlite import SqliteDirectory

        return await SqliteDirectory.open(spec, create=create)
    # Only the scheme is ever echoed: a URL may carry a password.
    kind = scheme[1].lower()
    if kind in ("postgresql", "postgres"):
        from decision.directory.postgres import PostgresDirectory

        return await PostgresDirectory.open(
            spec, create=create, start_unreachable=start_unreachable
        )
    raise DirectoryError(
        f"{kind}:// is not a kind of contact directory; give a SQLite file path or a "
        "postgresql:// URL"
    )

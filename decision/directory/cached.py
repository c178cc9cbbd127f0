"""The read cache every directory backend gets: lookups are on the Decide path, so a number seen
recently is answered from memory without leaving the event loop; the cache is dropped on our own
writes and whenever the backend says another writer changed the data."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from decision.engine import Contact
from plumbing.lifecycle import BackgroundTask

if TYPE_CHECKING:  # the package imports this module: no import back at run time
    from decision.directory import ContactRecord, DirectoryBackend

log = logging.getLogger("decision.directory")
WATCH_RETRY_SECONDS = 1.0
# What the cached contacts may weigh together (their text, counted generously): entries alone
# bounded nothing when contacts are wide (100 contacts of 100,000 attributes took the service
# past 1.5 GB).
MAX_CACHED_BYTES = 32 * 1024 * 1024
ENTRY_OVERHEAD = 400  # an entry's dict slot, tuple, Contact and empty containers


def weight(contact: Contact | None) -> int:
    """Bytes a cached answer is counted for: its text at up to 4 bytes a character, plus the
    entry's own."""
    if contact is None:
        return ENTRY_OVERHEAD
    text = len(contact.name) + len(contact.tier) + len(contact.language)
    text += sum(map(len, contact.preferred_agents)) + sum(map(len, contact.skills))
    text += sum(len(k) + len(v) for k, v in contact.attributes.items())
    items = len(contact.preferred_agents) + len(contact.skills) + 2 * len(contact.attributes)
    return ENTRY_OVERHEAD + 4 * text + 64 * items


class CachedDirectory:
    """A `ContactDirectory` over a backend. Answers, "unknown" included, are kept for `ttl`
    seconds at most (bounded, oldest first out); the TTL only bounds staleness should word of a
    change be lost. Built inside the running event loop, which watches the backend for changes."""

    def __init__(
        self,
        backend: DirectoryBackend,
        size: int = 50_000,
        ttl: float = 30.0,
        lookup_timeout: float = 0.1,
        max_bytes: int = MAX_CACHED_BYTES,
    ) -> None:
        """`lookup_timeout`: the deadline of one backend lookup (a miss), inside the decision's
        own budget; past it the lookup raises TimeoutError, which callers treat as unknown."""
        self.backend = backend
        self.where = backend.where
        self._size = size
        self._ttl = ttl
        self._lookup_timeout = lookup_timeout
        self._max_bytes = max_bytes
        self._bytes = 0
        # number -> (expiry, answer, its weight)
        self._cache: OrderedDict[str, tuple[float, Contact | None, int]] = OrderedDict()
        self._generation = 0  # bumped on every drop, so a lookup begun before one is not kept
        self._watcher = BackgroundTask()
        self._watcher.start(self._drop_on_change())

    async def lookup(self, e164: str) -> Contact | None:
        """A dictionary hit, or one backend query."""
        if not e164:
            return None
        now = time.monotonic()
        hit = self._cache.get(e164)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        async with asyncio.timeout(self._lookup_timeout):
            contact = await self.backend.lookup(e164)
        if generation == self._generation:
            self._keep(e164, now + self._ttl, contact)
        return contact

    def _keep(self, e164: str, expiry: float, contact: Contact | None) -> None:
        old = self._cache.pop(e164, None)
        if old is not None:
            self._bytes -= old[2]
        cost = weight(contact)
        if cost > self._max_bytes:
            return  # never worth the room
        self._cache[e164] = (expiry, contact, cost)
        self._bytes += cost
        while len(self._cache) > self._size or self._bytes > self._max_bytes:
            self._bytes -= self._cache.popitem(last=False)[1][2]

    async def write(self, records: Iterable[ContactRecord], replace: bool = False) -> int:
        count = await self.backend.write(records, replace)
        self._drop()
        return count

    async def records(self) -> list[ContactRecord]:
        return await self.backend.records()

    async def close(self) -> None:
        await self._watcher.stop()
        await self.backend.close()

    async def __aenter__(self) -> CachedDirectory:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _drop(self) -> None:
        self._cache.clear()
        self._bytes = 0
        self._generation += 1

    async def _drop_on_change(self) -> None:
        """Runs for the directory's life: a backend that cannot tell (a broken file, a database
        down) drops the cache and is asked again, so no failure ends the watching."""
        while True:
            try:
                await self.backend.wait_for_change()
            except Exception as error:
                log.warning(
                    "cannot watch the contact directory for changes; trying again",
                    extra={"error": f"{type(error).__name__}: {error}"[:200]},
                )
                await asyncio.sleep(WATCH_RETRY_SECONDS)
            self._drop()

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
    ) -> None:
        """`lookup_timeout`: the deadline of one backend lookup (a miss), inside the decision's
        own budget; past it the lookup raises TimeoutError, which callers treat as unknown."""
        self.backend = backend
        self.where = backend.where
        self._size = size
        self._ttl = ttl
        self._lookup_timeout = lookup_timeout
        self._cache: OrderedDict[str, tuple[float, Contact | None]] = OrderedDict()
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
            self._cache[e164] = (now + self._ttl, contact)
            self._cache.move_to_end(e164)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return contact

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

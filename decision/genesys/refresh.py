"""Keeps the org snapshot the rules name fresh from inside the service (`decision serve
--genesys-refresh 15m`): a background component that pulls the org at that interval and writes
the snapshot atomically where the rules file names it, so the rules watcher loads it as it would
a snapshot copied there by hand. Never on a decision's path; a failed pull keeps the last good
snapshot live, logs one line per change of state (not per failure), and shows in its own gRPC
health (`callback-router.genesys`), `decision_genesys_refresh_up` and the snapshot's age."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter, Gauge

from decision.genesys.api import GenesysApi, GenesysError
from decision.genesys.snapshot import SnapshotError, pull, write_snapshot
from decision.rules.live import LiveRules
from plumbing.lifecycle import BackgroundTask, Health

log = logging.getLogger("decision.genesys")
HEALTH_NAME = "callback-router.genesys"

# Labelled by the rules file: a service that does not refresh has no sample (an alert on 0 would
# otherwise fire for every service that runs on a committed snapshot).
REFRESH_UP = Gauge(
    "decision_genesys_refresh_up",
    "1 while pulls of the org snapshot succeed, 0 while they fail (no sample: no refresh)",
    ["rules"],
)
PULLS = Counter("decision_genesys_pulls_total", "Pulls of the org snapshot, by result", ["result"])
SNAPSHOT_AGE = Gauge(
    "decision_genesys_snapshot_age_seconds",
    "Age of the org snapshot the live rules were compiled with (NaN: they name none)",
)


def snapshot_path(rules: LiveRules) -> Path | None:
    """Where a pull goes: the service's own snapshot file when it has one (--genesys-snapshot),
    else the org snapshot the live rules name, if they name one."""
    if rules.fresher_snapshot is not None and snapshot_named(rules):
        return rules.fresher_snapshot
    for taken in rules.current.inputs:
        if taken.path and taken.name.startswith("genesys snapshot"):
            return Path(taken.path)
    return None


def snapshot_named(rules: LiveRules) -> bool:
    return any(t.name.startswith("genesys snapshot") for t in rules.current.inputs)


def watch_snapshot_age(
    rules: LiveRules, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    """The age gauge reads the live rules at every scrape."""

    def age() -> float:
        for taken in rules.current.inputs:
            if taken.taken_at is not None:
                return (now() - taken.taken_at).total_seconds()
        return math.nan

    SNAPSHOT_AGE.set_function(age)


class SnapshotRefresher:
    """A background component; `make_api` builds a client for each pull (a fresh token)."""

    name = "genesys snapshot refresh"

    def __init__(
        self,
        rules: LiveRules,
        interval: float,
        make_api: Callable[[], tuple[GenesysApi, str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.interval = interval
        self.make_api = make_api
        self.health: Health = Health(HEALTH_NAME, REFRESH_UP.labels(str(rules.path)))
        self.last_error = ""
        self._clock = clock
        self._task = BackgroundTask()
        self._told_no_snapshot = False

    async def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()

    def on_reload_signal(self) -> None:
        """Nothing: the rules watcher rereads the snapshot with the rules."""

    async def _run(self) -> None:
        """A first pull at once (a new pod starts from the committed snapshot), then one every
        interval."""
        while True:
            try:
                await self.refresh()
            except Exception:  # a bug must not end the refreshing for the life of the process
                log.exception("org snapshot refresh failed unexpectedly")
            await asyncio.sleep(self.interval)

    async def refresh(self) -> bool:
        """One pull; True when a new snapshot was written (the watcher then loads it)."""
        target = snapshot_path(self.rules)
        if target is None:
            if not self._told_no_snapshot:
                log.warning(
                    "--genesys-refresh is set but the live rules name no [genesys] snapshot: "
                    "nothing to refresh"
                )
                self._told_no_snapshot = True
            return False
        self._told_no_snapshot = False
        started = self._clock()
        try:
            api, region = self.make_api()
        except ValueError as error:  # settings that make no client
            self._failed(str(error))
            return False
        try:
            document = await pull(api, region)
        except GenesysError as error:
            self._failed(str(error))
            return False
        finally:
            await api.close()
        try:
            await asyncio.to_thread(write_snapshot, document, target)
        except OSError as error:
            self._failed(f"cannot write {target}: {error.strerror}")
            return False
        except SnapshotError as error:  # an org the service could not read back
            self._failed(str(error))
            return False
        PULLS.labels("ok").inc()
        if not self.health.ok:
            log.info("org snapshot pulled again", extra={"file": str(target)})
        self.health.set(True)
        self.last_error = ""
        log.info(
            "org snapshot pulled",
            extra={
                "file": str(target),
                "requests": api.requests,
                "seconds": round(self._clock() - started, 1),
            },
        )
        self.rules.request_reload()
        return True

    def _failed(self, error: str) -> None:
        PULLS.labels("failed").inc()
        if error != self.last_error:  # one line per change of state, not per failure
            log.warning("org snapshot not pulled, keeping the last one: %s", error)
        self.last_error = error
        self.health.set(False)

"""The live rule set, read from a file and replaced atomically when the file changes.

Reading and compiling run in a worker thread, so even a large file never stops the event loop from
answering. Reload requests (SIGHUP, a changed file) coalesce into one reloader. A file that changed
less than `settle` seconds ago is not read yet, so a slow, non-atomic copy never goes live
half-written; `decision install` replaces the file in one rename."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from decision.engine import RulesError, RuleSet, RulesInput, parse_rules
from decision.engine.schedules import groups_from_snapshot
from decision.genesys.names import OrgNames, UnreadOrg
from decision.genesys.snapshot import (
    SnapshotError,
    parse_snapshot,
    pulled_at,
    read_snapshot_text,
)
from decision.genesys.snapshot import digest as snapshot_digest
from plumbing.files import NotRegularFile, read_regular_file
from plumbing.lifecycle import BackgroundTask

log = logging.getLogger("decision.rules")
RELOADS = Counter("decision_rules_reloads_total", "Rules file reloads, by result", ["result"])
RULES_VERSION = Gauge(
    "decision_rules_info", "The live rules: 1 for the version in force", ["version", "source"]
)

# What says "the file changed": modification time, size and inode (a rename brings a new inode).
Stamp = tuple[int, int, int]


# The largest rules file supported: about 12,000 rules of the usual size (`make bench`'s 10,000
# are 1.6 MB). A file this size still fits the console's replies (GetRules carries it whole,
# under gRPC's 4 MiB message limit) and compiles in seconds, off the event loop.
MAX_RULES_BYTES = 2 * 1024 * 1024


def read_rules_text(path: str | Path) -> str:
    """The file's text as the service reads it (the rules version is a hash of this text)."""
    try:
        # A FIFO put in its place would hold the reload thread (and the exit that waits for
        # it) forever: read only a regular file.
        try:
            data = read_regular_file(path, MAX_RULES_BYTES)
        except NotRegularFile:
            raise RulesError(str(path), ["cannot read: not a regular file"]) from None
        if len(data) > MAX_RULES_BYTES:
            raise RulesError(
                str(path),
                [
                    f"larger than the supported size of {MAX_RULES_BYTES // 2**20} MiB "
                    "(about 12,000 rules)"
                ],
            )
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(str(path), [f"cannot read: {error}"]) from None


class RulesInputs:
    """Reads what a rules file names beside itself (`[genesys] snapshot = "org.json"`, a path
    relative to the rules file) into RulesInputs for the engine, and remembers each file it
    read or tried, for the watcher."""

    def __init__(self, rules_path: Path, fresher: Path | None = None) -> None:
        """`fresher`: where the service keeps its own pulls of the snapshot (writable, unlike a
        mounted ConfigMap); read instead of the file the rules name once it exists."""
        self.rules_path = rules_path
        self.fresher = fresher
        self.paths: list[Path] = []

    def __call__(self, table: Any) -> tuple[list[RulesInput], list[str]]:
        if not isinstance(table, dict):
            return [], ['genesys: expected a table: [genesys] snapshot = "org.json"']
        problems = [
            f"genesys.{key}: unknown key (known: snapshot, emergency_groups)"
            for key in table
            if key not in ("snapshot", "emergency_groups")
        ]
        name = table.get("snapshot")
        if not isinstance(name, str) or not name:
            return [], [*problems, 'genesys.snapshot: expected a path such as "org.json"']
        path = self.rules_path.parent / name
        if self.fresher is not None:
            self.paths.append(self.fresher)  # watched while missing: its first pull is read
            if self.fresher.exists():
                path = self.fresher
        self.paths.append(path)
        try:
            text = read_snapshot_text(path)
            document = parse_snapshot(text, str(path))
        except SnapshotError as error:
            # The rules are refused for this line; the names they give are then told as not
            # checkable, not as missing from [names.*] (which reads as if the name were wrong).
            unread = RulesInput(f"genesys snapshot {name}", "", UnreadOrg(str(path)))
            return [unread], [*problems, f"genesys.snapshot: {error}"]
        pairs = emergency_pairs(document, table.get("emergency_groups", {}), problems)
        found = RulesInput(
            f"genesys snapshot {name}",
            snapshot_digest(text, document),
            OrgNames(document, str(path)),
            path=str(path),
            taken_at=pulled_at(document),
            schedule_groups=groups_from_snapshot(document, pairs),
        )
        return [found], problems


def emergency_pairs(document: dict[str, Any], raw: Any, problems: list[str]) -> dict[str, str]:
    """`[genesys] emergency_groups = { "<schedule group>" = "<emergency group>" }` (names or
    ids) as schedule group id -> emergency group id: TrueEngage sends no emergency group, so the
    deployment says which one stands for each schedule group (its `enabled` is the snapshot's)."""
    where = "genesys.emergency_groups"
    if not isinstance(raw, dict):
        problems.append(f'{where}: expected {{ "<schedule group>" = "<emergency group>" }}')
        return {}

    def find(kind: str, value: object) -> str | None:
        entities = document.get(kind) or []
        for entity in entities:
            if value == entity["id"] or (
                isinstance(value, str) and value.casefold() == str(entity.get("name")).casefold()
            ):
                return str(entity["id"])
        known = ", ".join(repr(str(e.get("name") or e["id"])) for e in entities[:8])
        what = kind.replace("_", " ")[:-1]
        problems.append(
            f"{where}: unknown {what} {value!r} (not in the org snapshot; known: {known or 'none'})"
        )
        return None

    pairs: dict[str, str] = {}
    for group, emergency in raw.items():
        group_id, emergency_id = find("schedule_groups", group), find("emergency_groups", emergency)
        if group_id and emergency_id:
            pairs[group_id] = emergency_id
    return pairs


def read_rules(path: str | Path) -> RuleSet:
    """Reads and compiles a rules file; RulesError names the file, rule and key of each problem."""
    return read_rules_and_inputs(path)[0]


def read_rules_and_inputs(
    path: str | Path, fresher_snapshot: Path | None = None
) -> tuple[RuleSet, str, list[Path]]:
    """The compiled rules, their text, and every other file they were compiled from (or that
    was tried, when they are refused: RulesError then carries them as `inputs`)."""
    text = read_rules_text(path)
    inputs = RulesInputs(Path(path), fresher_snapshot)
    try:
        return parse_rules(text, str(path), read_inputs=inputs), text, inputs.paths
    except RulesError as error:
        error.inputs = inputs.paths  # type: ignore[attr-defined]
        raise


@dataclass(frozen=True)
class RefusedReload:
    """A version of the file that did not go live, and why."""

    at: datetime
    problems: tuple[str, ...]


def file_stamp(path: Path) -> Stamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


async def wait_until_settled(
    path: Path,
    settle: float,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Stamp | None:
    """The file's stamp once it has not changed for `settle` seconds: at once for a file last
    modified longer ago than that, else after watching it stay the same (which also copes with
    a modification time in the future). `pause` waits; it may return early to look again."""
    stamp, since = file_stamp(path), time.monotonic()
    told = False
    while stamp is not None:
        age = max(time.time() - stamp[0] / 1e9, time.monotonic() - since)
        if age >= settle:
            break
        if not told:
            log.info(
                "rules file changed %.1fs ago; it is loaded once unchanged for %.1fs",
                max(time.time() - stamp[0] / 1e9, 0.0),
                settle,
                extra={"file": str(path)},
            )
            told = True
        await pause(settle - age)
        now = file_stamp(path)
        if now != stamp:
            stamp, since, told = now, time.monotonic(), False
    return stamp


# While a reload compiles on its worker thread, the thread holding the GIL gives it up this often
# instead of every 5 ms: the event loop releases the GIL at every socket call and then waits for
# the compiler's whole interval to get it back (the "convoy"), which took answers from ~2,400 to
# 100-350 a second during a large reload. Measured with the bench's 10,000 rules compiling beside
# a loopback echo loop: 0.15 x its throughput alone at 5 ms, 0.90 x at 0.5 ms.
RELOAD_SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def sharing_the_interpreter() -> Iterator[None]:
    """Lowers the interpreter's thread switch interval for the block (one reload at a time)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, RELOAD_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class LiveRules:
    """Holds the rule set in force. A decision reads `current` once, so swapping the reference
    between requests is the whole of atomic replacement; a bad file never replaces a good one.
    As a service component it watches the file (`run`) from start to stop; SIGHUP reloads."""

    name = "rules file watcher"
    health = None

    def __init__(
        self,
        path: str | Path,
        settle: float = 1.0,
        watch_interval: float = 1.0,
        fresher_snapshot: Path | None = None,
    ) -> None:
        """Reads the file as it is now; the service uses `open`, which first lets it settle.
        `fresher_snapshot`: see RulesInputs."""
        self.path = Path(path)
        self.fresher_snapshot = fresher_snapshot
        self.settle = settle
        self.watch_interval = watch_interval
        self._watcher = BackgroundTask()
        self._stamp = file_stamp(self.path)
        self.current: RuleSet
        self.current, self.text, self._inputs = read_rules_and_inputs(self.path, fresher_snapshot)
        self._input_stamps = self._stamps(self._inputs)
        self.live_since = datetime.now(UTC)
        self.last_refused: RefusedReload | None = None
        self._requested = asyncio.Event()
        self._went_live(self.current)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        settle: float = 1.0,
        watch_interval: float = 1.0,
        fresher_snapshot: Path | None = None,
    ) -> LiveRules:
        """The rules once the file has settled; RulesError when they are not valid (at start
        there are no old rules to keep)."""
        await wait_until_settled(Path(path), settle)
        return cls(path, settle, watch_interval, fresher_snapshot)

    async def start(self) -> None:
        self._watcher.start(self.run(self.watch_interval))

    async def stop(self) -> None:
        await self._watcher.stop()

    def on_reload_signal(self) -> None:
        self.request_reload()

    def _went_live(self, rules: RuleSet) -> None:
        RULES_VERSION.clear()
        RULES_VERSION.labels(rules.version, rules.source).set(1)
        for warning in rules.warnings:
            log.warning("rules warning: %s", warning)
        # And what they were compiled with: which snapshot, taken when (an old one is not
        # otherwise seen by a service, only by `check`).
        inputs = "".join(
            f"; {i.name}"
            + (f" pulled {i.taken_at:%Y-%m-%d %H:%M} UTC" if i.taken_at is not None else "")
            for i in rules.inputs
        )
        log.info("rules version %s is live (%d rules%s)", rules.version, len(rules.rules), inputs)

    @staticmethod
    def _stamps(paths: list[Path]) -> tuple[Stamp | None, ...]:
        return tuple(file_stamp(p) for p in paths)

    def changed(self) -> bool:
        """Whether the rules file, or a file they were compiled from (the org snapshot), has
        changed since the last load."""
        return (
            file_stamp(self.path) != self._stamp or self._stamps(self._inputs) != self._input_stamps
        )

    def request_reload(self) -> None:
        """Asks the reloader (`run`) to read the file again; any number of requests made before
        it gets to them cost one reload. Safe to call from a signal handler on the loop."""
        self._requested.set()

    async def _next_request(self, timeout: float) -> bool:
        """True when a reload was requested within `timeout` seconds."""
        try:
            await asyncio.wait_for(self._requested.wait(), timeout)
        except TimeoutError:
            return False
        self._requested.clear()
        return True

    async def reload(self) -> bool:
        """Loads the file once it has settled, parsing it off the event loop; True when a new
        version went live. A file that changes while it is read is left to settle again."""
        while True:
            stamp = await wait_until_settled(self.path, self.settle, self._next_request)
            try:
                with sharing_the_interpreter():
                    candidate, text, inputs = await asyncio.to_thread(
                        read_rules_and_inputs, self.path, self.fresher_snapshot
                    )
            except RulesError as error:
                if file_stamp(self.path) != stamp:
                    continue
                self._stamp = stamp
                # Watched as they were tried: a fixed snapshot is read again on its own.
                self._inputs = getattr(error, "inputs", self._inputs)
                self._input_stamps = self._stamps(self._inputs)
                self.last_refused = RefusedReload(datetime.now(UTC), tuple(error.problems))
                RELOADS.labels("failed").inc()
                log.error(
                    "rules reload refused, keeping version %s: %s",
                    self.current.version,
                    "; ".join(error.problems),
                    extra={"file": str(self.path)},
                )
                return False
            if file_stamp(self.path) == stamp:
                break
        self._stamp = stamp
        self._inputs, self._input_stamps = inputs, self._stamps(inputs)
        RELOADS.labels("ok").inc()
        if candidate.version == self.current.version:
            return False
        self.current, self.text, self.live_since = candidate, text, datetime.now(UTC)
        self._went_live(candidate)
        return True

    async def run(self, interval: float = 1.0) -> None:
        """The one reloader: reloads when asked, and when a check every `interval` seconds finds
        the file changed. Polling works on every filesystem, including ConfigMap mounts where
        the file is swapped through a symlink."""
        while True:
            requested = await self._next_request(interval)
            if not requested and not self.changed():
                continue
            try:
                await self.reload()
            except Exception:  # a bug must not end reloading for the life of the process
                # nor retry the same files every interval
                self._stamp = file_stamp(self.path)
                self._input_stamps = self._stamps(self._inputs)
                RELOADS.labels("failed").inc()
                log.exception("rules reload failed, keeping version %s", self.current.version)

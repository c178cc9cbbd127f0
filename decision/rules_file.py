"""The live rule set, read from a file and replaced atomically when the file changes."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from decision import metrics
from decision.engine import RulesError, RuleSet, parse_rules

log = logging.getLogger("decision.rules")


def read_rules(path: str | Path) -> RuleSet:
    """Reads and compiles a rules file; RulesError names the file, rule and key of each problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(str(path), [f"cannot read: {error}"]) from None
    return parse_rules(text, str(path))


class LiveRules:
    """Holds the rule set in force. A decision reads `current` once, so swapping the reference
    between requests is the whole of atomic replacement; a bad file never replaces a good one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.current: RuleSet = read_rules(self.path)
        self._stamp = self._file_stamp()
        self._went_live(self.current)

    def _went_live(self, rules: RuleSet) -> None:
        metrics.rules_went_live(rules.version, rules.source)
        for warning in rules.warnings:
            log.warning("rules warning: %s", warning)
        log.info("rules version %s is live (%d rules)", rules.version, len(rules.rules))

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def reload(self) -> bool:
        """Loads the file again; True when a new version went live."""
        self._stamp = self._file_stamp()
        try:
            candidate = read_rules(self.path)
        except RulesError as error:
            metrics.RELOADS.labels("failed").inc()
            log.error(
                "rules reload refused, keeping version %s: %s",
                self.current.version,
                "; ".join(error.problems),
                extra={"file": str(self.path)},
            )
            return False
        metrics.RELOADS.labels("ok").inc()
        if candidate.version == self.current.version:
            return False
        self.current = candidate
        self._went_live(candidate)
        return True

    async def watch(self, interval: float = 1.0) -> None:
        """Polls the file's stamp; polling works on every filesystem, including ConfigMap mounts
        where the file is swapped through a symlink."""
        while True:
            await asyncio.sleep(interval)
            if self._file_stamp() != self._stamp:
                self.reload()

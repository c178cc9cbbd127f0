"""`decision replay`: re-decide logged requests with candidate rules, at their original time,
and report what would change. The safe way to change routing."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict

from contract.v1.decision_pb2 import DecideRequest
from decision.decision_log.entry import MAX_ENTRY_BYTES, masked_patch, read_logged_facts
from decision.engine import Fact, NumberFacts, RuleSet
from decision.engine.conditions import Condition, Not, Percent, Prefix
from decision.engine.numbers import (
    REGION_FROM_CALLING_CODE,
    REGION_FROM_NUMBER,
    region_of_calling_code,
)
from decision.engine.trace import patch_names

EXAMPLES_PER_CHANGE = 3
# Lines that are not logged decisions are counted; only the first few are kept and shown: a wrong
# file or a corrupted log can hold millions (5M were 1.9 GB held, and 5M lines printed).
UNREADABLE_EXAMPLES = 5
# Stands for a private fact (the contact's name) where a masked log withheld it (logged as null).
# A patch field the candidate fills with it matches any logged value of the same shape: the old
# decision put the real value where the new one puts this.
WITHHELD = re.compile(
    re.escape(Fact.withheld("FACT", "KEY"))
    .replace("FACT", "[a-z_]+")
    .replace("KEY", r"[a-z_]+(?:\..+?)?")
)


@dataclass
class ReplayReport:
    total: int = 0
    unchanged: int = 0
    approximate: int = 0  # masked numbers: re-decided from the logged facts
    unreadable: int = 0  # lines that are not a logged decision
    unreadable_examples: list[str] = field(default_factory=list)  # the first few, with why
    # (old deciding rules, new deciding rules) -> count and a few examples
    changes: dict[tuple[str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    change_counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    @property
    def changed(self) -> int:
        return sum(self.change_counts.values())


def _entries(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """Each line with its number; None for one longer than any entry the log holds, of which
    no more than that is read (one line of 200 MB was held whole, twice over). A file or a pipe
    (`<(zcat decisions.jsonl.gz)`): a device such as /dev/zero never ends."""
    with path.open("rb") as stream:  # a line that is not UTF-8 is one unreadable entry
        mode = os.fstat(stream.fileno()).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise OSError(errno.EINVAL, "not a file or a pipe")
        number = 0
        while line := stream.readline(MAX_ENTRY_BYTES + 1):
            number += 1
            if len(line) <= MAX_ENTRY_BYTES or line.endswith(b"\n"):
                yield number, line
                continue
            while (rest := stream.readline(_SKIP_BYTES)) and not rest.endswith(b"\n"):
                pass  # the rest of the line, read in pieces and dropped
            yield number, None


_SKIP_BYTES = 64 * 1024


def _request(logged: dict[str, Any]) -> DecideRequest:
    """The logged request as a message: built directly when every field is a plain value (a
    fifth of replay's time went to the generic JSON mapping), by the JSON mapping otherwise
    (a timestamp, an unknown field: its error names it)."""
    try:
        return DecideRequest(**logged)
    except (TypeError, ValueError):
        return ParseDict(logged, DecideRequest())


def _logged_number(facts: dict[str, Any]) -> NumberFacts:
    code = facts.get("country_calling_code", 0)
    region, source = facts.get("region", ""), facts.get("region_source", "")
    if region and not source:  # logged before regions had a source: only valid numbers had one
        source = REGION_FROM_NUMBER
    elif not region:  # an invalid number, logged before it took its calling code's region
        region = region_of_calling_code(code) if isinstance(code, int) else ""
        source = REGION_FROM_CALLING_CODE if region else ""
    return NumberFacts(
        e164=facts.get("e164", ""),
        region=region,
        calling_code=code,
        number_type=facts.get("number_type", "unknown"),
        valid=facts.get("valid", False),
        time_zones=tuple(facts.get("number_time_zones", ())),
        region_source=source,
    )


def _flatten(patch: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in patch.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, str) and isinstance(old, str) and WITHHELD.search(new):
        shape = ".+".join(re.escape(part) for part in WITHHELD.split(new))
        return re.fullmatch(shape, old, re.DOTALL) is not None
    return old == new


def _differences(
    old: dict[str, Any], new: dict[str, Any], names: dict[str, str] | None = None
) -> list[str]:
    """Field by field, nested ones by their dotted path (routingData.queueId); an id is shown
    with its name where `names` has one."""
    old, new = _flatten(old), _flatten(new)
    absent = object()

    def shown(value: Any) -> str:
        if value is absent:
            return "(absent)"
        if names and isinstance(value, str) and value in names:
            return f"{value} ({names[value]})"
        return str(value)

    return [
        f"{k}: {shown(old.get(k, absent))} -> {shown(new.get(k, absent))}"
        for k in sorted(set(old) | set(new))
        if not _same(old.get(k, absent), new.get(k, absent))
    ]


def _reads_whole_numbers(conditions: Iterable[Condition]) -> bool:
    """Whether a condition (or one inside a `not`) reads the number itself, which a masked log
    no longer has: prefix and percent; every other reads a logged fact."""
    return any(
        isinstance(c, Prefix | Percent) or (isinstance(c, Not) and _reads_whole_numbers(c.inner))
        for c in conditions
    )


def replay(log_path: str | Path, rules: RuleSet) -> ReplayReport:
    report = ReplayReport()
    # A masked entry is decided exactly from its logged facts unless a rule reads the number.
    approximate = _reads_whole_numbers(c for rule in rules.rules for c in rule.conditions)
    for line_number, line in _entries(Path(log_path)):
        if line is None:
            report.unreadable += 1
            if len(report.unreadable_examples) < UNREADABLE_EXAMPLES:
                report.unreadable_examples.append(
                    f"{log_path}:{line_number}: longer than {MAX_ENTRY_BYTES // 1024} KiB, "
                    "the largest entry the decision log holds"
                )
            continue
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
            message = _request(entry["request"])
            at = datetime.fromisoformat(entry["at"])
        except (ValueError, KeyError, TypeError) as error:  # not JSON, or not an entry
            report.unreadable += 1
            if len(report.unreadable_examples) < UNREADABLE_EXAMPLES:
                why = f"no {error.args[0]!r} field" if isinstance(error, KeyError) else error
                report.unreadable_examples.append(f"{log_path}:{line_number}: {why}")
            continue
        report.total += 1
        request = message
        facts = read_logged_facts(entry)
        number = None
        masked = "*" in request.phone_number
        if masked:
            number = _logged_number(entry.get("facts", {}))
            report.approximate += approximate
        decision = rules.decide(request, at, facts, number)
        new_patch = MessageToDict(decision.patch)
        if masked:  # compared as the log keeps it: numbers masked, the name withheld
            new_patch = masked_patch(new_patch, bool(entry.get("facts", {}).get("contact_known")))
        old_rules, new_rules = entry.get("matched_rules", []), decision.matched_rules
        old_patch = entry.get("patch", {})
        if new_rules == old_rules and (
            old_patch == new_patch or not _differences(old_patch, new_patch)
        ):
            # Most entries: the names of the ids are for the report, so only a change needs them
            # (looking them up for every entry was a quarter of replay's time).
            report.unchanged += 1
            continue
        names = {**patch_names(rules, old_patch), **patch_names(rules, new_patch)}
        differences = _differences(old_patch, new_patch, names)
        key = (" + ".join(old_rules) or "(no rule)", " + ".join(new_rules) or "(no rule)")
        report.change_counts[key] += 1
        if len(report.changes[key]) < EXAMPLES_PER_CHANGE:
            report.changes[key].append(
                {
                    "decision_id": entry.get("decision_id", ""),
                    "differences": differences,
                }
            )
    return report


def format_report(report: ReplayReport, log_path: str, rules: RuleSet) -> str:
    lines = [
        f"replayed {report.total} decisions from {log_path} with {rules.source} "
        f"(version {rules.version})",
        f"  unchanged: {report.unchanged}",
        f"  would change: {report.changed}",
    ]
    for (old, new), count in sorted(report.change_counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {old} -> {new}: {count}")
        for example in report.changes[(old, new)]:
            lines.append(f"      e.g. decision {example['decision_id']}")
            lines.extend(f"        {difference}" for difference in example["differences"])
    if report.approximate:
        lines.append(
            f"  approximate: {report.approximate} (logged with masked numbers: decided "
            "from the logged facts; prefix and percent conditions saw the masked number)"
        )
    if report.unreadable:
        shown = len(report.unreadable_examples)
        first = "it" if report.unreadable == 1 else f"the first {shown}"
        lines.append(
            f"  unreadable: {report.unreadable} line{'s' * (report.unreadable != 1)} "
            f"(not a logged decision); {first}:"
        )
        lines.extend(f"    {problem}" for problem in report.unreadable_examples)
    return "\n".join(lines)

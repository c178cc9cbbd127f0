"""Rule coverage of routing test cases (`decision test --coverage`): which rules some case
matched, for the CLI or any other caller that has the case results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from decision.engine import RuleSet
from decision.rules.cases import CaseResult


@dataclass(frozen=True, slots=True)
class Coverage:
    percent: float  # of the file's rules, matched by at least one case
    never_matched: list[str]  # in file order


def rule_coverage(rules: RuleSet, results: Iterable[CaseResult]) -> Coverage:
    matched = {name for result in results for name in result.matched_rules}
    never = [rule.name for rule in rules.rules if rule.name not in matched]
    covered = 100.0 * (len(rules.rules) - len(never)) / max(len(rules.rules), 1)
    return Coverage(covered, never)


def format_coverage(coverage: Coverage) -> str:
    lines = [f"coverage: {coverage.percent:.1f}% of rules matched by some case"]
    lines += [f"    never matched: {name}" for name in coverage.never_matched]
    return "\n".join(lines)

"""Routing test cases (`decision test`): requests in, expected patch fields and rules out."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.webhook import PayloadError, request_from_document
from decision.engine import Fact, OutsideFacts, RuleSet
from plumbing.files import NotRegularFile, read_regular_file

# Besides these, a case may give any declared outside fact by its name (`contact = {...}`).
CASE_KEYS = ("name", "at", "request", "expect")
EXPECT_KEYS = ("rules", "patch", "absent")


class CasesError(ValueError):
    """A cases file that cannot be run: unreadable, not TOML, or with malformed cases (every
    problem, one line each, naming the case)."""


def _subset_mismatches(expected: Any, actual: Any, path: str) -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        mismatches = []
        for key, value in expected.items():
            if key not in actual:
                mismatches.append(f"{path}{key}: expected {value!r}, absent")
            else:
                mismatches += _subset_mismatches(value, actual[key], f"{path}{key}.")
        return mismatches
    if expected != actual:
        return [f"{path.rstrip('.')}: expected {expected!r}, got {actual!r}"]
    return []


@dataclass(frozen=True)
class CaseResult:
    name: str
    failures: tuple[str, ...]  # every mismatch; empty when the case passed
    matched_rules: tuple[str, ...]


def _unknown(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> list[str]:
    return [
        f"{where}unknown key {key!r} (known: {', '.join(known)})"
        for key in table
        if key not in known
    ]


def _case_problems(case: Any, name: str) -> list[str]:
    """What makes a case unrunnable or unable to fail; a case without problems can be run."""
    if not isinstance(case, dict):
        return [f"{name}: not a table"]
    problems = _unknown(case, (*CASE_KEYS, *Fact.registry), f"{name}: ")
    if not isinstance(case.get("name", ""), str):
        problems.append(f"{name}: name must be a string")
    if "request" not in case:
        problems.append(f"{name}: no request")
    for key in ("request", *Fact.registry):
        if key in case and not isinstance(case[key], dict):
            problems.append(f"{name}: {key} must be a table")
    if isinstance(case.get("request"), dict):
        try:  # the webhook's own rules: a case cannot hold a request TrueEngage's would refuse
            request_from_document(case["request"])
        except PayloadError as error:
            problems.append(f"{name}: request: {error}")
    if "at" in case and not (isinstance(case["at"], datetime) and case["at"].tzinfo is not None):
        problems.append(f"{name}: at must be a TOML date-time with offset")
    expect = case.get("expect")
    if not isinstance(expect, dict) or not set(expect) & set(EXPECT_KEYS):
        problems.append(f"{name}: no expect (expect.rules, expect.patch or expect.absent)")
        return problems
    problems += _unknown(expect, EXPECT_KEYS, f"{name}: expect: ")
    for key in ("rules", "absent"):
        value = expect.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{name}: expect.{key} must be a list of strings")
    if not isinstance(expect.get("patch", {}), dict):
        problems.append(f"{name}: expect.patch must be a table")
    return problems


# The largest cases file read: some 60,000 cases of the usual size, far beyond any suite (a
# FIFO or /dev/zero in its place was read forever, 6 GB in 8 s).
MAX_CASES_BYTES = 16 * 1024 * 1024


def read_cases(path: str | Path) -> list[dict[str, Any]]:
    """The cases of a TOML cases file, each with its name; CasesError lists every problem. Only
    a regular file is read, and at most MAX_CASES_BYTES of it."""
    try:
        try:
            data = read_regular_file(path, MAX_CASES_BYTES)
        except NotRegularFile:
            raise CasesError(f"{path}: cannot read: not a regular file") from None
        if len(data) > MAX_CASES_BYTES:
            raise CasesError(
                f"{path}: larger than the supported size of {MAX_CASES_BYTES // 2**20} MiB"
            )
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise CasesError(f"{path}: cannot read: {reason}") from None
    except tomllib.TOMLDecodeError as error:
        raise CasesError(f"{path}: not valid TOML: {error}") from None
    problems = _unknown(doc, ("cases",), "")
    raw = doc.get("cases", [])
    if not isinstance(raw, list) or not raw:
        problems.append("no [[cases]]")
        raw = []
    cases = []
    for number, case in enumerate(raw, start=1):
        given = case.get("name") if isinstance(case, dict) else None
        name = f"case {given!r}" if isinstance(given, str) else f"case #{number}"
        problems += _case_problems(case, name)
        if isinstance(case, dict):
            cases.append({**case, "name": given if isinstance(given, str) else f"case #{number}"})
    if problems:
        raise CasesError("\n".join(f"{path}: {problem}" for problem in problems))
    return cases


def run_cases(rules: RuleSet, path: str | Path) -> list[CaseResult]:
    """Decides every case of a TOML cases file and compares with its `expect` table; a file
    with any malformed case is refused whole (CasesError), never half run."""
    results: list[CaseResult] = []
    for case in read_cases(path):
        at = case.get("at", datetime.now(UTC))
        facts = OutsideFacts(
            {fact: fact.read(case[name]) for name, fact in Fact.registry.items() if name in case}
        )
        decision = rules.decide(request_from_document(case["request"]), at, facts)
        patch = MessageToDict(decision.patch)
        expect = case["expect"]
        failures = []
        if "rules" in expect and expect["rules"] != list(decision.matched_rules):
            failures.append(f"rules: expected {expect['rules']}, got {decision.matched_rules}")
        failures += _subset_mismatches(expect.get("patch", {}), patch, "patch.")
        failures += [
            f"patch.{field}: expected absent, got {patch[field]!r}"
            for field in expect.get("absent", [])
            if field in patch
        ]
        results.append(CaseResult(case["name"], tuple(failures), tuple(decision.matched_rules)))
    return results

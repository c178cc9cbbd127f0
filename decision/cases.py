"""Routing test cases (`decision test`): requests in, expected patch fields and rules out."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from decision.engine import CallbackRequest, Contact, RuleSet
from decision.genesys import WEBHOOK_FIELDS


def request_from_webhook(payload: Mapping[str, Any]) -> CallbackRequest:
    """A request from TrueEngage's field names; any other field becomes an attribute."""
    known = {WEBHOOK_FIELDS[k]: str(v) for k, v in payload.items() if k in WEBHOOK_FIELDS}
    attributes = {k: str(v) for k, v in payload.items() if k not in WEBHOOK_FIELDS}
    return CallbackRequest(**known, attributes=attributes)


def contact_from_mapping(raw: Mapping[str, Any]) -> Contact:
    """A contact from `name`, `tier`, `language`, `preferred_agents`, `skills` and attributes."""

    def listed(value: Any) -> tuple[str, ...]:
        items = value.split(";") if isinstance(value, str) else value or ()
        return tuple(str(v).strip() for v in items if str(v).strip())

    fixed = ("name", "tier", "language", "preferred_agents", "skills")
    return Contact(
        name=str(raw.get("name", "")),
        tier=str(raw.get("tier", "")),
        language=str(raw.get("language", "")),
        preferred_agents=listed(raw.get("preferred_agents")),
        skills=listed(raw.get("skills")),
        attributes={k: str(v) for k, v in raw.items() if k not in fixed},
    )


def _subset_mismatch(expected: Any, actual: Any, path: str) -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path}{key}: expected {value!r}, absent"
            problem = _subset_mismatch(value, actual[key], f"{path}{key}.")
            if problem:
                return problem
        return None
    if expected != actual:
        return f"{path.rstrip('.')}: expected {expected!r}, got {actual!r}"
    return None


@dataclass(frozen=True)
class CaseResult:
    name: str
    failure: str | None
    matched_rules: tuple[str, ...]


def run_cases(rules: RuleSet, path: str | Path) -> list[CaseResult]:
    """Decides every case of a TOML cases file and compares with its `expect` table."""
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    results: list[CaseResult] = []
    for number, case in enumerate(doc.get("cases", []), start=1):
        name = case.get("name", f"case #{number}")
        at = case.get("at", datetime.now(UTC))
        if not isinstance(at, datetime) or at.tzinfo is None:
            results.append(CaseResult(name, "`at` must be a TOML date-time with offset", ()))
            continue
        contact = contact_from_mapping(case["contact"]) if "contact" in case else None
        decision = rules.decide(request_from_webhook(case.get("request", {})), at, contact)
        patch = MessageToDict(decision.patch)
        expect = case.get("expect", {})
        failure = None
        if "rules" in expect and list(expect["rules"]) != decision.matched_rules:
            failure = f"rules: expected {expect['rules']}, got {decision.matched_rules}"
        failure = failure or _subset_mismatch(expect.get("patch", {}), patch, "patch.")
        for field in expect.get("absent", []):
            if failure is None and field in patch:
                failure = f"patch.{field}: expected absent, got {patch[field]!r}"
        results.append(CaseResult(name, failure, tuple(decision.matched_rules)))
    return results

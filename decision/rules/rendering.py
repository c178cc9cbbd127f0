"""`decision explain` as text: an engine Explanation (facts, each rule's fate, the patch) laid
out for a terminal."""

from __future__ import annotations

import json
from typing import Any

from decision.engine import Explanation
from decision.engine.numbers import REGION_FROM_CALLING_CODE
from decision.engine.trace import MATCHED, NOT_TRIED


def _region(facts: dict[str, object]) -> str:
    if not facts["region"]:
        return "(unknown)"
    if facts.get("region_source") == REGION_FROM_CALLING_CODE:
        return f"{facts['region']} (from the calling code: the number is not valid)"
    return str(facts["region"])


def format_explanation(explanation: Explanation) -> str:
    facts = explanation.facts
    shown = {
        "e164": facts["e164"] or "(not parsed)",
        "region": _region(facts),
        "calling code": facts["calling_code"] or "(unknown)",
        "number type": facts["number_type"],
        "valid": facts["valid"],
        "time zone": f"{facts['time_zone']} ({facts['time_zone_source']})",
        "local time": facts["local_time"],
        "contact": "known" if facts["contact_known"] else "unknown",
    }
    lines = [f"rules {explanation.rules_source} version {explanation.rules_version}", "facts"]
    lines += [f"  {key:<13} {value}" for key, value in shown.items()]
    for ident, group in facts.get("schedule_groups", {}).items():
        lines.append(f"  {'schedule':<13} {_schedule_group(ident, group)}")
    lines.append("rules")
    width = max((len(rule.name) for rule in explanation.rules), default=0)
    for rule in explanation.rules:
        if rule.outcome == NOT_TRIED:
            fate = "not tried: an earlier rule decided"
        elif rule.outcome == MATCHED:
            fate = "MATCHED"
        else:
            fate = f"not matched: {rule.failed} failed"
        lines.append(f"  {rule.name:<{width}}  {fate}")
    lines += ["patch", json.dumps(explanation.patch, indent=2)]
    if explanation.names:
        lines.append("names")
        lines += [f"  {entity_id}  {name}" for entity_id, name in explanation.names.items()]
    lines += [f"note: {note}" for note in explanation.notes]
    return "\n".join(lines)


def _schedule_group(ident: str, group: dict[str, Any]) -> str:
    """`'Support hours US' (7d2f...) closed: Lunch 12-13; opens 2026-12-07T18:00:00+00:00`."""
    active = ", ".join(a["name"] or a["id"] for a in group["active"])
    why = active or group["note"] or group["reason"]
    text = f"{group['name']!r} ({ident}) {group['state']}" + (f": {why}" if why else "")
    if group["next_opening"]:
        text += f"; opens {group['next_opening']}"
    elif group["next_opening_reason"]:
        text += f"; next opening: {group['next_opening_reason']}"
    return text

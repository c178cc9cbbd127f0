"""One decision as the decision log stores it (the JSON object of one line), which `decision
replay` reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.v1 import decision_pb2
from decision.engine import Fact, OutsideFacts
from plumbing.logs import mask_number


def log_entry(
    request: decision_pb2.DecideRequest,
    response: decision_pb2.DecideResponse,
    at: datetime,
    outside: OutsideFacts,
    latency_ms: float,
    full_numbers: bool,
) -> dict[str, Any]:
    """One decision as the log stores it: every declared outside fact under its own name (null
    when not known), so replay decides from the same facts. Numbers are masked unless the
    operator allows them whole, and so are a fact's private values such as the contact's name
    (the patch still shows it where a rule put it); replay is exact only with whole numbers (see
    `decision replay`)."""
    logged_request = MessageToDict(request, preserving_proto_field_name=True)
    facts = MessageToDict(response.facts, preserving_proto_field_name=True)
    patch = MessageToDict(response.patch)
    if not full_numbers:
        if "phone_number" in logged_request:
            logged_request["phone_number"] = mask_number(logged_request["phone_number"])
        if "e164" in facts:
            facts["e164"] = mask_number(facts["e164"])
        if "callbackNumbers" in patch:
            patch["callbackNumbers"] = [mask_number(n) for n in patch["callbackNumbers"]]
    entry: dict[str, Any] = {
        "decision_id": response.decision_id,
        "request_id": response.request_id,
        "at": at.isoformat(),
        "request": logged_request,
        "facts": facts,
        **{name: logged_fact(fact, outside, full_numbers) for name, fact in Fact.registry.items()},
        "matched_rules": list(response.matched_rules),
        "patch": patch,
        "notes": list(response.notes),
        "rules_version": response.rules_version,
        "latency_ms": round(latency_ms, 3),
    }
    return entry


def logged_fact(fact: Fact[Any], outside: OutsideFacts, full_numbers: bool) -> Any:
    value = outside.get(fact)
    if value is None:
        return None
    written = fact.write(value)
    if not full_numbers:
        # null: withheld, which replay tells apart from a value that is empty
        written.update(dict.fromkeys(set(fact.private) & set(written)))
    return written


def read_logged_facts(entry: dict[str, Any]) -> OutsideFacts:
    """The outside facts of a logged decision, a withheld value standing in where the log kept
    none (see `Fact.withheld`)."""
    found = {}
    for name, fact in Fact.registry.items():
        raw = entry.get(name)
        if raw:
            found[fact] = fact.read(
                {
                    k: Fact.withheld(name, k) if v is None and k in fact.private else v
                    for k, v in raw.items()
                }
            )
    return OutsideFacts(found)

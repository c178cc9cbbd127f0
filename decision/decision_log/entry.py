"""One decision as the decision log stores it (the JSON object of one line), which `decision
replay` reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.v1 import decision_pb2
from decision.engine import Fact, OutsideFacts
from plumbing.logs import WITHHELD, mask_number, mask_personal


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
    facts.pop("schedule_groups", None)  # logged once, as the fact of that name below
    patch = MessageToDict(response.patch)
    if not full_numbers:
        if "phone_number" in logged_request:
            logged_request["phone_number"] = mask_number(logged_request["phone_number"])
        attributes = logged_request.get("attributes")
        if attributes:
            logged_request["attributes"] = {k: mask_personal(v) for k, v in attributes.items()}
        if "e164" in facts:
            facts["e164"] = mask_number(facts["e164"])
        patch = masked_patch(patch)
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


def masked_patch(patch: dict[str, Any]) -> dict[str, Any]:
    """An answer (Genesys JSON names) as a masked log keeps it: the callback numbers masked and
    the name of the party to call back (a contact's name, often) withheld. Replay masks what it
    decides the same way before comparing."""
    if "callbackNumbers" in patch:
        patch = {**patch, "callbackNumbers": [mask_number(n) for n in patch["callbackNumbers"]]}
    if "callbackUserName" in patch:
        patch = {**patch, "callbackUserName": WITHHELD}
    return patch


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

"""One decision as the decision log stores it (the JSON object of one line), which `decision
replay` reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.v1 import decision_pb2
from decision.engine import Contact
from plumbing.logs import mask_number


def log_entry(
    request: decision_pb2.DecideRequest,
    response: decision_pb2.DecideResponse,
    at: datetime,
    contact: Contact | None,
    latency_ms: float,
    full_numbers: bool,
) -> dict[str, Any]:
    """One decision as the log stores it. Numbers are masked unless the operator allows them
    whole, and so is the contact's name (the patch still shows it where a rule put it); replay
    is exact only with whole numbers (see `decision replay`)."""
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
        "contact": None,
        "matched_rules": list(response.matched_rules),
        "patch": patch,
        "notes": list(response.notes),
        "rules_version": response.rules_version,
        "latency_ms": round(latency_ms, 3),
    }
    if contact is not None:
        entry["contact"] = {
            # null: withheld, which replay tells apart from a contact without a name
            "name": contact.name if full_numbers else None,
            "tier": contact.tier,
            "language": contact.language,
            "preferred_agents": list(contact.preferred_agents),
            "skills": list(contact.skills),
            "attributes": dict(contact.attributes),
        }
    return entry

"""One decision as the decision log stores it (the JSON object of one line), which `decision
replay` reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.callback import ANSWER_FIELDS
from contract.v1 import decision_pb2
from decision.engine import Fact, OutsideFacts
from plumbing.logs import WITHHELD, mask_attributes, mask_number, mask_personal

# The longest line the decision log holds: the writer writes no longer entry (it is counted as
# lost) and replay reads no more of a line. A call carries at most 32 attributes of 1,024
# characters and the known fields, about 40,000 characters: even all escaped (`\\u2028`, 6 bytes
# each; 12 for a character beyond the BMP), with its contact and answer, an entry is well under.
MAX_ENTRY_BYTES = 1024 * 1024


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
    and attributes, the request's attributes (`mask_attributes`) and the patch's free text
    (`masked_patch`); replay is exact only with whole numbers (see `decision replay`)."""
    logged_request = MessageToDict(request, preserving_proto_field_name=True)
    facts = MessageToDict(response.facts, preserving_proto_field_name=True)
    patch = MessageToDict(response.patch)
    if not full_numbers:
        if "phone_number" in logged_request:
            logged_request["phone_number"] = mask_number(logged_request["phone_number"])
        attributes = logged_request.get("attributes")
        if attributes:
            logged_request["attributes"] = mask_attributes(attributes)
        if "e164" in facts:
            facts["e164"] = mask_number(facts["e164"])
        patch = masked_patch(patch, response.facts.contact_known)
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


# The answer's free text: a rule may fill any of it from the contact (`@contact.name`).
_TEXT_FIELDS = tuple(f.path for f in ANSWER_FIELDS if f.value == "text")


def masked_patch(patch: dict[str, Any], contact_known: bool = True) -> dict[str, Any]:
    """An answer (Genesys JSON names) as a masked log keeps it: the callback numbers masked and
    the name of the party to call back (a contact's name, often) withheld; with a known
    contact, every free-text value too (callerIdName, routingData.label, data values, ...: any
    may have come from the contact), else those with what reads as a number or an email
    masked. The decision log, ListDecisions and replay mask alike."""
    patch = {**patch}
    if "routingData" in patch:
        patch["routingData"] = {**patch["routingData"]}
    if "callbackNumbers" in patch:
        patch["callbackNumbers"] = [mask_number(n) for n in patch["callbackNumbers"]]

    def masked(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return WITHHELD if contact_known else mask_personal(text)

    for path in _TEXT_FIELDS:
        head, _, tail = path.partition(".")
        holder = patch.get(head) if tail else patch
        name = tail or head
        if isinstance(holder, dict) and name in holder:
            holder[name] = masked(holder[name])
    if "callbackUserName" in patch:
        patch["callbackUserName"] = WITHHELD
    if isinstance(patch.get("data"), dict):
        patch["data"] = {k: masked(v) for k, v in patch["data"].items()}
    return patch


def logged_fact(fact: Fact[Any], outside: OutsideFacts, full_numbers: bool) -> Any:
    value = outside.get(fact)
    if value is None:
        return None
    written = fact.write(value)
    if not full_numbers:
        # null: withheld, which replay tells apart from a value that is empty; a table (the
        # contact's attributes) value by value, its names kept (masked as names are)
        for key in set(fact.private) & set(written):
            table = written[key]
            written[key] = (
                {mask_personal(str(k)): None for k in table} if isinstance(table, dict) else None
            )
    return written


def read_logged_facts(entry: dict[str, Any]) -> OutsideFacts:
    """The outside facts of a logged decision, a withheld value standing in where the log kept
    none (see `Fact.withheld`)."""
    found = {}
    for name, fact in Fact.registry.items():
        raw = entry.get(name)
        if raw:
            found[fact] = fact.read({k: _read_back(name, fact, k, v) for k, v in raw.items()})
    return OutsideFacts(found)


def _read_back(name: str, fact: Fact[Any], key: str, value: Any) -> Any:
    if key not in fact.private:
        return value
    if value is None:
        return Fact.withheld(name, key)
    if isinstance(value, dict):
        return {k: Fact.withheld(name, f"{key}.{k}") if v is None else v for k, v in value.items()}
    return value

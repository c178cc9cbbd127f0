"""What Explain takes beyond Decide, for analysts asking "what would happen if": a queue given
by the name the rules know it by, and a contact pretended instead of looked up. Decide never
sees either: TrueEngage sends queue ids, and its callers' contacts come from the directory."""

from __future__ import annotations

from contract.callback import is_genesys_id
from contract.v1 import decision_pb2
from decision.engine import CONTACT, Contact, OutsideFacts, RuleSet

# A pretended contact is typed by a person: this much is plenty, and keeps Explain bounded.
MAX_PRETEND_BYTES = 64 * 1024


class WhatIfError(ValueError):
    """What the analyst asked cannot be answered (the caller's error: INVALID_ARGUMENT)."""


def with_named_queue(
    request: decision_pb2.DecideRequest, rules: RuleSet, notes: list[str]
) -> decision_pb2.DecideRequest:
    """The request with its queue_id resolved when it is a name (`Sales`, `support-uk`), as the
    rules' `queue_id` conditions take one; a note says which queue it named."""
    queue = request.queue_id
    if not queue or is_genesys_id(queue):
        return request
    resolved = rules.names.resolve("queues", queue)
    if resolved is None:
        raise WhatIfError(f"queue_id: {rules.names.unknown('queues', queue)}")
    named = decision_pb2.DecideRequest()
    named.CopyFrom(request)
    named.queue_id = resolved
    notes.append(f"queue {queue!r} is {resolved}")
    return named


def pretended_contact(request: decision_pb2.DecideRequest) -> Contact | None:
    """The contact an analyst pretends (None: as if the directory did not know the caller)."""
    pretend = request.pretend_contact
    if not pretend.known:
        return None
    given = pretend.contact
    return Contact(
        name=given.name,
        tier=given.tier,
        language=given.language,
        preferred_agents=tuple(given.preferred_agents),
        skills=tuple(given.skills),
        attributes=dict(given.attributes),
    )


def with_contact(facts: OutsideFacts, contact: Contact | None) -> OutsideFacts:
    """The outside facts with the contact replaced (None: not known)."""
    return OutsideFacts({**{fact: facts.get(fact) for fact in facts}, CONTACT: contact})

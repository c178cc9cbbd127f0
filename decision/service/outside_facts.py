"""Where a decision's outside facts come from: one provider per kind of fact (the contact
directory today; a Genesys org snapshot or live queue state next), asked only for the facts the
live rules read. A provider never fails a decision: what it cannot say is unknown, with a note."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from contract.v1 import decision_pb2
from decision.engine import NO_FACTS, CallbackFields, Fact, OutsideFacts
from plumbing.tracing import Tracing

_OFF = Tracing.off()


class FactProvider(Protocol):
    """Provides one kind of outside fact, per decision."""

    fact: Fact[Any]

    async def provide(self, request: CallbackFields, default_region: str) -> tuple[Any, str]:
        """The fact for this request (None: not known) and a note for the decision ("" when
        there is nothing to say). Never raises: a failing source is an unknown fact."""
        ...

    def describe(self, value: Any, facts: decision_pb2.CallerFacts) -> None:
        """Says in the reply's facts what the decision knew (e.g. `contact_known`)."""
        ...


async def gather_facts(
    needs: frozenset[Fact[Any]],
    providers: Mapping[Fact[Any], FactProvider],
    request: CallbackFields,
    default_region: str,
    notes: list[str],
    tracing: Tracing = _OFF,
) -> OutsideFacts:
    """The facts the rules need that some provider has, asked all at once; each provider's note
    is added to `notes`. With `tracing` on, each provider's lookup is a span."""
    asked = [providers[fact] for fact in needs if fact in providers]
    if not asked:
        return NO_FACTS
    if len(asked) == 1:  # the usual case: no gather, no extra task
        answers = [await _provide(asked[0], request, default_region, tracing)]
    else:
        answers = await asyncio.gather(
            *(_provide(p, request, default_region, tracing) for p in asked)
        )
    notes.extend(note for _, note in answers if note)
    return OutsideFacts({p.fact: value for p, (value, _) in zip(asked, answers, strict=True)})


async def _provide(
    provider: FactProvider, request: CallbackFields, default_region: str, tracing: Tracing
) -> tuple[Any, str]:
    if not tracing.enabled:
        return await provider.provide(request, default_region)
    with tracing.span(f"{provider.fact.name} lookup"):
        return await provider.provide(request, default_region)


def describe_facts(
    facts: OutsideFacts,
    providers: Mapping[Fact[Any], FactProvider],
    reply: decision_pb2.CallerFacts,
) -> None:
    for fact in facts:
        providers[fact].describe(facts.get(fact), reply)

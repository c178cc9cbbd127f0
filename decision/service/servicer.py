"""decision.v1.DecisionService over gRPC: a thin adapter from proto messages to the engine."""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.json_format import MessageToDict

from contract.callback import MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, WEBHOOK
from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.decision_log.writer import DecisionLog
from decision.directory.provider import ContactProvider
from decision.engine import (
    CONTACT,
    MATCHED,
    MOMENT_RANGE_TEXT,
    NO_FACTS,
    Decision,
    Fact,
    NumberFacts,
    OutsideFacts,
    RuleOutcome,
    decidable,
    decide_traced,
    number_facts,
)
from decision.engine.numbers import NUMBER_TYPE_NAMES
from decision.engine.schedule_rules import SCHEDULE_GROUPS, GroupFact
from decision.engine.subject import ZONE_DEFAULT_DISAGREE, ZONE_DEFAULT_UNKNOWN, ZONE_FROM_NUMBER
from decision.engine.trace import NOT_MATCHED, NOT_TRIED, patch_names
from decision.rules.live import LiveRules
from decision.rules.rule_names import rules_names
from decision.service import metrics
from decision.service.budgets import (
    CONSOLE_CALLS,
    CONSOLE_SWITCH_INTERVAL,
    CONSOLE_WAIT_SECONDS,
    CONSOLE_WAITING,
    SWITCH_INTERVAL,
    WaitingBudget,
)
from decision.service.outside_facts import FactProvider, describe_facts, gather_facts
from decision.service.recent import RecentDecisions
from decision.service.what_if import (
    MAX_PRETEND_BYTES,
    WhatIfError,
    pretended_contact,
    with_contact,
    with_named_queue,
)
from plumbing.ids import new_id
from plumbing.logs import AccessLog, mask_number
from plumbing.tracing import Tracing

log = logging.getLogger("decision.service")


def utc_now() -> datetime:
    return datetime.now(UTC)


NUMBER_TYPES = {  # Value() is typed int; what it returns is a NumberType
    name: cast(
        "decision_pb2.NumberType", decision_pb2.NumberType.Value(f"NUMBER_TYPE_{name.upper()}")
    )
    for name in NUMBER_TYPE_NAMES.values()
}
ZONE_SOURCES = {
    ZONE_FROM_NUMBER: decision_pb2.TIME_ZONE_SOURCE_NUMBER,
    ZONE_DEFAULT_DISAGREE: decision_pb2.TIME_ZONE_SOURCE_DEFAULT_ZONES_DISAGREE,
    ZONE_DEFAULT_UNKNOWN: decision_pb2.TIME_ZONE_SOURCE_DEFAULT_UNKNOWN_ZONE,
}
OUTCOMES = {
    MATCHED: decision_pb2.RuleTrace.OUTCOME_MATCHED,
    NOT_MATCHED: decision_pb2.RuleTrace.OUTCOME_NOT_MATCHED,
    NOT_TRIED: decision_pb2.RuleTrace.OUTCOME_NOT_TRIED,
}


@functools.lru_cache(maxsize=4096)
def _caller_facts(number: NumberFacts, zone: str, zone_source: str) -> decision_pb2.CallerFacts:
    """The facts of a number in a zone: the same for every call, so built once. Never mutated:
    responses copy it."""
    return decision_pb2.CallerFacts(
        e164=number.e164,
        region=number.region,
        region_source=number.region_source,
        country_calling_code=number.calling_code,
        number_type=number.number_type,
        valid=number.valid,
        time_zone=zone,
        time_zone_source=zone_source,
        number_time_zones=number.time_zones,
        type=NUMBER_TYPES.get(number.number_type, decision_pb2.NUMBER_TYPE_UNKNOWN),
        zone_source=ZONE_SOURCES.get(zone_source, decision_pb2.TIME_ZONE_SOURCE_UNSPECIFIED),
    )


def fill_facts(facts: decision_pb2.CallerFacts, decision: Decision) -> None:
    facts.CopyFrom(_caller_facts(decision.number, decision.time_zone, decision.time_zone_source))
    facts.local_time = decision.local_time.isoformat()
    if decision.derived:
        groups = decision.derived.get(SCHEDULE_GROUPS)
        if groups:
            describe_schedule_groups(groups, facts)


def describe_schedule_groups(
    groups: Mapping[str, GroupFact], facts: decision_pb2.CallerFacts
) -> None:
    """The schedule groups a decision asked about, as the reply's facts say them."""
    for group in groups.values():
        said = facts.schedule_groups.add(
            id=group.id,
            name=group.name,
            state=group.state,
            active_schedules=[decision_pb2.ScheduleRef(id=i, name=n) for i, n in group.active],
            reason=group.reason,
            note=group.note,
            next_opening_reason=group.next_reason,
        )
        if group.next_open is not None:
            said.next_opening.FromDatetime(group.next_open)


def _with_derived(facts: OutsideFacts, decision: Decision) -> OutsideFacts:
    """The facts a decision was given and those it worked out (schedule groups' states): the
    decision log writes both, so that replay decides from both."""
    if not decision.derived:
        return facts
    given = {fact: facts.get(fact) for fact in facts}
    return OutsideFacts(given | {fact: decision.derived.get(fact) for fact in decision.derived})


def _response(
    decision: Decision, request_id: str, decision_id: str, notes: list[str]
) -> decision_pb2.DecideResponse:
    """`notes`: the service's own, after the engine's."""
    response = decision_pb2.DecideResponse(
        patch=decision.patch,
        matched_rules=decision.matched_rules,
        rules_version=decision.rules_version,
        decision_id=decision_id,
        request_id=request_id,
        notes=decision.notes + notes if notes else decision.notes,
    )
    fill_facts(response.facts, decision)
    return response


def _moment(request: decision_pb2.DecideRequest) -> datetime | None:
    """`at` as a datetime; None when it is no moment a decision can be made at (the caller's
    error)."""
    try:
        at = request.at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return at if decidable(at) else None


# What one call may carry, as the webhook does (contract.callback): a caller inside the network
# is held to what TrueEngage is, so the recent-decisions window and the decision log stay bounded
# in bytes by their bounds in entries.
_FIELD_LIMITS = tuple((f.request_field, f.max_length) for f in WEBHOOK.values())
MAX_REQUEST_ID = 128


def oversized(request: decision_pb2.DecideRequest) -> str | None:
    """Why a request carries more than a webhook may (None when it does not)."""
    for name, limit in _FIELD_LIMITS:
        if len(getattr(request, name)) > limit:
            return f"{name} is longer than {limit} characters"
    if len(request.request_id) > MAX_REQUEST_ID:
        return f"request_id is longer than {MAX_REQUEST_ID} characters"
    if request.HasField("pretend_contact") and (
        request.pretend_contact.ByteSize() > MAX_PRETEND_BYTES
    ):
        return f"pretend_contact is larger than {MAX_PRETEND_BYTES // 1024} KiB"
    attributes = request.attributes
    if attributes:
        if len(attributes) > MAX_ATTRIBUTES:
            return f"more than {MAX_ATTRIBUTES} attributes"
        for key, value in attributes.items():
            if len(key) > MAX_ATTRIBUTE_KEY or len(value) > MAX_ATTRIBUTE_VALUE:
                return (
                    f"attribute names are at most {MAX_ATTRIBUTE_KEY} characters and values at "
                    f"most {MAX_ATTRIBUTE_VALUE}"
                )
    return None


def largest_request() -> decision_pb2.DecideRequest:
    """The largest request `oversized` lets through: every bound at its limit, every character
    4 bytes of UTF-8 (about 138 KiB; an ASCII webhook at every limit is about 35 KB)."""
    wide = "\U0001f600"
    request = decision_pb2.DecideRequest(request_id=wide * MAX_REQUEST_ID)
    for name, limit in _FIELD_LIMITS:
        setattr(request, name, wide * limit)
    for n in range(MAX_ATTRIBUTES):
        request.attributes[wide * (MAX_ATTRIBUTE_KEY - 1) + chr(0x10000 + n)] = (
            wide * MAX_ATTRIBUTE_VALUE
        )
    request.at.FromDatetime(datetime(9998, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))
    return request


# gRPC refuses a message larger than this before it is read: the largest valid request and a
# 4 KiB margin, in whole KiB (142 KiB: 145,408 bytes).
MAX_REQUEST_BYTES = -(-(largest_request().ByteSize() + 4096) // 1024) * 1024


def _request_id(request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext) -> str:
    if request.request_id:
        return request.request_id
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id":
            return str(value)[:64]
    return new_id()


T = TypeVar("T")


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Console work on a worker thread, with the interpreter's thread switch interval lowered
    meanwhile (CONSOLE_SWITCH_INTERVAL), so that the loop answering Decide gets the interpreter
    back within half a millisecond rather than Python's default 5."""
    with SWITCH_INTERVAL.lowered(CONSOLE_SWITCH_INTERVAL):
        return await asyncio.to_thread(work, *args)


def _explained(
    rules: Any,
    decision: Decision,
    outcomes: list[RuleOutcome],
    response: decision_pb2.DecideResponse,
) -> decision_pb2.ExplainResponse:
    applied = set(decision.matched_rules)
    return decision_pb2.ExplainResponse(
        names=patch_names(rules, MessageToDict(decision.patch)),
        decision=response,
        rules=[
            decision_pb2.RuleTrace(
                name=outcome.name,
                matched=outcome.outcome == MATCHED,
                failed_condition=outcome.failed or "",
                applied=outcome.name in applied,
                outcome=OUTCOMES[outcome.outcome],
            )
            for outcome in outcomes
        ],
    )


class DecisionServicer(decision_pb2_grpc.DecisionServiceServicer):
    def __init__(
        self,
        rules: LiveRules,
        clock: Callable[[], datetime] = utc_now,
        full_numbers: bool = False,
        access_log: AccessLog | None = None,
        providers: Sequence[FactProvider] = (),
        decision_log: DecisionLog | None = None,
        recent: RecentDecisions | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """`providers`: where the outside facts come from, one per kind of fact; `tracing`: the
        service's (off by default), in which each call and each lookup is a span."""
        self.rules = rules
        self.tracing = tracing or Tracing.off()
        self.recent = recent or RecentDecisions(full_numbers=full_numbers)
        self.providers: dict[Fact[Any], FactProvider] = {p.fact: p for p in providers}
        self.decision_log = decision_log
        # Explain, GetRules, ListDecisions: in progress, and waiting for a place.
        self.console = WaitingBudget(CONSOLE_CALLS, CONSOLE_WAITING, CONSOLE_WAIT_SECONDS)
        self.clock = clock
        self.full_numbers = full_numbers
        self.access_log = access_log
        self._decided: dict[str, Any] = {}  # rule name -> its decisions counter
        self._contributed: dict[str, Any] = {}  # rule name -> its contributions counter
        self._callbacks = metrics.CallbackCounts()

    def for_another_listener(self) -> DecisionServicer:
        """The same service (rules, logs, providers, metrics) with a console place and a window
        of recent decisions of its own, for a listener whose callers must never wait behind
        another's, nor see their decisions pushed out of the console by another's (1,000 calls
        on the shared port emptied the facades' console of theirs)."""
        other = copy.copy(self)
        other.console = WaitingBudget(
            self.console.limit, self.console.waiting, self.console.wait_seconds
        )
        other.recent = RecentDecisions(full_numbers=self.full_numbers)
        return other

    async def Decide(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.DecideResponse:
        started = time.perf_counter()
        if request.HasField("pretend_contact"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "pretend_contact is for Explain only: Decide asks the contact directory",
            )
        decision, facts, notes, now, request_id = await self._decide(request, context, None)
        facts = _with_derived(facts, decision)
        response = _response(decision, request_id, new_id(), notes)
        if facts:
            describe_facts(facts, self.providers, response.facts)
        elapsed = time.perf_counter() - started
        self.recent.record(request, response, now)
        if self.decision_log is not None:
            self.decision_log.record(request, response, now, facts, elapsed * 1000)
        metrics.DECISION_SECONDS.observe(elapsed)
        matched = decision.matched_rules
        decider = matched[-1] if matched else "none"  # the match that ended the evaluation
        counter = self._decided.get(decider)
        if counter is None:
            counter = self._decided[decider] = metrics.DECISIONS.labels(decider)
        counter.inc()
        for name in matched:
            counter = self._contributed.get(name)
            if counter is None:
                counter = self._contributed[name] = metrics.CONTRIBUTIONS.labels(name)
            counter.inc()
        self._callbacks.count(decision.patch, request.queue_id, self.rules.current)
        if self.access_log is not None:
            phone = mask_number(decision.number.e164 or request.phone_number, self.full_numbers)
            self.access_log.write(
                "decision.access",
                "decision",
                {
                    "request_id": request_id,
                    "decision_id": response.decision_id,
                    "phone": phone,
                    "matched_rules": decision.matched_rules,
                    "rules_version": decision.rules_version,
                    "notes": decision.notes + notes if notes else decision.notes,
                    "ms": round(elapsed * 1000, 3),
                },
            )
        return response

    async def _console_place(self, context: grpc.aio.ServicerContext) -> None:
        """A console call's place in its own budget, apart from Decide's, held until gRPC has
        finished the call: its reply sent, or the call ended. Released when the handler
        returned, replies that a client never read piled up in memory without bound."""
        if not await self.console.take():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.console.limit} console call in progress and {self.console.waiting} "
                "waiting; try again in a moment",
            )
        context.add_done_callback(cast(Any, self._console_done))

    def _console_done(self, context: grpc.aio.ServicerContext) -> None:
        self.console.release()

    async def Explain(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.ExplainResponse:
        await self._console_place(context)
        return await self._explain(request, context)

    async def _explain(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.ExplainResponse:
        outcomes: list[RuleOutcome] = []
        decision, facts, notes, _, request_id = await self._decide(request, context, outcomes)
        facts = _with_derived(facts, decision)
        response = _response(decision, request_id, "", notes)
        if facts:
            describe_facts(facts, self.providers, response.facts)
        if request.HasField("pretend_contact"):
            response.facts.contact_known = request.pretend_contact.known
        # A message per rule: built off the loop too.
        return await off_loop(_explained, self.rules.current, decision, outcomes, response)

    async def _decide(
        self,
        request: decision_pb2.DecideRequest,
        context: grpc.aio.ServicerContext,
        trace: list[RuleOutcome] | None,
    ) -> tuple[Decision, OutsideFacts, list[str], datetime, str]:
        """The one way both Decide and Explain decide: the moment, the request id, the live
        rules read once (a reload mid-request cannot mix two versions), the outside facts those
        rules read, the engine. With `trace`, the engine runs traced and each rule's fate is
        appended to it. Returns the decision, the facts, the service's own notes, the moment
        and the request id."""
        too_much = oversized(request)
        if too_much is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, too_much)
        moment = self.clock() if not request.HasField("at") else _moment(request)
        if moment is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"at: not a valid timestamp ({MOMENT_RANGE_TEXT}, nanos 0-999,999,999)",
            )
            raise AssertionError("abort raises")
        now = moment
        request_id = _request_id(request, context)
        rules = self.rules.current
        notes: list[str] = []
        pretending = trace is not None and request.HasField("pretend_contact")
        if trace is not None:
            try:
                request = with_named_queue(request, rules, notes)
            except WhatIfError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        try:
            needs = rules.needs - {CONTACT} if pretending else rules.needs
            facts = (
                await gather_facts(
                    needs, self.providers, request, rules.default_region, notes, self.tracing
                )
                if needs
                else NO_FACTS
            )
            if pretending:
                facts = with_contact(facts, pretended_contact(request))
            if trace is None:
                decision = rules.decide(request, now, facts)
            else:
                # Every rule is tried: on a worker thread, so a large file's trace never holds
                # the loop that answers Decide.
                decision, outcomes = await off_loop(decide_traced, rules, request, now, facts)
                trace.extend(outcomes)
        except Exception:
            await self._failed(context, request_id, rules.version)
        return decision, facts, notes, now, request_id

    async def GetRules(
        self, request: decision_pb2.GetRulesRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.GetRulesResponse:
        await self._console_place(context)
        live, counts = self.rules, dict(self.recent.by_rule)
        decided = dict(self.recent.decided_by)
        current, text = live.current, live.text  # one version, read once
        # Built off the loop: a file of thousands of rules is thousands of messages. Bounded
        # by the supported rules size (2 MiB of text, a count per rule).
        recent = self.recent

        def build() -> decision_pb2.GetRulesResponse:
            return decision_pb2.GetRulesResponse(
                source=str(live.path),
                version=current.version,
                text=text,
                rule_decisions=[
                    decision_pb2.RuleCount(
                        rule=rule.name,
                        decisions=counts.get(rule.name, 0),
                        decided=decided.get(rule.name, 0),
                    )
                    for rule in current.rules
                ],
                decisions=recent.total,
                unmatched_decisions=recent.unmatched,
                names=rules_names(current, text),
            )

        response = await off_loop(build)
        response.live_since.FromDatetime(live.live_since)
        if live.last_refused is not None:
            response.last_refused.at.FromDatetime(live.last_refused.at)
            response.last_refused.problems.extend(live.last_refused.problems)
        return response

    async def ListDecisions(
        self, request: decision_pb2.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.ListDecisionsResponse:
        await self._console_place(context)
        # A copy of the window, taken on the loop (which appends to it), read off it.
        return await off_loop(
            self.recent.page,
            self.recent.entries(),
            request.rule,
            request.limit,
            request.after_sequence,
            request.before_sequence,
        )

    async def _failed(
        self, context: grpc.aio.ServicerContext, request_id: str, rules_version: str
    ) -> None:
        """A bug in a decision: logged whole here, never sent to the caller."""
        metrics.ERRORS.inc()
        log.exception(
            "decision failed", extra={"request_id": request_id, "rules_version": rules_version}
        )
        await context.abort(grpc.StatusCode.INTERNAL, "decision failed; see the service log")

    async def LookupContact(
        self, request: decision_pb2.LookupContactRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.LookupContactResponse:
        directory = self.providers.get(CONTACT)
        if not isinstance(directory, ContactProvider):
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "this decision service runs without a contact directory",
            )
        region = self.rules.current.default_region
        e164 = number_facts(request.phone_number, request.country_code, region).e164
        try:
            contact = await directory.lookup(e164)
        except Exception:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the contact directory is failing")
        if contact is None:
            return decision_pb2.LookupContactResponse(found=False, e164=e164)
        return decision_pb2.LookupContactResponse(
            found=True,
            e164=e164,
            contact=decision_pb2.DirectoryContact(
                name=contact.name,
                tier=contact.tier,
                language=contact.language,
                preferred_agents=contact.preferred_agents,
                skills=contact.skills,
                attributes=contact.attributes,
            ),
        )

"""A loaded rule set and the decision it makes for one callback request: the one evaluator,
which `explain` runs with a tracer attached."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, Protocol

from contract.v1.decision_pb2 import CallbackPatch
from decision.engine.actions import Action, PatchDraft, Scalar
from decision.engine.conditions import INDEX_ORDER, Condition, OneOf
from decision.engine.facts import NO_FACTS, Fact, OutsideFacts
from decision.engine.names import Names
from decision.engine.numbers import NumberFacts, number_facts
from decision.engine.request import CallbackFields
from decision.engine.schedule_rules import ScheduleGroups, conclude
from decision.engine.subject import Subject


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    keep_going: bool = False

    def first_failure(self, subject: Subject) -> Condition | None:
        for condition in self.conditions:
            if not condition.test(subject):
                return condition
        return None

    def index_key(self) -> OneOf | None:
        exact = {c.key: c for c in self.conditions if isinstance(c, OneOf) and c.indexable}
        return next((exact[k] for k in INDEX_ORDER if k in exact), None)


FIXED_PARTS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class FixedPart:
    """What a combination of matched rules decides for every caller alike: the patch without
    the caller's own number and schedule, the values those are made from, and its notes.
    Decisions reuse it instead of applying and building the same actions again."""

    patch: CallbackPatch
    values: dict[str, Scalar]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    patch: CallbackPatch
    matched_rules: list[str]
    number: NumberFacts
    time_zone: str
    time_zone_source: str
    local_time: datetime
    notes: list[str]
    rules_version: str
    # Facts the engine worked out that replay decides from, as from those it was given (the
    # schedule groups' states): the decision log writes both.
    derived: OutsideFacts = NO_FACTS


class Tracer(Protocol):
    """Hears what `RuleSet.decide` does, rule by rule (OPA's topdown tracer, in small). With a
    tracer, every rule is tried in file order, skipping neither the index's non-candidates nor
    the kept patch parts, so the trace shows the whole work; without one, decide pays nothing."""

    def rule_tried(self, rule: Rule, failed: Condition | None) -> None:
        """`rule` was tried: `failed` is its first condition that did not hold, None if it
        matched. Rules after the one that decided are not tried."""


@dataclass(frozen=True)
class RuleSet:
    source: str
    version: str
    rules: tuple[Rule, ...]
    defaults: tuple[Action, ...]
    default_zone: str
    default_region: str
    horizon: timedelta
    warnings: tuple[str, ...] = ()
    # The outside facts some rule reads: a service fetches those, and only those, per decision.
    needs: frozenset[Fact[Any]] = frozenset()
    inputs: tuple[Any, ...] = ()  # the RulesInputs it was compiled with (loader.py)
    names: Names = field(default_factory=lambda: Names({}), repr=False, compare=False)
    # The schedule groups its rules ask about (None when none does).
    schedule_groups: ScheduleGroups | None = field(default=None, repr=False, compare=False)
    # Per indexed condition kind: (its fact, fact value -> positions of the rules indexed under
    # it); plus the rules indexed nowhere.
    _index: tuple[tuple[Callable[[Subject], object], dict[object, list[int]]], ...] = field(
        default=(), repr=False
    )
    _always: tuple[int, ...] = field(default=(), repr=False)
    # (matched rule positions, request queue[, variants]) -> the part of the patch those rules
    # fix.
    _fixed_parts: dict[tuple[object, ...], FixedPart] = field(
        default_factory=dict, repr=False, compare=False
    )
    # Rule position (-1: the defaults) -> its actions that vary with the moment (Action.varies).
    _varying: dict[int, tuple[Action, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, *, rules: tuple[Rule, ...], **fields: Any) -> RuleSet:
        """A rule set with its index: each rule sits under one exact-match condition, so a
        decision only looks at rules that can match (the cost does not grow with the file).
        `fields`: the rest of RuleSet's own fields, by name."""
        index: dict[str, tuple[Callable[[Subject], object], dict[object, list[int]]]] = {}
        always: list[int] = []
        for position, rule in enumerate(rules):
            condition = rule.index_key()
            if condition is None:
                always.append(position)
                continue
            _, table = index.setdefault(condition.key, (condition.read, {}))
            for value in condition.values:
                table.setdefault(value, []).append(position)
        varying = {
            position: tuple(a for a in actions if a.varies)
            for position, actions in [(-1, fields.get("defaults", ()))]
            + [(p, r.actions) for p, r in enumerate(rules)]
            if any(a.varies for a in actions)
        }
        return cls(
            rules=rules,
            **fields,
            _index=tuple(index.values()),
            _always=tuple(always),
            _varying=varying,
        )

    def candidates(self, subject: Subject) -> list[int]:
        """Positions of the rules that may match, in file order."""
        found: list[Sequence[int]] = [self._always]
        for read, table in self._index:
            hit = table.get(read(subject))
            if hit:
                found.append(hit)
        if len(found) == 1:
            return list(self._always)
        return sorted(chain.from_iterable(found))

    def subject(
        self,
        request: CallbackFields,
        now: datetime,
        facts: OutsideFacts = NO_FACTS,
        number: NumberFacts | None = None,
    ) -> Subject:
        if number is None:
            number = number_facts(request.phone_number, request.country_code, self.default_region)
        return Subject(request, number, facts, now, self.default_zone)

    def decide(
        self,
        request: CallbackFields,
        now: datetime,
        facts: OutsideFacts = NO_FACTS,
        number: NumberFacts | None = None,
        tracer: Tracer | None = None,
    ) -> Decision:
        """Rules top to bottom; the first match decides unless it says `continue = true`.
        `facts`: the outside facts (those in `needs`; absent ones are unknown). `number`
        replaces the facts parsed from the request (replaying logged facts); `tracer`
        hears of every rule tried (`explain`)."""
        subject = self.subject(request, now, facts, number)
        rules = self.rules
        positions: list[int] = []
        tried = self.candidates(subject) if tracer is None else range(len(rules))
        for position in tried:
            rule = rules[position]
            failed = rule.first_failure(subject)
            if tracer is not None:
                tracer.rule_tried(rule, failed)
            if failed is None:
                positions.append(position)
                if not rule.keep_going:
                    break
        matched = [rules[p].name for p in positions]
        key: tuple[object, ...] = (tuple(positions), request.queue_id)
        if self._varying:
            varying = self._varying
            key += tuple(
                [
                    action.variant(subject)
                    for position in (*positions, -1)
                    if position in varying
                    for action in varying[position]
                ]
            )
        fixed = self._fixed_parts.get(key) if tracer is None else None
        if fixed is None:
            draft = PatchDraft(self.names)
            actions = [a for p in positions for a in rules[p].actions] + list(self.defaults)
            for action in actions:
                action.apply(draft, subject)
            if tracer is not None or any(action.per_caller for action in actions):
                # What a contact says differs per caller: nothing here can be kept. A trace
                # builds the patch in full and keeps nothing, so it can check what is kept.
                return self._decision(
                    subject, draft.build(subject, self.horizon), matched, draft.notes
                )
            fixed = FixedPart(
                draft.build_fixed(request.queue_id), dict(draft.scalars), tuple(draft.notes)
            )
            if len(self._fixed_parts) >= FIXED_PARTS_KEPT:
                self._fixed_parts.clear()
            self._fixed_parts[key] = fixed
        patch = CallbackPatch()
        patch.CopyFrom(fixed.patch)
        notes = list(fixed.notes)
        PatchDraft.finish(patch, subject, self.horizon, fixed.values, notes)
        return self._decision(subject, patch, matched, notes)

    def _decision(
        self, subject: Subject, patch: CallbackPatch, matched: list[str], notes: list[str]
    ) -> Decision:
        zone, source = subject.caller_zone()
        derived = NO_FACTS
        if self.schedule_groups is not None or subject.schedules is not None:
            more, found = conclude(subject, self.schedule_groups, self.schedule_groups is not None)
            notes.extend(more)
            derived = found or NO_FACTS
        return Decision(
            patch=patch,
            matched_rules=matched,
            number=subject.number,
            time_zone=zone,
            time_zone_source=source,
            local_time=subject.local_time(),
            notes=notes,
            rules_version=self.version,
            derived=derived,
        )

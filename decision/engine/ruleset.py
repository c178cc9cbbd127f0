"""A loaded rule set and the decision it makes for one callback request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain

from decision.engine.actions import Action, PatchDraft
from decision.engine.conditions import Condition, OneOf
from decision.engine.numbers import NumberFacts, number_facts
from decision.engine.request import CallbackFields, Contact
from decision.engine.subject import FACT_READERS, Subject
from decision.v1.decision_pb2 import CallbackPatch

# Exact-match conditions a rule can be indexed by, most selective first.
INDEX_KEYS = (
    "widget_id",
    "queue_id",
    "script_id",
    "schedule_group_id",
    "region",
    "country_code",
    "number_type",
)


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
        exact = {c.key: c for c in self.conditions if isinstance(c, OneOf)}
        return next((exact[k] for k in INDEX_KEYS if k in exact), None)


FIXED_PARTS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class FixedPart:
    """What a combination of matched rules decides for every caller alike: the patch without
    the caller's own number and schedule, the values those are made from, and its notes.
    Decisions reuse it instead of applying and building the same actions again."""

    patch: CallbackPatch
    values: dict[str, object]
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


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """What happened to one rule, for `explain`: matched, or the first condition that failed,
    or never tried because an earlier rule decided."""

    name: str
    matched: bool
    failed: str | None = None
    skipped: bool = False


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
    uses_contact: bool = False  # only then is the directory asked, once per decision
    # key -> fact value -> positions of the rules indexed under it; plus the rules indexed nowhere.
    _index: dict[str, dict[object, list[int]]] = field(default_factory=dict, repr=False)
    _always: tuple[int, ...] = field(default=(), repr=False)
    # (matched rule positions, request queue) -> the part of the patch those rules fix.
    _fixed_parts: dict[tuple[tuple[int, ...], str], FixedPart] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(cls, **kwargs: object) -> RuleSet:
        """A rule set with its index: each rule sits under one exact-match condition, so a
        decision only looks at rules that can match (the cost does not grow with the file)."""
        rules: tuple[Rule, ...] = kwargs["rules"]  # type: ignore[assignment]
        index: dict[str, dict[object, list[int]]] = {}
        always: list[int] = []
        for position, rule in enumerate(rules):
            condition = rule.index_key()
            if condition is None:
                always.append(position)
                continue
            table = index.setdefault(condition.key, {})
            for value in condition.values:
                table.setdefault(value, []).append(position)
        return cls(**kwargs, _index=index, _always=tuple(always))  # type: ignore[arg-type]

    def candidates(self, subject: Subject) -> list[int]:
        """Positions of the rules that may match, in file order."""
        found = [self._always]
        for key, table in self._index.items():
            hit = table.get(FACT_READERS[key](subject))
            if hit:
                found.append(hit)
        if len(found) == 1:
            return list(self._always)
        return sorted(chain.from_iterable(found))

    def subject(
        self,
        request: CallbackFields,
        now: datetime,
        contact: Contact | None = None,
        number: NumberFacts | None = None,
    ) -> Subject:
        if number is None:
            number = number_facts(request.phone_number, request.country_code, self.default_region)
        return Subject(request, number, contact, now, self.default_zone)

    def decide(
        self,
        request: CallbackFields,
        now: datetime,
        contact: Contact | None = None,
        number: NumberFacts | None = None,
    ) -> Decision:
        """Rules top to bottom; the first match decides unless it says `continue = true`.
        `number` replaces the facts parsed from the request (replaying logged facts)."""
        subject = self.subject(request, now, contact, number)
        rules = self.rules
        positions: list[int] = []
        for position in self.candidates(subject):
            if rules[position].first_failure(subject) is None:
                positions.append(position)
                if not rules[position].keep_going:
                    break
        matched = [rules[p].name for p in positions]
        key = (tuple(positions), request.queue_id)
        fixed = self._fixed_parts.get(key)
        if fixed is None:
            draft = PatchDraft()
            actions = [a for p in positions for a in rules[p].actions] + list(self.defaults)
            for action in actions:
                action.apply(draft, subject)
            if any(action.reads_contact for action in actions):
                # What a contact says differs per caller: nothing here can be kept.
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

    def explain(
        self, request: CallbackFields, now: datetime, contact: Contact | None = None
    ) -> tuple[Decision, list[RuleTrace]]:
        """The same decision as `decide`, with every rule's fate; slower (no index, nothing
        kept between calls)."""
        subject = self.subject(request, now, contact)
        draft = PatchDraft()
        matched: list[str] = []
        traces: list[RuleTrace] = []
        decided = False
        for rule in self.rules:
            if decided:
                traces.append(RuleTrace(rule.name, matched=False, skipped=True))
                continue
            failed = rule.first_failure(subject)
            traces.append(RuleTrace(rule.name, failed is None, failed.key if failed else None))
            if failed is None:
                matched.append(rule.name)
                for action in rule.actions:
                    action.apply(draft, subject)
                decided = not rule.keep_going
        # Defaults only fill what no matched rule set.
        for action in self.defaults:
            action.apply(draft, subject)
        patch = draft.build(subject, self.horizon)
        return self._decision(subject, patch, matched, draft.notes), traces

    def _decision(
        self, subject: Subject, patch: CallbackPatch, matched: list[str], notes: list[str]
    ) -> Decision:
        zone, source = subject.caller_zone()
        return Decision(
            patch=patch,
            matched_rules=matched,
            number=subject.number,
            time_zone=zone,
            time_zone_source=source,
            local_time=subject.local_time(),
            notes=notes,
            rules_version=self.version,
        )

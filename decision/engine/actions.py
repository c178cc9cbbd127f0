"""Compiled `then` actions and the draft they fill in, which becomes a CallbackPatch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from google.protobuf.message import Message

from contract.callback import ANSWER_FIELDS
from contract.v1.decision_pb2 import AgentRef, CallbackPatch, RoutingData
from decision.engine.contact import CONTACT
from decision.engine.names import Names
from decision.engine.subject import Subject
from decision.engine.windows import WeeklyWindow

AGENT_OWNED_FLAG = "AGENT_OWNED_CALLBACK"

_PLAIN = {"id", "text", "integer", "boolean", "e164", "enum"}  # a value copied to its field


def _proto_names(message: type[Message]) -> dict[str, str]:
    return {f.json_name: f.name for f in message.DESCRIPTOR.fields}


_TOP, _ROUTING = _proto_names(CallbackPatch), _proto_names(RoutingData)
# `then` key -> the CallbackPatch (or RoutingData) field it sets, from the contract's table.
TOP_LEVEL_FIELDS = {
    f.then: _TOP[f.name] for f in ANSWER_FIELDS if f.value in _PLAIN and not f.routing
}
ROUTING_FIELDS = {
    f.then: _ROUTING[f.name] for f in ANSWER_FIELDS if f.value in _PLAIN and f.routing
}
LIST_FIELDS = {f.then: _ROUTING[f.name] for f in ANSWER_FIELDS if f.value == "ids"}


@dataclass(frozen=True, slots=True)
class ContactField:
    """`@contact.<field>`: a value copied from the caller's directory entry."""

    field: str

    def read(self, subject: Subject) -> str | None:
        contact = subject.fact(CONTACT)
        return contact.value_of(self.field) if contact else None


@dataclass(frozen=True, slots=True)
class ContactList:
    """`@contact` (preferred agents) or `@contact.skills`."""

    field: str

    def read(self, subject: Subject) -> tuple[str, ...]:
        contact = subject.fact(CONTACT)
        return getattr(contact, self.field) if contact else ()


@dataclass(frozen=True, slots=True)
class NextOpening:
    window: WeeklyWindow
    zone: ZoneInfo | None

    def time(self, subject: Subject) -> datetime | None:
        zone = self.zone or ZoneInfo(subject.caller_zone()[0])
        return self.window.next_opening(subject.now, zone)


@dataclass(frozen=True, slots=True)
class Delay:
    delay: timedelta

    def time(self, subject: Subject) -> datetime | None:
        return subject.now + self.delay


# What a scalar `then` key holds once decided: an id or a text, a number, a switch, or when to
# call back. A compiled value may instead copy it from the caller's contact as the rule runs.
# Each slot holds one kind (its compiler's): the casts below say which instead of checking it on
# every decision (an isinstance there cost 3% of the engine's median, `make bench`).
Scalar = str | int | bool | NextOpening | Delay
CompiledValue = Scalar | ContactField | ContactList


class PatchDraft:
    """Collects what matched rules decide. Scalars: the first to set one keeps it. Lists: union
    in order. Data: per key, the first to set it keeps it."""

    __slots__ = ("data", "lists", "notes", "scalars")

    def __init__(self) -> None:
        self.scalars: dict[str, Scalar] = {}
        self.lists: dict[str, dict[str, None]] = {key: {} for key in LIST_FIELDS}
        self.data: dict[str, str] = {}
        self.notes: list[str] = []

    def build(self, subject: Subject, horizon: timedelta) -> CallbackPatch:
        patch = self.build_fixed(subject.request.queue_id)
        self.finish(patch, subject, horizon, self.scalars, self.notes)
        return patch

    def build_fixed(self, request_queue: str) -> CallbackPatch:
        """The part of the patch that depends only on what the rules said (and on the request's
        queue, which routingData falls back to): the same for every caller the same rules
        matched, so a rule set can keep it."""
        patch = CallbackPatch()
        values = self.scalars
        queue = cast("str | None", values.get("queue"))
        if queue:
            patch.queue_id = queue
        for slot, name in TOP_LEVEL_FIELDS.items():
            if slot in values:
                setattr(patch, name, values[slot])
        self._build_routing(patch, request_queue, queue)
        if self.data:
            patch.data.update(self.data)
        return patch

    @staticmethod
    def finish(
        patch: CallbackPatch,
        subject: Subject,
        horizon: timedelta,
        values: Mapping[str, Scalar],
        notes: list[str],
    ) -> None:
        """The caller-specific part: the caller's own number and the schedule from now."""
        if values.get("normalize_number"):
            if subject.number.valid:
                patch.callback_numbers.append(subject.number.e164)
                patch.country_code = f"+{subject.number.calling_code}"
            else:
                notes.append("normalize_number skipped: the number is not valid")
        schedule = values.get("schedule")
        if schedule is not None:
            _build_schedule(patch, subject, cast("NextOpening | Delay", schedule), horizon, notes)

    def _build_routing(self, patch: CallbackPatch, request_queue: str, queue: str | None) -> None:
        routing = patch.routing_data
        touched = False
        for slot, name in ROUTING_FIELDS.items():
            if slot in self.scalars:
                setattr(routing, name, self.scalars[slot])
                touched = True
        for slot, name in LIST_FIELDS.items():
            if self.lists[slot]:
                getattr(routing, name).extend(self.lists[slot])
                touched = True
        owner = cast("str | None", self.scalars.get("agent_owned"))
        if owner:
            routing.scored_agents.add(agent=AgentRef(id=owner), score=100)
            routing.routing_flags.append(AGENT_OWNED_FLAG)
            touched = True
        if not touched:
            return
        # Genesys requires routingData.queueId, and TrueEngage may replace the object whole.
        routing_queue = queue or request_queue
        if routing_queue:
            routing.queue_id = routing_queue
        else:
            patch.ClearField("routing_data")
            self.notes.append("routingData dropped: no queue decided and none in the request")


def _build_schedule(
    patch: CallbackPatch,
    subject: Subject,
    schedule: NextOpening | Delay,
    horizon: timedelta,
    notes: list[str],
) -> None:
    try:
        at = schedule.time(subject)
    except OverflowError:  # a moment near the end of the calendar, plus a delay
        notes.append("schedule dropped: beyond the last date the calendar holds")
        return
    if at is None:
        notes.append("schedule: the window is open now, so the callback is not delayed")
        return
    if at - subject.now > horizon:
        notes.append(f"schedule dropped: {at.isoformat()} is beyond the horizon")
        return
    # Whole seconds: Genesys shows the time to agents, and sub-second precision means nothing.
    whole = at.replace(microsecond=0) + (timedelta(seconds=1) if at.microsecond else timedelta())
    patch.callback_scheduled_time.FromDatetime(whole)


_CONTACT_REFS = (ContactField, ContactList)


class Action:
    """One `then` key; `apply` writes into the draft what this rule decides. `per_caller`:
    whether what it writes depends on an outside fact of the caller (their contact), so that
    no two callers can share it."""

    __slots__ = ("key", "per_caller")
    # What it writes depends on the moment's outside facts (live state) through `variant`: the
    # rule set keeps one patch part per variant instead of one for every caller alike.
    varies = False

    def __init__(self, key: str, values: tuple[object, ...] = ()) -> None:
        self.key = key
        self.per_caller = any(isinstance(v, _CONTACT_REFS) for v in values)

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        raise NotImplementedError

    def variant(self, subject: Subject) -> object:
        """For an action that `varies`: what of this moment decides what it writes."""
        return None


class SetValue(Action):
    """A scalar. A contact reference that finds nothing leaves the slot free for later rules."""

    __slots__ = ("kind", "names", "value")

    def __init__(
        self, key: str, value: CompiledValue, names: Names | None = None, kind: str = ""
    ) -> None:
        super().__init__(key, (value,))
        self.value = value
        self.names = names
        self.kind = kind

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        if self.key in draft.scalars:
            return
        value = self.value
        decided = (
            _resolve_from_contact(self, value, draft, subject)
            if isinstance(value, ContactField | ContactList)
            else value
        )
        if decided is not None:
            draft.scalars[self.key] = decided


class AddToList(Action):
    """Skills or preferred agents: literal ids and contact references, unioned in order."""

    __slots__ = ("items", "kind", "names")

    def __init__(
        self, key: str, items: tuple[str | ContactList, ...], names: Names, kind: str
    ) -> None:
        super().__init__(key, items)
        self.items = items
        self.names = names
        self.kind = kind

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        target = draft.lists[self.key]
        for item in self.items:
            if isinstance(item, ContactList):
                for name in item.read(subject):
                    resolved = self.names.resolve(self.kind, name)
                    if resolved:
                        target[resolved] = None
                    else:
                        draft.notes.append(
                            f"{self.key}: unknown {self.kind[:-1]} {name!r} in contact"
                        )
            else:
                target[item] = None


class SetData(Action):
    __slots__ = ("items",)

    def __init__(self, key: str, items: dict[str, str | ContactField]) -> None:
        super().__init__(key, tuple(items.values()))
        self.items = items

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        for name, value in self.items.items():
            if name in draft.data:
                continue
            text = value.read(subject) if isinstance(value, ContactField) else value
            if text is not None:
                draft.data[name] = text


def _resolve_from_contact(
    action: SetValue, ref: ContactField | ContactList, draft: PatchDraft, subject: Subject
) -> str | None:
    if isinstance(ref, ContactList):  # agent_owned = "@contact": the contact's first agent
        agents = ref.read(subject)
        value = agents[0] if agents else None
    else:
        value = ref.read(subject)
    if value is None or not action.kind or action.names is None:
        return value
    resolved = action.names.resolve(action.kind, value)
    if resolved is None:
        draft.notes.append(f"{action.key}: unknown {action.kind[:-1]} {value!r} in contact")
    return resolved

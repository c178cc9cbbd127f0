"""Compiled `then` actions and the draft they fill in, which becomes a CallbackPatch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast
from zoneinfo import ZoneInfo

from google.protobuf.message import Message

from contract.callback import ANSWER_FIELDS
from contract.v1.decision_pb2 import AgentRef, CallbackPatch, RoutingData
from decision.engine.contact import CONTACT
from decision.engine.names import Names
from decision.engine.schedules import PublicHolidays
from decision.engine.subject import Subject
from decision.engine.windows import WeeklyWindow, next_opening_skipping

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
LIST_KINDS = {f.then: f.names for f in ANSWER_FIELDS if f.value == "ids"}  # "skills", "agents"


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


class NoScheduleTime(Exception):
    """A schedule that sets no time, and why (the decision's note)."""


class CallbackTime(Protocol):
    """When to call back: a time, None for "now" (Genesys reads no time as call back now), or
    NoScheduleTime raised with the note saying why nothing is set."""

    def time(self, subject: Subject) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class NextOpening:
    window: WeeklyWindow
    zone: ZoneInfo | None
    holidays: PublicHolidays | None = None  # closed all day on their public holidays

    def time(self, subject: Subject) -> datetime | None:
        zone = self.zone or ZoneInfo(subject.caller_zone()[0])
        if self.holidays is None:
            return self.window.next_opening(subject.now, zone)
        try:
            return next_opening_skipping(self.window, subject.now, zone, self.holidays.name_on)
        except LookupError as error:
            raise NoScheduleTime(f"schedule dropped: {error}") from None


@dataclass(frozen=True, slots=True)
class Delay:
    delay: timedelta

    def time(self, subject: Subject) -> datetime | None:
        return subject.now + self.delay


# What a scalar `then` key holds once decided: an id or a text, a number, a switch, or when to
# call back. A compiled value may instead copy it from the caller's contact as the rule runs.
# Each slot holds one kind (its compiler's): the casts below say which instead of checking it on
# every decision (an isinstance there cost 3% of the engine's median, `make bench`).
Scalar = str | int | bool | NextOpening | Delay | CallbackTime
CompiledValue = Scalar | ContactField | ContactList


class PatchDraft:
    """Collects what matched rules decide, then `[defaults]`. Scalars: the first to set one
    keeps it. Lists: union in order, unless a rule says `only` (the first to say it decides the
    whole list, whatever else adds to it) or `remove` (never in the list, whoever adds it).
    Data: per key, the first to set it keeps it. `names` shows ids in the notes."""

    __slots__ = ("data", "lists", "names", "notes", "only", "removed", "scalars")

    def __init__(self, names: Names | None = None) -> None:
        self.scalars: dict[str, Scalar] = {}
        # Per list: item -> who added it (a rule, or [defaults]), for explain's notes.
        self.lists: dict[str, dict[str, str]] = {key: {} for key in LIST_FIELDS}
        self.only: dict[str, tuple[str, dict[str, None]]] = {}  # list -> (who, its items)
        self.removed: dict[str, dict[str, str]] = {}  # list -> item -> who removed it
        self.data: dict[str, str] = {}
        self.notes: list[str] = []
        self.names = names

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
            _build_schedule(patch, subject, cast("CallbackTime", schedule), horizon, notes)

    def _build_routing(self, patch: CallbackPatch, request_queue: str, queue: str | None) -> None:
        routing = patch.routing_data
        touched = False
        for slot, name in ROUTING_FIELDS.items():
            if slot in self.scalars:
                setattr(routing, name, self.scalars[slot])
                touched = True
        for slot, name in LIST_FIELDS.items():
            items = self._settled(slot) if slot in self.only or slot in self.removed else None
            if items is None:
                items = list(self.lists[slot])
            if items:
                getattr(routing, name).extend(items)
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

    def _settled(self, key: str) -> list[str]:
        """A list some rule replaced (`only`) or removed from, with a note of what that
        dropped and who had put it there."""
        added = self.lists[key]
        removed = self.removed.get(key, {})
        only = self.only.get(key)
        kept = list(only[1] if only else added)
        final = [item for item in kept if item not in removed]
        if only:
            dropped = [item for item in added if item not in only[1]]
            if dropped:
                self.notes.append(
                    f"{key}: {only[0]} kept only {self._shown(key, only[1])}, dropping "
                    f"{self._shown_by(key, dropped, added)}"
                )
        by_remover: dict[str, list[str]] = {}
        for item, who in removed.items():
            if item in kept:
                by_remover.setdefault(who, []).append(item)
        for who, items in by_remover.items():
            origins = added if not only else dict.fromkeys(items, only[0])
            self.notes.append(f"{key}: {who} removed {self._shown_by(key, items, origins)}")
        return final

    def _shown(self, key: str, items: Iterable[str]) -> str:
        """Ids as their names, where the rules name them: [spanish, english]."""
        kind = LIST_KINDS[key]
        names = self.names
        shown = [(names.name_of(kind, i) if names else None) or i for i in items]
        return f"[{', '.join(shown)}]"

    def _shown_by(self, key: str, items: list[str], origins: Mapping[str, str]) -> str:
        """Items grouped by who put them there: english (rule 'uk-mobile'), mobile ([defaults])."""
        groups: dict[str, list[str]] = {}
        for item in items:
            groups.setdefault(origins.get(item, "?"), []).append(item)
        return ", ".join(f"{self._shown(key, g)[1:-1]} ({who})" for who, g in groups.items())


def _build_schedule(
    patch: CallbackPatch,
    subject: Subject,
    schedule: CallbackTime,
    horizon: timedelta,
    notes: list[str],
) -> None:
    try:
        at = schedule.time(subject)
    except OverflowError:  # a moment near the end of the calendar, plus a delay
        notes.append("schedule dropped: beyond the last date the calendar holds")
        return
    except NoScheduleTime as why:
        notes.append(str(why))
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


ADD, ONLY, REMOVE = "add", "only", "remove"  # what a list action does with its items


class AddToList(Action):
    """Skills or preferred agents: literal ids and contact references. `mode` ADD unions them
    in order (`skills = [...]`); ONLY makes them the whole list (`skills = { only = [...] }`);
    REMOVE keeps them out of it (`skills = { remove = [...] }`). `origin`: the rule (or
    [defaults]) it belongs to, which explain's notes name."""

    __slots__ = ("items", "kind", "mode", "names", "origin")

    def __init__(
        self,
        key: str,
        items: tuple[str | ContactList, ...],
        names: Names,
        kind: str,
        mode: str = ADD,
        origin: str = "",
    ) -> None:
        super().__init__(key, items)
        self.items = items
        self.names = names
        self.kind = kind
        self.mode = mode
        self.origin = origin

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        if self.mode == ADD:
            target = draft.lists[self.key]
            for item in self._resolved(draft, subject):
                target.setdefault(item, self.origin)
        elif self.mode == ONLY:
            earlier = draft.only.get(self.key)
            if earlier is None:
                draft.only[self.key] = (self.origin, dict.fromkeys(self._resolved(draft, subject)))
            else:
                draft.notes.append(
                    f"{self.key}: {self.origin}'s only ignored: {earlier[0]} decided the list first"
                )
        else:
            removed = draft.removed.setdefault(self.key, {})
            for item in self._resolved(draft, subject):
                removed.setdefault(item, self.origin)

    def _resolved(self, draft: PatchDraft, subject: Subject) -> list[str]:
        found: list[str] = []
        for item in self.items:
            if isinstance(item, ContactList):
                for name in item.read(subject):
                    resolved = self.names.resolve(self.kind, name)
                    if resolved:
                        found.append(resolved)
                    else:
                        draft.notes.append(
                            f"{self.key}: unknown {self.kind[:-1]} {name!r} in contact"
                        )
            else:
                found.append(item)
        return found


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

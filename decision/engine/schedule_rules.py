"""Schedule groups as the rules see them: which groups a rule set knows (the org snapshot's and
those declared in the file), each group's state and next opening at the decision's moment, and
the `SCHEDULE_GROUPS` fact that carries them into the reply, the decision log and replay.

The evaluator itself is `schedules.py`; this module only asks it, once per group per decision,
and remembers what it said on the decision's Subject. A decision replayed from the log takes
the logged states instead of evaluating again (the org may have changed since)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from decision.engine.actions import NoScheduleTime
from decision.engine.facts import Fact, OutsideFacts
from decision.engine.names import Names
from decision.engine.schedules import (
    GroupState,
    ScheduleError,
    ScheduleGroup,
    declared_group,
    evaluate,
    next_opening,
)
from decision.engine.subject import Subject

STATES = ("open", "closed", "holiday", "emergency")


@dataclass(frozen=True, slots=True)
class GroupFact:
    """What a decision knew of one schedule group: its state at the moment, the schedules that
    made it so (Architect's "Output Active Schedules", as (id, name) pairs), why, and the next
    opening once some action asked for it (`next_reason` "" until then)."""

    id: str
    name: str
    state: str
    active: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    note: str = ""
    next_open: datetime | None = None
    next_reason: str = ""


def _write(groups: Mapping[str, GroupFact]) -> dict[str, Any]:
    return {
        ident: {
            "name": fact.name,
            "state": fact.state,
            "active": [{"id": i, "name": n} for i, n in fact.active],
            "reason": fact.reason,
            "note": fact.note,
            "next_opening": fact.next_open.isoformat() if fact.next_open else None,
            "next_opening_reason": fact.next_reason,
        }
        for ident, fact in groups.items()
    }


def _read(raw: Mapping[str, Any]) -> dict[str, GroupFact]:
    """The logged groups (or a cases file's `schedule_groups = { "<id>" = { state = ... } }`)."""
    found: dict[str, GroupFact] = {}
    for ident, entry in raw.items():
        if not isinstance(entry, Mapping):
            continue
        active = tuple(
            (str(a.get("id", "")), str(a.get("name", "")))
            for a in entry.get("active") or ()
            if isinstance(a, Mapping)
        )
        opening = entry.get("next_opening")
        try:
            next_open = datetime.fromisoformat(opening) if isinstance(opening, str) else None
        except ValueError:
            next_open = None
        found[str(ident)] = GroupFact(
            id=str(ident),
            name=str(entry.get("name") or ident),
            state=str(entry.get("state") or "closed"),
            active=active,
            reason=str(entry.get("reason") or ""),
            note=str(entry.get("note") or ""),
            next_open=next_open,
            next_reason=str(entry.get("next_opening_reason") or ""),
        )
    return found


SCHEDULE_GROUPS: Fact[dict[str, GroupFact]] = Fact("schedule_groups", _read, _write)


class ScheduleGroups:
    """The schedule groups one rule set knows: by id (what TrueEngage sends as scheduleGroupId)
    and by name (what rules write). Declared groups come first, then the org snapshot's."""

    def __init__(self, declared: Sequence[ScheduleGroup], org: Mapping[str, ScheduleGroup]):
        self.by_id: dict[str, ScheduleGroup] = dict(org)
        # A name may be given to groups of two divisions: such a name names none of them.
        self._org_names: dict[str, list[ScheduleGroup]] = {}
        for group in org.values():
            self._org_names.setdefault(group.name.casefold(), []).append(group)
        self._declared = {g.name.casefold(): g for g in declared}
        for group in declared:
            self.by_id[group.id] = group

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def find(self, value: str, names: Names) -> ScheduleGroup | None:
        """A group by id, by name (without case; declared groups first), or by a
        `[names.schedule_groups]` alias; None for a name of several snapshot groups."""
        found = self.by_id.get(value) or self._declared.get(value.casefold())
        if found is None:
            resolved = names.resolve("schedule_groups", value)
            found = self.by_id.get(resolved) if resolved else None
        if found is None:
            same = self._org_names.get(value.casefold(), [])
            found = same[0] if len(same) == 1 else None
        return found

    def why_not(self, value: str) -> str:
        """Why `find` found no group for `value`, for `check`'s error."""
        same = self._org_names.get(value.casefold(), [])
        if len(same) > 1:
            ids = ", ".join(sorted(g.id for g in same))
            return (
                f"{value!r} names {len(same)} schedule groups in the org snapshot ({ids}): give "
                "the id, or a [names.schedule_groups] alias"
            )
        known = self.names_known()
        return (
            f'unknown schedule group {value!r}: neither declared ([schedule_groups."<name>"]) '
            "nor in the org snapshot" + (f" (known: {known})" if known else "")
        )

    def names_known(self) -> str:
        shown = sorted(g.name for g in self.by_id.values())
        return ", ".join(repr(n) for n in shown[:8]) + (", ..." if len(shown) > 8 else "")


def read_declared_groups(raw: Any, default_holidays: str, problem: Any) -> list[ScheduleGroup]:
    """The file's `[schedule_groups."<name>"]` tables; `problem(where, message)` hears of each
    group that is wrong (the message names the group and the field)."""
    if not isinstance(raw, Mapping):
        problem("schedule_groups", 'expected tables like [schedule_groups."UK hours"]')
        return []
    groups: list[ScheduleGroup] = []
    seen: dict[str, str] = {}
    for name, table in raw.items():
        try:
            group = declared_group(name, table, default_holidays)
        except ScheduleError as error:
            where, _, message = str(error).partition(": ")
            problem(where, message)
            continue
        if group.id in seen:
            problem(
                f"schedule_groups.{name}.id",
                f"{group.id!r} is the id of schedule group {seen[group.id]!r} too",
            )
            continue
        seen[group.id] = name
        groups.append(group)
    return groups


@dataclass(slots=True)
class _Asked:
    """What one decision asked of schedule groups: their facts by id, and notes once each."""

    facts: dict[str, GroupFact] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)


def _asked(subject: Subject) -> _Asked:
    asked = subject.schedules
    if asked is None:
        asked = subject.schedules = _Asked()
    assert isinstance(asked, _Asked)
    return asked


# Per group: the last state evaluate() gave and its fact. A group's states are kept per local
# day (schedules.py), so decisions inside one segment get the same state object back, and the
# fact made from it is reused rather than made again on every decision.
_LAST_FACT: dict[int, tuple[GroupState, GroupFact]] = {}


def _fact_of(group: ScheduleGroup, at: datetime) -> GroupFact:
    state = evaluate(group, at)
    last = _LAST_FACT.get(id(group))
    if last is not None and last[0] is state:
        return last[1]
    names = {s.id: s.name for kind in (group.open, group.closed, group.holiday) for s in kind}
    fact = GroupFact(
        id=group.id,
        name=group.name,
        state=state.state,
        active=tuple((i, names.get(i, i)) for i in state.active),
        reason=state.reason,
        note=state.note,
    )
    if len(_LAST_FACT) >= 4096:  # groups of rule sets long replaced
        _LAST_FACT.clear()
    _LAST_FACT[id(group)] = (state, fact)
    return fact


def group_fact(subject: Subject, group: ScheduleGroup | None, ident: str) -> GroupFact | None:
    """The state of a group (`group`, or the one with id `ident` that the rules do not know)
    at the decision's moment: evaluated once per decision, or taken from the facts the decision
    was given (a replayed log entry). None: nothing knows the group."""
    asked = _asked(subject)
    key = group.id if group is not None else ident
    found = asked.facts.get(key)
    if found is None:
        given = subject.fact(SCHEDULE_GROUPS)
        found = given.get(key) if given else None
        if found is None and group is not None:
            found = _fact_of(group, subject.now)
        if found is None:
            return None
        asked.facts[key] = found
    return found


def request_group(subject: Subject, groups: ScheduleGroups) -> tuple[ScheduleGroup | None, str]:
    """The request's scheduleGroupId as a group the rules know (None if not) and the id."""
    ident = subject.request.schedule_group_id
    return groups.by_id.get(ident), ident


def unknown_text(ident: str, what: str) -> str:
    if not ident:
        return f"{what}: the request has no scheduleGroupId"
    return (
        f"{what}: the request's schedule group {ident!r} is not known (not in the org "
        "snapshot nor declared in the rules)"
    )


def unknown_note(subject: Subject, ident: str, what: str) -> None:
    """Says once per decision that the request's group is unknown to the rules."""
    _asked(subject).notes[unknown_text(ident, what)] = None


def opening_fact(
    subject: Subject, group: ScheduleGroup | None, ident: str, horizon: timedelta
) -> GroupFact | None:
    """The group's fact with its next opening after the decision's moment (within `horizon`),
    computed once per decision unless the given facts hold it."""
    found = group_fact(subject, group, ident)
    if found is None or found.next_reason or group is None:
        return found
    opening = next_opening(group, subject.now, horizon)
    found = replace(found, next_open=opening.at, next_reason=opening.reason)
    _asked(subject).facts[found.id] = found
    return found


def conclude(
    subject: Subject, groups: ScheduleGroups | None, reads_groups: bool
) -> tuple[list[str], OutsideFacts | None]:
    """After a decision: its notes about schedule groups and the SCHEDULE_GROUPS fact of what
    it asked. A rule set that reads groups always states the request's group (when known), so
    the log holds it for replay whichever rule decided."""
    if reads_groups and groups is not None:
        group, ident = request_group(subject, groups)
        if group is not None or ident:
            group_fact(subject, group, ident)
    asked = subject.schedules
    if not isinstance(asked, _Asked):
        return [], None
    facts = OutsideFacts({SCHEDULE_GROUPS: dict(asked.facts)}) if asked.facts else None
    return list(asked.notes), facts


@dataclass(frozen=True, slots=True)
class GroupOpening:
    """`schedule = "next open"` (the request's group, `group` None) or `{ next_open = "..." }`:
    the callback is scheduled at the group's next opening; nothing when it is open now."""

    groups: ScheduleGroups
    group: ScheduleGroup | None
    horizon: timedelta

    def time(self, subject: Subject) -> datetime | None:
        group: ScheduleGroup | None
        if self.group is not None:
            group, ident = self.group, self.group.id
        else:
            group, ident = request_group(subject, self.groups)
        fact = opening_fact(subject, group, ident, self.horizon)
        if fact is None:
            raise NoScheduleTime(unknown_text(ident, "schedule dropped"))
        label = f"schedule group {fact.name!r}"
        if fact.next_reason == "opens" and fact.next_open is not None:
            return fact.next_open
        if fact.next_reason == "open-now":
            raise NoScheduleTime(f"schedule: {label} is open now, so the callback is not delayed")
        if fact.next_reason == "beyond-horizon" or not fact.next_reason:
            # A logged group that never had its next opening computed is treated as not opening:
            # replay cannot evaluate a group the candidate rules do not know.
            raise NoScheduleTime(
                f"schedule dropped: {label} does not open within {self.horizon.days} days"
            )
        raise NoScheduleTime(f"schedule dropped: {label} is {fact.state} ({fact.note})")

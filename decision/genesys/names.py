"""The names an org snapshot gives the rules: `queue = "Support UK"`, `skills = ["English"]`,
agents by email or by name, each resolved to its Genesys id, and every id the rules give checked
against the org. Names resolve over active entities, then over inactive ones (with a warning, as
an id of one does); a deleted entity's name is free, and using it is an error."""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Any

# The rules' kinds of names -> the snapshot's lists.
KIND_LISTS = {
    "queues": "queues",
    "skills": "skills",
    "languages": "languages",
    "agents": "users",
    "scripts": "scripts",
    "schedule_groups": "schedule_groups",
}
_SINGULAR = {
    "queues": "queue",
    "skills": "skill",
    "languages": "language",
    "agents": "user",
    "scripts": "script",
    "schedule_groups": "schedule group",
}


class OrgNames:
    """A `NameSource` (decision.engine.names) over one snapshot document."""

    def __init__(self, document: dict[str, Any], source: str) -> None:
        self.source = source
        self._by_id: dict[str, dict[str, dict[str, Any]]] = {}
        self._by_name: dict[str, dict[str, list[str]]] = {}
        self._inactive_by_name: dict[str, dict[str, list[str]]] = {}
        for kind, key in KIND_LISTS.items():
            entities = {e["id"]: e for e in document.get(key, [])}
            names: dict[str, list[str]] = defaultdict(list)
            inactive: dict[str, list[str]] = defaultdict(list)
            for entity in entities.values():
                state = entity.get("state", "active")
                into = names if state == "active" else inactive if state == "inactive" else None
                if into is None:  # deleted: its name is free
                    continue
                for name in _names_of(kind, entity):
                    into[name.casefold()].append(entity["id"])
            self._inactive_by_name[kind] = dict(inactive)
            self._by_id[kind] = entities
            self._by_name[kind] = dict(names)
        self._owned_callbacks = {
            q["id"]: q["agent_owned_callbacks"]
            for q in document.get("queues", [])
            if isinstance(q.get("agent_owned_callbacks"), bool)
        }
        self._members = {
            q["id"]: {m["id"]: bool(m.get("joined")) for m in q.get("members", [])}
            for q in document.get("queues", [])
        }

    def resolve(self, kind: str, value: str) -> str | None:
        ids = self._by_name.get(kind, {}).get(value.casefold(), [])
        if not ids:  # no active one: an inactive one, which `warnings` then says is inactive
            ids = self._inactive_by_name.get(kind, {}).get(value.casefold(), [])
        return ids[0] if len(ids) == 1 else None

    def unknown(self, kind: str, value: str) -> str:
        """Why `value` names no single entity of `kind` (for `check`'s error)."""
        ids = self._by_name.get(kind, {}).get(value.casefold(), [])
        what = _SINGULAR.get(kind, kind)
        if len(ids) > 1:
            which = ", ".join(self._with_division(kind, entity_id) for entity_id in sorted(ids))
            return (
                f"{value!r} names {len(ids)} {kind.replace('_', ' ')} in the org snapshot "
                f"({which}): give the id, or a [names.{kind}] alias"
            )
        inactive = [
            e
            for e in self._by_id.get(kind, {}).values()
            if e.get("state", "active") != "active"
            and value.casefold() in {n.casefold() for n in _names_of(kind, e)}
        ]
        if inactive:
            return f"{what} {value!r} is {inactive[0].get('state')} in the org snapshot"
        close = difflib.get_close_matches(
            value.casefold(), list(self._by_name.get(kind, {})), n=3, cutoff=0.6
        )
        shown = [self._display(kind, name) for name in close]
        hint = f"; did you mean {' or '.join(repr(s) for s in shown)}?" if shown else ""
        return f"unknown {what} {value!r} (not in [names.{kind}] nor the org snapshot){hint}"

    def _with_division(self, kind: str, entity_id: str) -> str:
        division = self._by_id[kind][entity_id].get("division")
        return f"{entity_id} in {division}" if division else entity_id

    def _display(self, kind: str, folded: str) -> str:
        entity = self._by_id[kind][self._by_name[kind][folded][0]]
        return next(n for n in _names_of(kind, entity) if n.casefold() == folded)

    def knows(self, kind: str, entity_id: str) -> bool:
        return entity_id in self._by_id.get(kind, {})

    def id_problem(self, kind: str, entity_id: str) -> str | None:
        if kind not in self._by_id or self.knows(kind, entity_id):
            return None
        return f"{_SINGULAR.get(kind, kind)} id {entity_id} is not in the org snapshot"

    def warnings(self, kind: str, entity_id: str) -> list[str]:
        entity = self._by_id.get(kind, {}).get(entity_id)
        if entity is None or entity.get("state", "active") == "active":
            return []
        name = entity.get("name") or entity_id
        return [f"{_SINGULAR.get(kind, kind)} {name!r} is {entity.get('state')} in the org"]

    def members(self, queue_id: str) -> dict[str, bool] | None:
        """The queue's members (user id -> joined), None when the snapshot does not know it."""
        return self._members.get(queue_id)

    def name_of(self, kind: str, entity_id: str) -> str | None:
        entity = self._by_id.get(kind, {}).get(entity_id)
        return str(entity.get("name")) if entity else None

    def owned_callbacks(self, queue_id: str) -> bool | None:
        """The queue's agentOwnedRouting.enableAgentOwnedCallbacks as pulled (a queue the
        listing gave none counts as not enabling them)."""
        return self._owned_callbacks.get(queue_id)


class UnreadOrg:
    """The `NameSource` of a snapshot the rules name but that could not be read (its own
    problem refuses the rules): every name used is told as not checkable, once per use, and no
    id is doubted."""

    def __init__(self, source: str) -> None:
        self.source = source

    def resolve(self, kind: str, value: str) -> str | None:
        return None

    def unknown(self, kind: str, value: str) -> str:
        return (
            f"{_SINGULAR.get(kind, kind)} {value!r} cannot be looked up: the org snapshot "
            "could not be read (see genesys.snapshot)"
        )

    def id_problem(self, kind: str, entity_id: str) -> str | None:
        return None

    def warnings(self, kind: str, entity_id: str) -> list[str]:
        return []

    def members(self, queue_id: str) -> dict[str, bool] | None:
        return None

    def name_of(self, kind: str, entity_id: str) -> str | None:
        return None

    def owned_callbacks(self, queue_id: str) -> bool | None:
        return None


def _names_of(kind: str, entity: dict[str, Any]) -> list[str]:
    names = [str(entity.get("name", ""))]
    if kind == "agents" and entity.get("email"):
        names.append(str(entity["email"]))
    return [n for n in names if n]

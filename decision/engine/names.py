"""Human names for Genesys ids: the rules file's own `[names.*]` tables first, then any other
source of names the rules are compiled with (a Genesys org snapshot)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from contract.callback import is_genesys_id

KINDS = ("queues", "skills", "languages", "agents", "scripts", "schedule_groups")


class NameSource(Protocol):
    """Somewhere the org's entities can be looked up by name and checked by id (a Genesys org
    snapshot); what `check` says of a name or an id comes from it."""

    def resolve(self, kind: str, value: str) -> str | None:
        """The id `value` names among entities of `kind` (one of KINDS), or None."""
        ...

    def unknown(self, kind: str, value: str) -> str:
        """Why `value` names no single entity (none, or several), for an error."""
        ...

    def id_problem(self, kind: str, entity_id: str) -> str | None:
        """Why an id cannot be used (not in the org), or None."""
        ...

    def warnings(self, kind: str, entity_id: str) -> list[str]:
        """What `check` should warn about an entity that can be used (inactive, ...)."""
        ...

    def members(self, queue_id: str) -> dict[str, bool] | None:
        """A queue's members (user id -> joined), None when unknown."""
        ...

    def name_of(self, kind: str, entity_id: str) -> str | None:
        """What the org calls an entity, for showing beside its id."""
        ...

    def owned_callbacks(self, queue_id: str) -> bool | None:
        """Whether the queue enables agent-owned callbacks, None when unknown."""
        ...


class Names:
    """Resolves "support-uk" to its queue id; a value that already is an id passes through.
    `[names.*]` entries come first (aliases), then each of `sources` in turn."""

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, str]],
        sources: Sequence[NameSource] = (),
        broken: Mapping[str, set[str]] | None = None,
    ) -> None:
        """`broken`: per kind, the aliases whose value is wrong (reported where they are
        written): a rule using one is told so, not that the value is missing from the org."""
        self._tables = {kind: dict(tables.get(kind, {})) for kind in KINDS}
        self._sources = tuple(sources)
        self._broken = {kind: set((broken or {}).get(kind, ())) for kind in KINDS}

    def resolve(self, kind: str, value: str) -> str | None:
        if is_genesys_id(value):
            return value
        if value in self._broken[kind]:
            return None
        found = self._tables[kind].get(value)
        if found is None:
            for source in self._sources:
                found = source.resolve(kind, value)
                if found is not None:
                    break
        return found

    @property
    def checked(self) -> bool:
        """Whether ids are checked against an org (a source is there)."""
        return bool(self._sources)

    def unknown(self, kind: str, value: str) -> str:
        if value in self._broken[kind]:
            return (
                f"the [names.{kind}] alias {value!r} cannot be used: its value is not a "
                f"Genesys id{' nor a name in the org snapshot' if self._sources else ''} "
                f"(names.{kind}.{value})"
            )
        for source in self._sources:
            return source.unknown(kind, value)
        return f"unknown {kind[:-1]} name {value!r} (not in [names.{kind}])"

    def id_problems(self, kind: str, entity_id: str) -> list[str]:
        found = [source.id_problem(kind, entity_id) for source in self._sources]
        return [p for p in found if p]

    def warnings(self, kind: str, entity_id: str) -> list[str]:
        return [w for source in self._sources for w in source.warnings(kind, entity_id)]

    def name_of(self, kind: str, entity_id: str) -> str | None:
        """The name shown beside an id: the file's own alias first, then the org's."""
        for alias, value in self._tables[kind].items():
            if value == entity_id:
                return alias
        for source in self._sources:
            found = source.name_of(kind, entity_id)
            if found:
                return found
        return None

    def members(self, queue_id: str) -> dict[str, bool] | None:
        for source in self._sources:
            found = source.members(queue_id)
            if found is not None:
                return found
        return None

    def owned_callbacks(self, queue_id: str) -> bool | None:
        for source in self._sources:
            found = source.owned_callbacks(queue_id)
            if found is not None:
                return found
        return None


def read_names(
    raw: Any, problem: Callable[[str, str], None], sources: Sequence[NameSource] = ()
) -> Names:
    """The `[names.*]` tables; `problem(where, message)` hears of every entry that is wrong. An
    alias's value is an id, or with an org snapshot also a name it gives (`ana = "Ana Agent"`,
    an email for agents), which stands for that name's id."""
    if not isinstance(raw, dict):
        problem("names", "expected tables like [names.queues]")
        return Names({}, sources)
    tables: dict[str, dict[str, str]] = {}
    broken: dict[str, set[str]] = {}
    for kind, table in raw.items():
        if kind not in KINDS:
            problem(f"names.{kind}", f"unknown kind of name (known: {', '.join(KINDS)})")
        elif not isinstance(table, dict):
            problem(f"names.{kind}", 'expected name = "<id>" pairs')
        else:
            tables[kind] = {}
            for name, value in table.items():
                found = _alias_target(kind, value, sources)
                if found is None:
                    problem(f"names.{kind}.{name}", _alias_problem(kind, value, sources))
                    broken.setdefault(kind, set()).add(name)
                else:
                    tables[kind][name] = found
    return Names(tables, sources, broken)


def _alias_target(kind: str, value: Any, sources: Sequence[NameSource]) -> str | None:
    if not isinstance(value, str):
        return None
    if is_genesys_id(value):
        return value
    return next((f for s in sources if (f := s.resolve(kind, value)) is not None), None)


def _alias_problem(kind: str, value: Any, sources: Sequence[NameSource]) -> str:
    if not sources or not isinstance(value, str) or not value:
        return "expected a Genesys id (a UUID)"
    return f"expected a Genesys id or a name in the org snapshot: {sources[0].unknown(kind, value)}"

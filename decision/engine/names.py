"""Human names for Genesys ids (`[names.*]` in the rules file)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contract.callback import is_genesys_id

KINDS = ("queues", "skills", "languages", "agents", "scripts")


class Names:
    """Resolves "support-uk" to its queue id; a value that already is an id passes through."""

    def __init__(self, tables: Mapping[str, Mapping[str, str]]) -> None:
        self._tables = {kind: dict(tables.get(kind, {})) for kind in KINDS}

    def resolve(self, kind: str, value: str) -> str | None:
        if is_genesys_id(value):
            return value
        return self._tables[kind].get(value)


def read_names(raw: Any, problem: Callable[[str, str], None]) -> Names:
    """The `[names.*]` tables; `problem(where, message)` hears of every entry that is wrong."""
    if not isinstance(raw, dict):
        problem("names", "expected tables like [names.queues]")
        return Names({})
    for kind, table in raw.items():
        if kind not in KINDS:
            problem(f"names.{kind}", f"unknown kind of name (known: {', '.join(KINDS)})")
        elif not isinstance(table, dict):
            problem(f"names.{kind}", 'expected name = "<id>" pairs')
        else:
            for name, value in table.items():
                if not isinstance(value, str) or not is_genesys_id(value):
                    problem(f"names.{kind}.{name}", "expected a Genesys id (a UUID)")
    return Names({k: v for k, v in raw.items() if isinstance(v, dict)})

"""Human names for Genesys ids (`[names.*]` in the rules file)."""

from __future__ import annotations

from collections.abc import Mapping

from decision.genesys import is_genesys_id

KINDS = ("queues", "skills", "languages", "agents", "scripts")


class Names:
    """Resolves "support-uk" to its queue id; a value that already is an id passes through."""

    def __init__(self, tables: Mapping[str, Mapping[str, str]]) -> None:
        self._tables = {kind: dict(tables.get(kind, {})) for kind in KINDS}

    def resolve(self, kind: str, value: str) -> str | None:
        if is_genesys_id(value):
            return value
        return self._tables[kind].get(value)

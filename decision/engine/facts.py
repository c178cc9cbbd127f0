"""Facts from outside the engine: what a decision is told rather than works out itself (the
caller's contact today; an org's live state, schedule-group states, live queue state next).

Each kind is declared once, as a `Fact`, beside the conditions and actions that read it; those
record what they read while the rules compile (`Compiler.reads`), so `RuleSet.needs` says which
facts a rule set asks for and a service only fetches those. A decision gets its facts in one
`OutsideFacts` value; a fact that could not be had is simply absent ("unknown"). How a fact is
written to the decision log and read back (replay, test cases, `explain --contact`) is declared
with it, so none of those knows one fact from another."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Fact(Generic[T]):
    """One kind of outside fact. `read(mapping)` makes its value from plain data (a log entry,
    a cases file's table, `--contact k=v`); `write(value)` makes that plain data. `private`:
    keys of `write`'s result the decision log withholds (null) unless it keeps full numbers; a
    fact read back without them has `withheld(key)` in their place."""

    __slots__ = ("name", "private", "read", "write")
    registry: dict[str, Fact[Any]] = {}

    def __init__(
        self,
        name: str,
        read: Callable[[Mapping[str, Any]], T],
        write: Callable[[T], dict[str, Any]],
        private: tuple[str, ...] = (),
    ) -> None:
        if name in Fact.registry:
            raise ValueError(f"fact {name!r} is declared twice")
        self.name = name
        self.read = read
        self.write = write
        self.private = private
        Fact.registry[name] = self

    def __repr__(self) -> str:
        return f"Fact({self.name!r})"

    @staticmethod
    def withheld(fact: str, key: str) -> str:
        """What stands for a private value that was not logged."""
        return f"({fact} {key} not logged)"


class OutsideFacts:
    """The outside facts of one decision; immutable. A fact given as None is not known."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[Fact[Any], object] | None = None) -> None:
        self._values = {f: v for f, v in (values or {}).items() if v is not None}

    def get(self, fact: Fact[T]) -> T | None:
        # Values are kept under their Fact, which one dict cannot type per key.
        return self._values.get(fact)  # type: ignore[return-value]

    def __contains__(self, fact: object) -> bool:
        return fact in self._values

    def __iter__(self) -> Iterator[Fact[Any]]:
        return iter(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"OutsideFacts({self._values!r})"


NO_FACTS = OutsideFacts()

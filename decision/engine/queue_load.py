"""The `queue_load` condition: a queue's live state, e.g.
`queue_load = { queue = "Support UK", waiting = { above = 5 } }` (the request's queue when
`queue` is left out). Unknown state (never read, stale) never matches."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from decision.engine.condition import Condition
from decision.engine.live import LIVE, MEASURES
from decision.engine.subject import Subject

if TYPE_CHECKING:
    from decision.engine.compiling import Compiler

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
_BOUNDS = ("above", "below")


class QueueLoadCondition(Condition):
    """Holds when every measure is inside its bounds (above: strictly more, below: strictly
    less). `queue`: a queue id, or "" for the request's queue."""

    __slots__ = ("bounds", "queue")

    def __init__(self, key: str, queue: str, bounds: tuple[tuple[str, float, float], ...]) -> None:
        super().__init__(key)
        self.queue = queue
        self.bounds = bounds  # (measure, above, below), open bounds as -inf / inf

    def test(self, subject: Subject) -> bool:
        view = subject.fact(LIVE)
        if view is None:
            return False
        load = view.queue(self.queue or subject.request.queue_id)
        if load is None:
            return False
        for measure, above, below in self.bounds:  # measures are QueueLoad's attributes
            value = getattr(load, measure)
            if value is None or not above < value < below:
                return False
        return True

    @property
    def measures(self) -> frozenset[str]:
        return frozenset(m for m, _, _ in self.bounds)


def _amount(compiler: Compiler, where: str, measure: str, value: Any) -> float | None:
    if isinstance(value, bool):
        value = None
    elif measure == "estimated_wait" and isinstance(value, str):
        match = _DURATION.match(value)
        value = float(match[1]) * _SECONDS[match[2]] if match else None
    if not isinstance(value, int | float) or value < 0:
        example = ' (seconds, or like "10m", "90s")' if measure == "estimated_wait" else ""
        compiler.problem(where, f"expected a number of at least 0{example}")
        return None
    return float(value)


def compile_queue_load(
    compiler: Compiler, where: str, kind: Any, value: Any
) -> QueueLoadCondition | None:
    """`kind`: its ConditionKind (only its key is read)."""
    compiler.reads(LIVE)
    if not isinstance(value, dict) or not set(value) - {"queue"}:
        compiler.problem(
            where,
            'expected { queue = "<name or id>", <measure> = { above = n, below = n } } with a '
            f"measure of: {', '.join(MEASURES)}",
        )
        return None
    queue = ""
    if "queue" in value:
        queue = compiler.genesys_id(f"{where}.queue", "queues", value["queue"]) or ""
    bounds: list[tuple[str, float, float]] = []
    for measure, limits in value.items():
        place = f"{where}.{measure}"
        if measure == "queue":
            continue
        if measure not in MEASURES:
            compiler.problem(place, f"unknown measure (known: {', '.join(MEASURES)})")
            continue
        if not isinstance(limits, dict) or not limits or set(limits) - set(_BOUNDS):
            compiler.problem(place, "expected { above = n }, { below = n } or both (a range)")
            continue
        above = below = None
        if "above" in limits:
            above = _amount(compiler, f"{place}.above", measure, limits["above"])
        if "below" in limits:
            below = _amount(compiler, f"{place}.below", measure, limits["below"])
        low = -float("inf") if above is None else above
        high = float("inf") if below is None else below
        if low >= high:
            compiler.problem(place, f"above ({above:g}) must be less than below ({below:g})")
            continue
        bounds.append((measure, low, high))
    return QueueLoadCondition(kind.key, queue, tuple(bounds))

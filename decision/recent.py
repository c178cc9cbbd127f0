"""The last decisions of this replica, in memory, for the operator console (ListDecisions) and the
per-rule counts of GetRules. Recording is an append on the request path; masking and filtering
happen when someone asks."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from decision.v1 import decision_pb2
from plumbing.logs import mask_number

DEFAULT_WINDOW = 500


@dataclass(frozen=True, slots=True)
class RecentDecision:
    sequence: int
    decided_at: datetime
    request: decision_pb2.DecideRequest
    response: decision_pb2.DecideResponse


class RecentDecisions:
    """A bounded window of decisions plus counts per rule since start. The protos are kept as
    the servicer built them and never mutated; readers get masked copies."""

    def __init__(self, window: int = DEFAULT_WINDOW, full_numbers: bool = False) -> None:
        self.window = window
        self.full_numbers = full_numbers
        self._recent: deque[RecentDecision] = deque(maxlen=window)
        self._sequence = 0
        self.by_rule: Counter[str] = Counter()
        self.total = 0
        self.unmatched = 0

    def record(
        self,
        request: decision_pb2.DecideRequest,
        response: decision_pb2.DecideResponse,
        decided_at: datetime,
    ) -> None:
        self._sequence += 1
        self._recent.append(RecentDecision(self._sequence, decided_at, request, response))
        self.total += 1
        if response.matched_rules:
            self.by_rule.update(response.matched_rules)
        else:
            self.unmatched += 1

    def newest(
        self, rule: str = "", limit: int = 0, after_sequence: int = 0
    ) -> Iterator[decision_pb2.RecentDecision]:
        """Newest first, masked; `rule` "none" selects decisions no rule matched."""
        limit = limit if 0 < limit <= self.window else self.window
        for entry in reversed(self._recent):
            if limit == 0 or entry.sequence <= after_sequence:
                return
            matched = entry.response.matched_rules
            if rule and (rule not in matched if rule != "none" else bool(matched)):
                continue
            limit -= 1
            yield self._masked(entry)

    def _masked(self, entry: RecentDecision) -> decision_pb2.RecentDecision:
        shown = decision_pb2.RecentDecision(sequence=entry.sequence)
        shown.decided_at.FromDatetime(entry.decided_at)
        shown.request.CopyFrom(entry.request)
        shown.response.CopyFrom(entry.response)
        if not self.full_numbers:
            shown.request.phone_number = mask_number(shown.request.phone_number, False)
            facts = shown.response.facts
            facts.e164 = mask_number(facts.e164, False)
            numbers = shown.response.patch.callback_numbers
            numbers[:] = [mask_number(number, False) for number in numbers]
        return shown

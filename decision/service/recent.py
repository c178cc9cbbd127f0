"""The last decisions of this replica, in memory, for the operator console (ListDecisions) and the
per-rule counts of GetRules. Recording is an append on the request path; masking and filtering
happen when someone asks."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from datetime import datetime

from contract.v1 import decision_pb2
from plumbing.logs import mask_number

DEFAULT_WINDOW = 500


# (sequence, decided at, request, response): a plain tuple, the cheapest thing to append.
Recorded = tuple[int, datetime, decision_pb2.DecideRequest, decision_pb2.DecideResponse]


class RecentDecisions:
    """A bounded window of decisions plus counts per rule since start. The protos are kept as
    the servicer built them and never mutated; readers get masked copies."""

    def __init__(self, window: int = DEFAULT_WINDOW, full_numbers: bool = False) -> None:
        self.window = window
        self.full_numbers = full_numbers
        self._recent: deque[Recorded] = deque(maxlen=window)
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
        self._recent.append((self._sequence, decided_at, request, response))
        self.total += 1
        matched = response.matched_rules
        if not matched:
            self.unmatched += 1
        for rule in matched:
            self.by_rule[rule] += 1

    def newest(
        self, rule: str = "", limit: int = 0, after_sequence: int = 0
    ) -> Iterator[decision_pb2.RecentDecision]:
        """Newest first, masked; `rule` "none" selects decisions no rule matched."""
        limit = limit if 0 < limit <= self.window else self.window
        for entry in reversed(self._recent):
            if limit == 0 or entry[0] <= after_sequence:
                return
            matched = entry[3].matched_rules
            if rule and (rule not in matched if rule != "none" else bool(matched)):
                continue
            limit -= 1
            yield self._masked(entry)

    def _masked(self, entry: Recorded) -> decision_pb2.RecentDecision:
        sequence, decided_at, request, response = entry
        shown = decision_pb2.RecentDecision(sequence=sequence)
        shown.decided_at.FromDatetime(decided_at)
        shown.request.CopyFrom(request)
        shown.response.CopyFrom(response)
        if not self.full_numbers:
            shown.request.phone_number = mask_number(shown.request.phone_number, False)
            facts = shown.response.facts
            facts.e164 = mask_number(facts.e164, False)
            numbers = shown.response.patch.callback_numbers
            numbers[:] = [mask_number(number, False) for number in numbers]
        return shown

"""The last decisions of this replica, in memory, for the operator console (ListDecisions) and the
per-rule counts of GetRules. Recording is an append on the request path; masking, filtering and
paging happen when someone asks, on a copy of the window.

Bounded in entries (`window`) and so in bytes: the service refuses a call that carries more than
a webhook may (`servicer.oversized`), so an entry holds at most about 40 KiB (a request of 32
attributes of 1,024 characters) plus its answer; 500 entries of ordinary webhooks hold about
2 MiB. A ListDecisions reply is a page of at most PAGE_BYTES, under gRPC's 4 MiB message limit
whatever the traffic; `before_sequence` asks for the next older page."""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime

from google.protobuf.json_format import MessageToDict, ParseDict

from contract.v1 import decision_pb2
from decision.decision_log.entry import masked_patch
from plumbing.logs import mask_attributes, mask_number

DEFAULT_WINDOW = 500
PAGE_BYTES = 512 * 1024


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

    def entries(self) -> list[Recorded]:
        """A copy of the window, oldest first (a C-level copy: cheap enough for the loop)."""
        return list(self._recent)

    def page(
        self,
        entries: list[Recorded],
        rule: str = "",
        limit: int = 0,
        after_sequence: int = 0,
        before_sequence: int = 0,
        max_bytes: int = PAGE_BYTES,
    ) -> decision_pb2.ListDecisionsResponse:
        """Newest first, masked, at most `limit` decisions and `max_bytes`; `rule` "none"
        selects decisions no rule matched; `more` says older ones did not fit."""
        limit = limit if 0 < limit <= self.window else self.window
        reply = decision_pb2.ListDecisionsResponse()
        size = 0
        for entry in reversed(entries):
            sequence = entry[0]
            if sequence <= after_sequence:
                break
            if before_sequence and sequence >= before_sequence:
                continue
            matched = entry[3].matched_rules
            if rule and (rule not in matched if rule != "none" else bool(matched)):
                continue
            shown = self._masked(entry)
            cost = shown.ByteSize() + 8  # and its tag and length in the reply
            if limit == 0 or (size + cost > max_bytes and reply.decisions):
                reply.more = True
                break
            reply.decisions.append(shown)
            size += cost
            limit -= 1
        return reply

    def _masked(self, entry: Recorded) -> decision_pb2.RecentDecision:
        sequence, decided_at, request, response = entry
        shown = decision_pb2.RecentDecision(sequence=sequence)
        shown.decided_at.FromDatetime(decided_at)
        shown.request.CopyFrom(request)
        shown.response.CopyFrom(response)
        if not self.full_numbers:  # as the decision log masks them (decision_log/entry.py)
            shown.request.phone_number = mask_number(shown.request.phone_number, False)
            masked = mask_attributes(dict(shown.request.attributes))
            shown.request.attributes.clear()
            shown.request.attributes.update(masked)
            facts = shown.response.facts
            facts.e164 = mask_number(facts.e164, False)
            patch = shown.response.patch
            if patch.ByteSize():
                as_logged = masked_patch(MessageToDict(patch), facts.contact_known)
                patch.Clear()
                ParseDict(as_logged, patch)
        return shown

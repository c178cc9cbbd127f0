"""The facts one decision looks at: request, number, outside facts and the caller's clock."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from decision.engine.facts import Fact, OutsideFacts
from decision.engine.numbers import NumberFacts, calling_code_of
from decision.engine.request import CallbackFields

T = TypeVar("T")

ZONE_FROM_NUMBER = "number"
ZONE_DEFAULT_DISAGREE = "default: zones disagree"
ZONE_DEFAULT_UNKNOWN = "default: unknown zone"


@functools.lru_cache(maxsize=4096)
def _caller_zone(zones: tuple[str, ...], default: str, quarter_hour: int) -> tuple[str, str]:
    # Keyed by the quarter hour: UTC offsets only change on DST transitions, which fall on
    # whole or half hours, so the answer cannot change inside one quarter.
    if not zones:
        return default, ZONE_DEFAULT_UNKNOWN
    moment = datetime.fromtimestamp(quarter_hour * 900, tz=UTC)
    if len({moment.astimezone(ZoneInfo(z)).utcoffset() for z in zones}) > 1:
        return default, ZONE_DEFAULT_DISAGREE
    # All agree: prefer the operator's own zone when it is one of them (Europe/London rather
    # than Europe/Guernsey for a UK number).
    return (default if default in zones else zones[0]), ZONE_FROM_NUMBER


class Subject:
    """Everything conditions and actions may read; derived values are computed once, lazily."""

    __slots__ = (
        "_bucket",
        "_local",
        "_zone",
        "default_zone",
        "facts",
        "now",
        "number",
        "request",
        "schedules",
    )

    def __init__(
        self,
        request: CallbackFields,
        number: NumberFacts,
        facts: OutsideFacts,
        now: datetime,
        default_zone: str,
    ) -> None:
        self.request = request
        self.number = number
        self.facts = facts
        self.now = now
        self.default_zone = default_zone
        self._zone: tuple[str, str] | None = None
        self._local: datetime | None = None
        self._bucket: float | None = None
        # What this decision asked of schedule groups (schedule_rules.py), made when first asked.
        self.schedules: object | None = None

    def fact(self, fact: Fact[T]) -> T | None:
        """An outside fact of this decision (None: not known)."""
        return self.facts.get(fact)

    def caller_zone(self) -> tuple[str, str]:
        """(IANA zone, why that zone) of the caller at this moment."""
        if self._zone is None:
            quarter = int(self.now.timestamp()) // 900
            self._zone = _caller_zone(self.number.time_zones, self.default_zone, quarter)
        return self._zone

    def local_time(self, zone: ZoneInfo | None = None) -> datetime:
        """Wall-clock time of the caller, or in `zone` when a rule names one."""
        if zone is not None:
            return self.now.astimezone(zone)
        if self._local is None:
            self._local = self.now.astimezone(ZoneInfo(self.caller_zone()[0]))
        return self._local

    def bucket(self) -> float:
        """A stable 0..100 position of this caller for percentage splits."""
        if self._bucket is None:
            key = self.number.e164 or self.request.phone_number.strip()
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            self._bucket = int.from_bytes(digest, "big") % 10000 / 100
        return self._bucket

    def calling_code(self) -> int:
        return self.number.calling_code or calling_code_of(self.request.country_code) or 0

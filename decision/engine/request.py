"""What a decision is asked about: the callback request, and the moments it can be made at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class CallbackFields(Protocol):
    """What the engine reads of a request. CallbackRequest has it, and so has the gRPC
    DecideRequest, which the service hands over as it is (no copy on the request path)."""

    @property
    def phone_number(self) -> str: ...
    @property
    def country_code(self) -> str: ...
    @property
    def script_id(self) -> str: ...
    @property
    def queue_id(self) -> str: ...
    @property
    def schedule_group_id(self) -> str: ...
    @property
    def widget_id(self) -> str: ...
    @property
    def attributes(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """The callback TrueEngage is about to create, as the rules see it."""

    phone_number: str = ""
    country_code: str = ""
    script_id: str = ""
    queue_id: str = ""
    schedule_group_id: str = ""
    widget_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


# The moments a decision can be made at: local time and schedules are worked out in the caller's
# zone, a day either way of the instant, which Python's calendar (years 1-9999) must still hold.
EARLIEST_MOMENT = datetime(2, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(9998, 12, 31, tzinfo=UTC)
MOMENT_RANGE_TEXT = "years 2 to 9998"


def decidable(at: datetime) -> bool:
    """Whether `at` (timezone-aware) is a moment the engine can decide at."""
    return EARLIEST_MOMENT <= at <= LATEST_MOMENT

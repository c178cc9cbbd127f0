"""What a decision is asked about: the callback request and, when known, the caller's contact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Contact:
    """A known caller from the contact directory. Agents and skills are Genesys ids or names."""

    name: str = ""
    tier: str = ""
    language: str = ""
    preferred_agents: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

    def value_of(self, key: str) -> str | None:
        """`contact.<key>` as rules read it: a named field or a free-form attribute."""
        if key in ("name", "tier", "language"):
            return getattr(self, key) or None
        return self.attributes.get(key)

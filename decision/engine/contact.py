"""The caller's contact, from the contact directory: an outside fact (`CONTACT`) that `contact.*`
conditions and `@contact` actions read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from decision.engine.facts import Fact

_FIELDS = ("name", "tier", "language", "preferred_agents", "skills")


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


def contact_from_mapping(raw: Mapping[str, Any]) -> Contact:
    """A contact from `name`, `tier`, `language`, `preferred_agents`, `skills` (lists, or text
    separated by ";") and any other key as an attribute: a cases file's `contact` table,
    `explain --contact k=v`, a decision log's `contact`."""

    def listed(value: Any) -> tuple[str, ...]:
        items = value.split(";") if isinstance(value, str) else value or ()
        return tuple(str(v).strip() for v in items if str(v).strip())

    attributes = raw.get("attributes")
    extra = attributes if isinstance(attributes, Mapping) else {}
    return Contact(
        name=str(raw.get("name") or ""),
        tier=str(raw.get("tier") or ""),
        language=str(raw.get("language") or ""),
        preferred_agents=listed(raw.get("preferred_agents")),
        skills=listed(raw.get("skills")),
        attributes={
            **{k: str(v) for k, v in raw.items() if k not in (*_FIELDS, "attributes")},
            **{k: str(v) for k, v in extra.items()},
        },
    )


def contact_as_mapping(contact: Contact) -> dict[str, Any]:
    """The contact as the decision log writes it."""
    return {
        "name": contact.name,
        "tier": contact.tier,
        "language": contact.language,
        "preferred_agents": list(contact.preferred_agents),
        "skills": list(contact.skills),
        "attributes": dict(contact.attributes),
    }


# Withheld from a masked decision log: the name and the free-form attributes (the directory's
# extra columns: an email, another number), value by value.
CONTACT: Fact[Contact] = Fact(
    "contact", contact_from_mapping, contact_as_mapping, private=("name", "attributes")
)

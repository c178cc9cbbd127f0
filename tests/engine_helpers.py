"""Builds rule sets from snippets and decides with a fixed clock: engine tests read like rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from decision.engine import (
    CONTACT,
    CallbackRequest,
    Contact,
    Decision,
    OutsideFacts,
    RuleSet,
    parse_rules,
)

NAMES = """
version = 1
[names.queues]
support-uk = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
support-us = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"
[names.skills]
english = "0b6f7a10-aaaa-4bbb-8ccc-000000000001"
premium = "0b6f7a10-aaaa-4bbb-8ccc-000000000002"
mobile  = "0b6f7a10-aaaa-4bbb-8ccc-000000000003"
[names.languages]
english = "9e2d4c61-dddd-4eee-8fff-000000000001"
[names.agents]
alice = "7c0e5b3a-1111-4222-8333-000000000001"
bob   = "7c0e5b3a-1111-4222-8333-000000000002"
[names.scripts]
sales = "3f1e2d3c-0000-4000-8000-000000000001"
"""
UK_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
US_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"
ENGLISH = "0b6f7a10-aaaa-4bbb-8ccc-000000000001"
PREMIUM = "0b6f7a10-aaaa-4bbb-8ccc-000000000002"
MOBILE = "0b6f7a10-aaaa-4bbb-8ccc-000000000003"
LANGUAGE_EN = "9e2d4c61-dddd-4eee-8fff-000000000001"
ALICE = "7c0e5b3a-1111-4222-8333-000000000001"
BOB = "7c0e5b3a-1111-4222-8333-000000000002"
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
UK_MOBILE = {"phone_number": "07400123456", "country_code": "+44"}
US_NUMBER = {"phone_number": "2025550123", "country_code": "+1"}


def rules(body: str) -> RuleSet:
    return parse_rules(NAMES + body, "test.toml")


def decide(
    ruleset: RuleSet, at: datetime = TUESDAY_NOON, contact: Contact | None = None, **request: Any
) -> Decision:
    return ruleset.decide(CallbackRequest(**request), at, OutsideFacts({CONTACT: contact}))


def answer(
    ruleset: RuleSet, at: datetime = TUESDAY_NOON, contact: Contact | None = None, **request: Any
) -> dict[str, Any]:
    return MessageToDict(decide(ruleset, at, contact, **request).patch)


def matched(
    ruleset: RuleSet, at: datetime = TUESDAY_NOON, contact: Contact | None = None, **request: Any
) -> list[str]:
    return decide(ruleset, at, contact, **request).matched_rules

"""The Genesys callback contract, stated once: the webhook fields TrueEngage sends us and the
create-callback fields, types and limits our answers must keep to (shared/docs field reference).

The rules loader, the facade's answer check and the published OpenAPI all read this module."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# TrueEngage's webhook field -> our request field. The facade and the case files both speak the
# webhook's names; everything else a payload carries becomes an attribute.
WEBHOOK_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "phoneNumber": "phone_number",
        "countryCode": "country_code",
        "scriptId": "script_id",
        "queueId": "queue_id",
        "scheduleGroupId": "schedule_group_id",
        "widgetId": "widget_id",
    }
)

GENESYS_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
PRIORITY_RANGE = (-25_000_000, 25_000_000)
# TrueEngage's own keys in `data`: never ours to set.
PROTECTED_DATA_KEYS = frozenset({"visitorId", "te_channel"})
MAX_DATA_KEY = 128
MAX_DATA_VALUE = 1024
MAX_TEXT = 256
MAX_SCORED_AGENTS = 20
ROUTING_FLAGS = frozenset({"AGENT_OWNED_CALLBACK"})
DELIVERY_MODES = ("UseQueueSetting", "UseAgentReservation", "NoAgentReservation")


def is_genesys_id(value: str) -> bool:
    return bool(GENESYS_ID.match(value))

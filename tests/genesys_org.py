"""The example Genesys Cloud org that tests/genesys_standin.py serves: the entities of the org API
reference (genesys-org-api.md, section 8) verbatim, plus what a client must also cope with (a
second division holding a queue of the same name, a skill of the same name once deleted and once
active, an inactive skill and user, a one-time schedule and one crossing midnight). JSON names
are Genesys' own; ids are fixed so tests can name them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


def _division(division_id: str, name: str) -> JSON:
    return {
        "id": division_id,
        "name": name,
        "selfUri": f"/api/v2/authorization/divisions/{division_id}",
    }


HOME = _division("d1a2b3c4-0000-4000-8000-0000000000d1", "Home")
EUROPE = _division("d1a2b3c4-0000-4000-8000-0000000000d2", "Europe")

QUEUE_EN = "0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10"
QUEUE_FR = "6f2e8d41-7a3b-4c5d-8e9f-0a1b2c3d4e5f"
QUEUE_EN_EUROPE = "2c9d4e1f-8a7b-4c6d-9e5f-4a3b2c1d0e9f"  # named "Callbacks EN" too

ANA = "3f1c2b4a-9d8e-4f7a-b6c5-1a2b3c4d5e6f"
BO = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"
EVE = "4d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"
IVO_INACTIVE = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"

SKILL_SPANISH_DELETED = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
SKILL_SPANISH = "e1d2c3b4-a5f6-4e7d-8c9b-0a1b2c3d4e51"
SKILL_BILLING = "e1d2c3b4-a5f6-4e7d-8c9b-0a1b2c3d4e52"
SKILL_LEGACY_INACTIVE = "e1d2c3b4-a5f6-4e7d-8c9b-0a1b2c3d4e53"

LANGUAGE_FRENCH = "c0ffee00-1111-4222-8333-444455556666"
LANGUAGE_ENGLISH = "c0ffee00-1111-4222-8333-444455556667"
LANGUAGE_GERMAN_DELETED = "c0ffee00-1111-4222-8333-444455556668"

SCRIPT_CALLBACK = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
SCRIPT_CALLBACK_EU = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6e"

GROUP_SUPPORT_US = "7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a21"  # section 8.6
GROUP_NIGHT_LINE = "7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a22"
SCHEDULE_WEEKDAYS = "1a1a1a1a-0000-4000-8000-000000000001"
SCHEDULE_LUNCH = "1a1a1a1a-0000-4000-8000-000000000002"
SCHEDULE_CHRISTMAS = "1a1a1a1a-0000-4000-8000-000000000003"
SCHEDULE_NIGHTS = "1a1a1a1a-0000-4000-8000-000000000004"  # 22:00 -> 08:00 the next day
SCHEDULE_COMPANY_DAY = "1a1a1a1a-0000-4000-8000-000000000005"  # one-time: no rrule
EMERGENCY_STORM = "e3e3e3e3-0000-4000-8000-000000000001"

# The stand-in's own presence definitions (the reference gives no ids): system presence -> id.
PRESENCE_DEFINITIONS = {
    name: f"00000000-0000-4000-8000-0000000{index:05d}"
    for index, name in enumerate(
        (
            "Available",
            "Away",
            "Busy",
            "Offline",
            "Idle",
            "OnQueue",
            "Meal",
            "Training",
            "Meeting",
            "Break",
        ),
        start=1,
    )
}
ROUTING_STATUSES = ("OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING")


def _ref(kind: str, entity_id: str, name: str) -> JSON:
    return {"id": entity_id, "name": name, "selfUri": f"/api/v2/{kind}/{entity_id}"}


def _queues() -> list[JSON]:
    # The first two are section 8.2 verbatim; the third has the first one's name in another
    # division, and the fields of section 5.1 a listing may carry.
    return [
        {
            "id": QUEUE_EN,
            "name": "Callbacks EN",
            "division": dict(HOME),
            "memberCount": 12,
            "userMemberCount": 10,
            "joinedMemberCount": 8,
            "agentOwnedRouting": {
                "enableAgentOwnedCallbacks": True,
                "maxOwnedCallbackHours": 24,
                "maxOwnedCallbackDelayHours": 720,
            },
            "selfUri": f"/api/v2/routing/queues/{QUEUE_EN}",
        },
        {
            "id": QUEUE_FR,
            "name": "Callbacks FR",
            "division": dict(HOME),
            "memberCount": 4,
            "userMemberCount": 4,
            "joinedMemberCount": 3,
            "selfUri": f"/api/v2/routing/queues/{QUEUE_FR}",
        },
        {
            "id": QUEUE_EN_EUROPE,
            "name": "Callbacks EN",
            "division": dict(EUROPE),
            "description": "English callbacks answered from Europe",
            "dateModified": "2026-10-20T08:30:00.000Z",
            "memberCount": 1,
            "userMemberCount": 1,
            "joinedMemberCount": 1,
            "mediaSettings": {"callback": {"mode": "AgentFirst", "alertingTimeoutSeconds": 30}},
            "routingRules": [
                {"operator": "MEETS_THRESHOLD", "threshold": 9, "waitSeconds": 10},
                {"operator": "ANY", "waitSeconds": 20},
            ],
            "agentOwnedRouting": {
                "enableAgentOwnedCallbacks": False,
                "maxOwnedCallbackHours": 1,
                "maxOwnedCallbackDelayHours": 1,
            },
            "skillEvaluationMethod": "ALL",
            "memberGroups": [
                {
                    "id": "a0a0a0a0-0000-4000-8000-000000000001",
                    "name": "EU agents",
                    "type": "GROUP",
                    "memberCount": 1,
                }
            ],
            "defaultScripts": {
                "CALLBACK": _ref("scripts", SCRIPT_CALLBACK_EU, "Callback script EU")
            },
            "selfUri": f"/api/v2/routing/queues/{QUEUE_EN_EUROPE}",
        },
    ]


def _skills() -> list[JSON]:
    def skill(skill_id: str, name: str, state: str, version: str) -> JSON:
        return {
            "id": skill_id,
            "name": name,
            "state": state,
            "version": version,
            "dateModified": "2026-10-01T09:00:00.000Z",
            "selfUri": f"/api/v2/routing/skills/{skill_id}",
        }

    return [
        skill(SKILL_SPANISH_DELETED, "Spanish support", "deleted", "3"),  # section 8.4
        skill(SKILL_SPANISH, "Spanish support", "active", "1"),
        skill(SKILL_BILLING, "Billing", "active", "2"),
        skill(SKILL_LEGACY_INACTIVE, "Legacy IVR", "inactive", "5"),
    ]


def _languages() -> list[JSON]:
    def language(language_id: str, name: str, state: str) -> JSON:
        return {
            "id": language_id,
            "name": name,
            "state": state,
            "version": "1",
            "selfUri": f"/api/v2/routing/languages/{language_id}",
        }

    return [
        language(LANGUAGE_FRENCH, "French", "active"),  # section 8.4
        language(LANGUAGE_ENGLISH, "English", "active"),
        language(LANGUAGE_GERMAN_DELETED, "German", "deleted"),
    ]


def _users() -> list[JSON]:
    def user(user_id: str, name: str, email: str, state: str, version: int, division: JSON) -> JSON:
        return {
            "id": user_id,
            "name": name,
            "email": email,
            "username": email,
            "state": state,
            "version": version,
            "division": {"id": division["id"], "name": division["name"]},
            "selfUri": f"/api/v2/users/{user_id}",
        }

    return [
        user(ANA, "Ana Agent", "ana@example.com", "active", 7, HOME),  # section 8.4
        user(BO, "Bo Backup", "bo@example.com", "active", 2, HOME),
        user(EVE, "Eve Europe", "eve@example.com", "active", 4, EUROPE),
        user(IVO_INACTIVE, "Ivo Inactive", "ivo@example.com", "inactive", 9, HOME),
    ]


def _scripts() -> list[JSON]:
    def script(script_id: str, name: str, published: str, division: JSON) -> JSON:
        return {
            "id": script_id,
            "name": name,
            "versionId": "2",
            "publishedDate": published,
            "division": {"id": division["id"], "name": division["name"]},
            "selfUri": f"/api/v2/scripts/published/{script_id}",
        }

    return [
        script(SCRIPT_CALLBACK, "Callback script", "2026-09-15T12:00:00.000Z", HOME),  # 8.4
        script(SCRIPT_CALLBACK_EU, "Callback script EU", "2026-10-02T07:00:00.000Z", EUROPE),
    ]


def _schedule(schedule_id: str, name: str, start: str, end: str, rrule: str | None) -> JSON:
    schedule: JSON = {"id": schedule_id, "name": name, "state": "active", "version": 1}
    schedule |= {"start": start, "end": end}
    if rrule is not None:  # a one-time schedule has no rrule at all
        schedule["rrule"] = rrule
    schedule["selfUri"] = f"/api/v2/architect/schedules/{schedule_id}"
    return schedule


WEEKDAYS = "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR"


def _schedules() -> list[JSON]:
    return [  # the first three: section 8.6 (2026-01-05 is a Monday)
        _schedule(
            SCHEDULE_WEEKDAYS,
            "Weekdays 08-17",
            "2026-01-05T08:00:00.000",
            "2026-01-05T17:00:00.000",
            WEEKDAYS,
        ),
        _schedule(
            SCHEDULE_LUNCH,
            "Lunch 12-13",
            "2026-01-05T12:00:00.000",
            "2026-01-05T13:00:00.000",
            WEEKDAYS,
        ),
        _schedule(
            SCHEDULE_CHRISTMAS,
            "Christmas Day",
            "2026-12-25T00:00:00.000",
            "2026-12-26T00:00:00.000",
            "FREQ=YEARLY;INTERVAL=1;BYMONTH=12;BYMONTHDAY=25",
        ),
        _schedule(
            SCHEDULE_NIGHTS,
            "Nights 22-08",
            "2026-01-05T22:00:00.000",
            "2026-01-06T08:00:00.000",
            WEEKDAYS,
        ),
        _schedule(
            SCHEDULE_COMPANY_DAY,
            "Company day 2026",
            "2026-11-26T00:00:00.000",
            "2026-11-27T00:00:00.000",
            None,
        ),
    ]


def _schedule_groups() -> list[JSON]:
    def schedules(*pairs: tuple[str, str]) -> list[JSON]:
        return [_ref("architect/schedules", schedule_id, name) for schedule_id, name in pairs]

    support_us = {  # section 8.6 verbatim
        "id": GROUP_SUPPORT_US,
        "name": "Support hours US",
        "division": dict(HOME),
        "version": 3,
        "state": "active",
        "timeZone": "America/New_York",
        "dateModified": "2026-11-02T10:15:00.000Z",
        "openSchedules": schedules((SCHEDULE_WEEKDAYS, "Weekdays 08-17")),
        "closedSchedules": schedules((SCHEDULE_LUNCH, "Lunch 12-13")),
        "holidaySchedules": schedules((SCHEDULE_CHRISTMAS, "Christmas Day")),
        "selfUri": f"/api/v2/architect/schedulegroups/{GROUP_SUPPORT_US}",
    }
    night_line = {  # no holidaySchedules key at all: optional in Genesys (section 6.1)
        "id": GROUP_NIGHT_LINE,
        "name": "Night line UK",
        "division": dict(EUROPE),
        "version": 1,
        "state": "active",
        "timeZone": "Europe/London",
        "dateModified": "2026-11-03T09:00:00.000Z",
        "openSchedules": schedules((SCHEDULE_NIGHTS, "Nights 22-08")),
        "closedSchedules": schedules((SCHEDULE_COMPANY_DAY, "Company day 2026")),
        "selfUri": f"/api/v2/architect/schedulegroups/{GROUP_NIGHT_LINE}",
    }
    return [support_us, night_line]


def _emergency_groups() -> list[JSON]:
    flow = _ref("flows", "f10f10f1-0000-4000-8000-000000000001", "Storm message")
    ivr = _ref("architect/ivrs", "1f1f1f1f-0000-4000-8000-000000000001", "Main line US")
    return [
        {
            "id": EMERGENCY_STORM,
            "name": "Storm emergency US",
            "division": dict(HOME),
            "state": "active",
            "version": 1,
            "enabled": False,
            "emergencyCallFlows": [{"emergencyFlow": flow, "ivrs": [ivr]}],
            "selfUri": f"/api/v2/architect/emergencygroups/{EMERGENCY_STORM}",
        }
    ]


@dataclass
class QueueMembership:
    """One user's membership of one queue; the stand-in renders it as a `QueueMember` (section 5.5)
    from the user's current record and routing status."""

    user_id: str
    joined: bool
    member_by: str = "user"  # "user" (direct) or "group" (through memberGroups)
    ring_number: int = 1


@dataclass
class GenesysOrg:
    """What the stand-in serves, in Genesys' shapes. Tests may change any of it while the stand-in
    runs, inside `GenesysStandin.editing()`."""

    queues: list[JSON] = field(default_factory=_queues)
    skills: list[JSON] = field(default_factory=_skills)
    languages: list[JSON] = field(default_factory=_languages)
    users: list[JSON] = field(default_factory=_users)
    scripts: list[JSON] = field(default_factory=_scripts)
    schedule_groups: list[JSON] = field(default_factory=_schedule_groups)
    schedules: list[JSON] = field(default_factory=_schedules)
    emergency_groups: list[JSON] = field(default_factory=_emergency_groups)
    members: dict[str, list[QueueMembership]] = field(
        default_factory=lambda: {
            QUEUE_EN: [
                QueueMembership(ANA, joined=True),
                QueueMembership(BO, joined=False, member_by="group"),
            ],
            QUEUE_FR: [QueueMembership(ANA, joined=True), QueueMembership(BO, joined=True)],
            QUEUE_EN_EUROPE: [QueueMembership(EVE, joined=True, member_by="group")],
        }
    )
    # Live state (section 7). Routing statuses and presences by user id; a user with none is
    # OFF_QUEUE and Offline.
    routing_statuses: dict[str, JSON] = field(
        default_factory=lambda: {
            ANA: {"userId": ANA, "status": "IDLE", "startTime": "2026-11-24T15:02:11.512Z"}
        }
    )
    presences: dict[str, str] = field(default_factory=lambda: {ANA: "OnQueue", BO: "Available"})
    # Queue observations as `results` groups of section 7.1; the example's values by default.
    observations: list[JSON] = field(
        default_factory=lambda: [
            {
                "group": {"queueId": QUEUE_EN},
                "data": [
                    {"metric": "oOnQueueUsers", "qualifier": "IDLE", "stats": {"count": 3}},
                    {"metric": "oOnQueueUsers", "qualifier": "INTERACTING", "stats": {"count": 2}},
                    {"metric": "oActiveUsers", "stats": {"count": 7}},
                    {"metric": "oMemberUsers", "stats": {"count": 12}},
                ],
            },
            {
                "group": {"queueId": QUEUE_EN, "mediaType": "callback"},
                "data": [{"metric": "oWaiting", "stats": {"count": 4}}],
            },
        ]
    )
    # Estimated wait time predictions (section 7.2) by queue id, then media type.
    estimated_waits: dict[str, dict[str, JSON]] = field(
        default_factory=lambda: {
            QUEUE_EN: {
                "callback": {
                    "intent": "CALLBACK",
                    "formula": "BEST",
                    "estimatedWaitTimeSeconds": 240,
                }
            }
        }
    )

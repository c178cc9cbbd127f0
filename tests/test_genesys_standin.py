"""The Genesys stand-in (tests/genesys_standin.py) against the org API reference, over plain HTTP:
token flow, paging, 429, 401 and 404, inactive users and the schedule-group example, so that
tests of our Genesys client can trust what it answers. Expected bodies are the reference's."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests import genesys_org as org
from tests.genesys_standin import MEMBERS, QUEUES, USERS, GenesysStandin


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: Any


def send(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return Answer(response.status, response.headers, json.loads(raw) if raw else None)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_request(
    standin: GenesysStandin, authorization: str, body: str = "grant_type=client_credentials"
) -> Answer:
    return send(
        standin.login_url,
        "POST",
        "/oauth/token",
        body.encode(),
        {"Authorization": authorization, **FORM},
    )


def new_token(standin: GenesysStandin) -> str:
    answer = token_request(standin, basic(standin.client_id, standin.client_secret))
    assert answer.status == 200, answer.body
    return answer.body["access_token"]


def api_get(standin: GenesysStandin, path: str, token: str | None) -> Answer:
    return send(
        standin.api_url, "GET", path, headers={"Authorization": f"Bearer {token}"} if token else {}
    )


@pytest.fixture
def standin() -> Iterator[GenesysStandin]:
    with GenesysStandin() as running:
        yield running


@pytest.fixture
def token(standin: GenesysStandin) -> str:
    return new_token(standin)


def test_client_credentials_give_a_fresh_bearer_token_each_time(standin):
    standin.expires_in = 300
    answer = token_request(standin, basic(standin.client_id, standin.client_secret))
    assert answer.status == 200
    assert set(answer.body) == {"access_token", "token_type", "expires_in"}
    assert answer.body["token_type"] == "bearer"
    assert answer.body["expires_in"] == 300
    second = new_token(standin)
    assert second != answer.body["access_token"]
    assert standin.tokens == [answer.body["access_token"], second]
    for bearer in standin.tokens:
        assert api_get(standin, QUEUES, bearer).status == 200


@pytest.mark.parametrize(
    ("authorization", "body", "status", "error"),
    [
        (
            basic("loopback-client-id", "wrong-secret"),
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            basic("someone-else", "loopback-client-secret"),
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        ("", "grant_type=client_credentials", 401, "invalid_client"),
        (
            basic("loopback-client-id", "loopback-client-secret"),
            "grant_type=password",
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_bad_credentials_or_grant_get_an_oauth_error_and_no_token(
    standin, authorization, body, status, error
):
    answer = token_request(standin, authorization, body)
    assert answer.status == status
    assert answer.body["error"] == error
    if status == 401:
        assert answer.body == {"error": "invalid_client", "error_description": "client not found"}
    assert standin.tokens == []


def test_the_token_endpoint_is_on_the_login_host_only(standin):
    answer = send(standin.api_url, "POST", "/oauth/token", b"grant_type=client_credentials", FORM)
    assert answer.status == 404
    assert standin.tokens == []


UNAUTHORIZED = {"message": "Invalid login credentials.", "code": "bad.credentials", "status": 401}


@pytest.mark.parametrize("bearer", [None, "not-a-token-it-issued"])
def test_an_api_call_without_a_valid_bearer_is_401(standin, bearer):
    answer = api_get(standin, QUEUES, bearer)
    assert answer.status == 401
    assert answer.body == UNAUTHORIZED


def test_a_token_expires_by_the_standin_clock(standin):
    standin.expires_in = 300
    bearer = new_token(standin)
    standin.advance(299.9)
    assert api_get(standin, QUEUES, bearer).status == 200
    standin.advance(0.1)
    assert api_get(standin, QUEUES, bearer).body == UNAUTHORIZED
    assert api_get(standin, QUEUES, new_token(standin)).status == 200


def test_a_revoked_token_is_401_until_a_new_one_is_fetched(standin, token):
    assert api_get(standin, USERS, token).status == 200
    standin.revoke_tokens()
    assert api_get(standin, USERS, token).status == 401
    assert api_get(standin, USERS, token).status == 401
    renewed = new_token(standin)
    assert api_get(standin, USERS, renewed).status == 200
    log = [(c.host, c.path, c.token, c.status) for c in standin.calls]
    assert log == [
        ("login", "/oauth/token", None, 200),
        ("api", USERS, token, 200),
        ("api", USERS, token, 401),
        ("api", USERS, token, 401),
        ("login", "/oauth/token", None, 200),
        ("api", USERS, renewed, 200),
    ]


def division(division_id: str, name: str) -> dict[str, str]:
    return {
        "id": division_id,
        "name": name,
        "selfUri": f"/api/v2/authorization/divisions/{division_id}",
    }


HOME = division("d1a2b3c4-0000-4000-8000-0000000000d1", "Home")

# Section 8.2 of the reference, verbatim.
QUEUES_PAGE_1 = {
    "entities": [
        {
            "id": "0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10",
            "name": "Callbacks EN",
            "division": HOME,
            "memberCount": 12,
            "userMemberCount": 10,
            "joinedMemberCount": 8,
            "agentOwnedRouting": {
                "enableAgentOwnedCallbacks": True,
                "maxOwnedCallbackHours": 24,
                "maxOwnedCallbackDelayHours": 720,
            },
            "selfUri": "/api/v2/routing/queues/0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10",
        },
        {
            "id": "6f2e8d41-7a3b-4c5d-8e9f-0a1b2c3d4e5f",
            "name": "Callbacks FR",
            "division": HOME,
            "memberCount": 4,
            "userMemberCount": 4,
            "joinedMemberCount": 3,
            "selfUri": "/api/v2/routing/queues/6f2e8d41-7a3b-4c5d-8e9f-0a1b2c3d4e5f",
        },
    ],
    "pageSize": 2,
    "pageNumber": 1,
    "total": 3,
    "pageCount": 2,
    "firstUri": "/api/v2/routing/queues?pageSize=2&pageNumber=1",
    "selfUri": "/api/v2/routing/queues?pageSize=2&pageNumber=1",
    "nextUri": "/api/v2/routing/queues?pageSize=2&pageNumber=2",
    "lastUri": "/api/v2/routing/queues?pageSize=2&pageNumber=2",
}


def test_queues_page_as_the_reference_with_a_cap_of_two(standin, token):
    standin.cap_page_size(2, QUEUES)
    assert api_get(standin, QUEUES + "?pageSize=2&pageNumber=1", token).body == QUEUES_PAGE_1
    last = api_get(standin, QUEUES + "?pageSize=2&pageNumber=2", token).body
    assert [q["id"] for q in last["entities"]] == [org.QUEUE_EN_EUROPE]
    assert last["pageNumber"] == 2
    assert last["previousUri"] == "/api/v2/routing/queues?pageSize=2&pageNumber=1"
    assert "nextUri" not in last
    # Two queues of one name in two divisions, and no queue has a state.
    names = [
        (q["name"], q["division"]["name"]) for q in QUEUES_PAGE_1["entities"] + last["entities"]
    ]
    assert names == [("Callbacks EN", "Home"), ("Callbacks FR", "Home"), ("Callbacks EN", "Europe")]
    assert not any("state" in q for q in last["entities"])


def follow(standin: GenesysStandin, path: str, token: str) -> list[dict[str, Any]]:
    """Every page from `path` on, by nextUri: what a client does."""
    pages = []
    next_path: str | None = path
    while next_path:
        answer = api_get(standin, next_path, token)
        assert answer.status == 200, answer.body
        pages.append(answer.body)
        next_path = answer.body.get("nextUri")
    return pages


def test_a_larger_page_size_is_capped_silently_and_kept_in_the_uris(standin, token):
    standin.cap_page_size(2)
    pages = follow(standin, USERS + "?pageSize=25&state=any", token)
    assert [p["pageSize"] for p in pages] == [2, 2]
    assert [p["pageCount"] for p in pages] == [2, 2]
    assert pages[0]["nextUri"] == "/api/v2/users?pageSize=2&pageNumber=2&state=any"
    assert sum(len(p["entities"]) for p in pages) == pages[0]["total"] == len(standin.org.users)
    assert len(standin.calls_to(USERS)) == 2


# Section 8.3 of the reference, verbatim.
MEMBERS_PAGE = {
    "entities": [
        {
            "id": "3f1c2b4a-9d8e-4f7a-b6c5-1a2b3c4d5e6f",
            "name": "Ana Agent",
            "joined": True,
            "memberBy": "user",
            "ringNumber": 1,
            "user": {
                "id": "3f1c2b4a-9d8e-4f7a-b6c5-1a2b3c4d5e6f",
                "name": "Ana Agent",
                "email": "ana@example.com",
                "state": "active",
            },
            "routingStatus": {
                "userId": "3f1c2b4a-9d8e-4f7a-b6c5-1a2b3c4d5e6f",
                "status": "IDLE",
                "startTime": "2026-11-24T15:02:11.512Z",
            },
        },
        {
            "id": "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968",
            "name": "Bo Backup",
            "joined": False,
            "memberBy": "group",
            "ringNumber": 1,
            "user": {
                "id": "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968",
                "name": "Bo Backup",
                "email": "bo@example.com",
                "state": "active",
            },
        },
    ],
    "pageNumber": 1,
    "pageSize": 100,
    "firstUri": "/api/v2/routing/queues/0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10/members?pageSize=100&pageNumber=1",
    "selfUri": "/api/v2/routing/queues/0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10/members?pageSize=100&pageNumber=1",
}


def test_queue_members_as_the_reference_capped_at_100_without_totals(standin, token):
    members = MEMBERS.format(queueId=org.QUEUE_EN)
    assert api_get(standin, members + "?pageSize=100&pageNumber=1", token).body == MEMBERS_PAGE
    assert api_get(standin, members + "?pageSize=500&pageNumber=1", token).body == MEMBERS_PAGE
    standin.cap_page_size(1, MEMBERS)
    pages = follow(standin, members, token)
    assert [[m["id"] for m in p["entities"]] for p in pages] == [[org.ANA], [org.BO]]
    for page in pages:
        assert not {"total", "pageCount", "lastUri"} & set(page)
    assert pages[1]["previousUri"] == f"{members}?pageSize=1&pageNumber=1"


def test_too_many_requests_as_the_reference_then_served(standin, token):
    standin.throttle(times=2, retry_after=1)
    for _ in range(2):
        answer = api_get(standin, QUEUES, token)
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "1"
        correlation = answer.headers["ININ-Correlation-Id"]
        assert answer.body == {
            "message": "Rate limit exceeded the maximum. Retry the request in [1] seconds",
            "code": "too.many.requests.retry.after",
            "status": 429,
            "contextId": correlation,
            "details": [],
            "errors": [],
        }
    assert api_get(standin, QUEUES, token).status == 200


def test_every_third_call_is_throttled_with_a_long_retry_after(standin, token):
    standin.throttle(times=None, every=3, retry_after=600)
    answers = [api_get(standin, QUEUES, token) for _ in range(6)]
    assert [a.status for a in answers] == [200, 200, 429, 200, 200, 429]
    assert answers[-1].headers["Retry-After"] == "600"
    assert "[600]" in answers[-1].body["message"]


def test_a_per_token_budget_per_minute_of_the_standin_clock(standin, token):
    standin.limit_per_token(2)
    standin.advance(45)
    assert [api_get(standin, SKILLS_PATH, token).status for _ in range(3)] == [200, 200, 429]
    assert standin.calls[-1].status == 429
    assert api_get(standin, SKILLS_PATH, new_token(standin)).status == 200  # budgets are per token
    assert api_get(standin, SKILLS_PATH, token).headers["Retry-After"] == "15"
    standin.advance(15)
    assert api_get(standin, SKILLS_PATH, token).status == 200


SKILLS_PATH = "/api/v2/routing/skills"


def test_server_errors_and_a_missing_permission_are_injected(standin, token):
    standin.inject(503, path="/api/v2/routing/skills")
    standin.forbid("/api/v2/scripts/published", "scripter:publishedScript:view")
    failed = api_get(standin, SKILLS_PATH, token)
    assert (failed.status, failed.body["status"]) == (503, 503)
    assert api_get(standin, SKILLS_PATH, token).status == 200
    forbidden = api_get(standin, "/api/v2/scripts/published", token)
    assert forbidden.status == 403
    assert "scripter:publishedScript:view" in forbidden.body["message"]
    standin.clear_faults()
    assert api_get(standin, "/api/v2/scripts/published", token).body["truncatedDivisions"] is False


@pytest.mark.parametrize(
    "path",
    [
        f"{QUEUES}/00000000-0000-4000-8000-00000000dead",
        "/api/v2/architect/schedulegroups/00000000-0000-4000-8000-00000000dead",
        "/api/v2/users/00000000-0000-4000-8000-00000000dead",
        "/api/v2/no/such/resource",
    ],
)
def test_an_unknown_id_is_404(standin, token, path):
    answer = api_get(standin, path, token)
    assert answer.status == 404
    assert (answer.body["code"], answer.body["status"]) == ("not.found", 404)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [org.ANA, org.BO, org.EVE]),
        ("?state=active", [org.ANA, org.BO, org.EVE]),
        ("?state=inactive", [org.IVO_INACTIVE]),
        ("?state=any", [org.ANA, org.BO, org.EVE, org.IVO_INACTIVE]),
    ],
)
def test_inactive_users_only_with_state_inactive_or_any(standin, token, query, expected):
    answer = api_get(standin, USERS + query, token)
    assert [u["id"] for u in answer.body["entities"]] == expected


def test_a_users_queues_are_the_joined_ones_unless_asked(standin, token):
    joined = api_get(standin, f"/api/v2/users/{org.BO}/queues", token).body["entities"]
    assert [(q["id"], q["joined"]) for q in joined] == [(org.QUEUE_FR, True)]
    not_joined = api_get(standin, f"/api/v2/users/{org.BO}/queues?joined=false", token).body
    assert [(q["id"], q["joined"]) for q in not_joined["entities"]] == [(org.QUEUE_EN, False)]


def test_skills_keep_deleted_and_inactive_entries(standin, token):
    skills = api_get(standin, SKILLS_PATH, token).body["entities"]
    assert [(s["name"], s["state"]) for s in skills] == [
        ("Spanish support", "deleted"),
        ("Spanish support", "active"),
        ("Billing", "active"),
        ("Legacy IVR", "inactive"),
    ]


def schedule(schedule_id: str, name: str, start: str, end: str, rrule: str) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "name": name,
        "state": "active",
        "version": 1,
        "start": start,
        "end": end,
        "rrule": rrule,
        "selfUri": f"/api/v2/architect/schedules/{schedule_id}",
    }


def ref(schedule_id: str, name: str) -> dict[str, str]:
    return {
        "id": schedule_id,
        "name": name,
        "selfUri": f"/api/v2/architect/schedules/{schedule_id}",
    }


WEEKDAYS = "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR"


def test_the_schedule_group_example_of_the_reference(standin, token):
    group = api_get(
        standin, "/api/v2/architect/schedulegroups/7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a21", token
    )
    assert group.body == {
        "id": "7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a21",
        "name": "Support hours US",
        "division": HOME,
        "version": 3,
        "state": "active",
        "timeZone": "America/New_York",
        "dateModified": "2026-11-02T10:15:00.000Z",
        "openSchedules": [ref("1a1a1a1a-0000-4000-8000-000000000001", "Weekdays 08-17")],
        "closedSchedules": [ref("1a1a1a1a-0000-4000-8000-000000000002", "Lunch 12-13")],
        "holidaySchedules": [ref("1a1a1a1a-0000-4000-8000-000000000003", "Christmas Day")],
        "selfUri": "/api/v2/architect/schedulegroups/7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a21",
    }
    expected = [
        schedule(
            "1a1a1a1a-0000-4000-8000-000000000001",
            "Weekdays 08-17",
            "2026-01-05T08:00:00.000",
            "2026-01-05T17:00:00.000",
            WEEKDAYS,
        ),
        schedule(
            "1a1a1a1a-0000-4000-8000-000000000002",
            "Lunch 12-13",
            "2026-01-05T12:00:00.000",
            "2026-01-05T13:00:00.000",
            WEEKDAYS,
        ),
        schedule(
            "1a1a1a1a-0000-4000-8000-000000000003",
            "Christmas Day",
            "2026-12-25T00:00:00.000",
            "2026-12-26T00:00:00.000",
            "FREQ=YEARLY;INTERVAL=1;BYMONTH=12;BYMONTHDAY=25",
        ),
    ]
    for each in expected:
        assert api_get(standin, each["selfUri"], token).body == each


def test_the_other_group_has_a_one_time_schedule_and_one_across_midnight(standin, token):
    listing = api_get(standin, "/api/v2/architect/schedules", token).body
    assert listing["totalNumberOfEntities"] == listing["total"] == 5
    by_id = {s["id"]: s for s in listing["entities"]}
    assert "rrule" not in by_id[org.SCHEDULE_COMPANY_DAY]
    nights = by_id[org.SCHEDULE_NIGHTS]
    assert (nights["start"], nights["end"]) == (
        "2026-01-05T22:00:00.000",
        "2026-01-06T08:00:00.000",
    )
    group = api_get(standin, f"/api/v2/architect/schedulegroups/{org.GROUP_NIGHT_LINE}", token).body
    assert [s["id"] for s in group["openSchedules"] + group["closedSchedules"]] == [
        org.SCHEDULE_NIGHTS,
        org.SCHEDULE_COMPANY_DAY,
    ]


# Section 7.1 of the reference: the query, and the answer with the example's values.
OBSERVATION_QUERY = {
    "filter": {
        "type": "or",
        "predicates": [
            {
                "type": "dimension",
                "dimension": "queueId",
                "operator": "matches",
                "value": org.QUEUE_EN,
            },
            {
                "type": "dimension",
                "dimension": "queueId",
                "operator": "matches",
                "value": org.QUEUE_FR,
            },
        ],
    },
    "metrics": [
        "oOnQueueUsers",
        "oActiveUsers",
        "oMemberUsers",
        "oUserRoutingStatuses",
        "oWaiting",
        "oInteracting",
    ],
}
OBSERVATION_RESULTS = [
    {
        "group": {"queueId": org.QUEUE_EN},
        "data": [
            {"metric": "oOnQueueUsers", "qualifier": "IDLE", "stats": {"count": 3}},
            {"metric": "oOnQueueUsers", "qualifier": "INTERACTING", "stats": {"count": 2}},
            {"metric": "oActiveUsers", "stats": {"count": 7}},
            {"metric": "oMemberUsers", "stats": {"count": 12}},
        ],
    },
    {
        "group": {"queueId": org.QUEUE_EN, "mediaType": "callback"},
        "data": [{"metric": "oWaiting", "stats": {"count": 4}}],
    },
]


def observe(standin: GenesysStandin, token: str, query: dict[str, Any]) -> Answer:
    body = json.dumps(query).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return send(
        standin.api_url, "POST", "/api/v2/analytics/queues/observations/query", body, headers
    )


def test_queue_observations_answer_what_the_test_set_meanwhile(standin, token):
    assert observe(standin, token, OBSERVATION_QUERY).body["results"] == OBSERVATION_RESULTS
    standin.set_observation(org.QUEUE_EN, "oWaiting", 9, media_type="callback")
    standin.set_observation(org.QUEUE_FR, "oActiveUsers", 1)
    results = observe(standin, token, OBSERVATION_QUERY).body["results"]
    assert results[1]["data"] == [{"metric": "oWaiting", "stats": {"count": 9}}]
    assert results[2] == {
        "group": {"queueId": org.QUEUE_FR},
        "data": [{"metric": "oActiveUsers", "stats": {"count": 1}}],
    }
    only_fr = {
        **OBSERVATION_QUERY,
        "filter": {"type": "or", "predicates": OBSERVATION_QUERY["filter"]["predicates"][1:]},
    }
    assert [r["group"] for r in observe(standin, token, only_fr).body["results"]] == [
        {"queueId": org.QUEUE_FR}
    ]
    assert (
        observe(standin, token, {"filter": OBSERVATION_QUERY["filter"]}).status == 400
    )  # metrics required
    queries = standin.calls_to("/api/v2/analytics/queues/observations/query")
    assert [c.status for c in queries] == [200, 200, 200, 400]
    assert queries[0].body == OBSERVATION_QUERY


def test_estimated_wait_routing_status_and_presence(standin, token):
    wait = api_get(standin, f"{QUEUES}/{org.QUEUE_EN}/mediatypes/callback/estimatedwaittime", token)
    assert wait.body == {
        "results": [{"intent": "CALLBACK", "formula": "BEST", "estimatedWaitTimeSeconds": 240}]
    }
    standin.set_estimated_wait(org.QUEUE_EN, 30)
    assert (
        api_get(standin, f"{QUEUES}/{org.QUEUE_EN}/estimatedwaittime", token).body["results"][0][
            "estimatedWaitTimeSeconds"
        ]
        == 30
    )
    assert api_get(standin, f"/api/v2/users/{org.ANA}/routingstatus", token).body == {
        "userId": org.ANA,
        "status": "IDLE",
        "startTime": "2026-11-24T15:02:11.512Z",
    }
    nobody = "00000000-0000-4000-8000-00000000dead"
    assert (
        api_get(standin, f"/api/v2/users/{nobody}/routingstatus", token).body["status"]
        == "OFF_QUEUE"
    )
    bulk = api_get(
        standin,
        f"{USERS}?{urlencode({'id': f'{org.ANA},{org.BO}', 'expand': 'routingStatus,presence'})}",
        token,
    )
    statuses = {
        u["id"]: (
            u["routingStatus"]["status"],
            u["presence"]["presenceDefinition"]["systemPresence"],
        )
        for u in bulk.body["entities"]
    }
    assert statuses == {org.ANA: ("IDLE", "OnQueue"), org.BO: ("OFF_QUEUE", "Available")}
    presences = api_get(
        standin, f"/api/v2/users/presences/purecloud/bulk?id={org.ANA},{nobody}", token
    ).body
    assert [(p["userId"], p["presenceDefinition"]["systemPresence"]) for p in presences] == [
        (org.ANA, "OnQueue")
    ]
    too_many = ",".join(f"00000000-0000-4000-8000-{n:012d}" for n in range(51))
    assert (
        api_get(standin, f"/api/v2/users/presences/purecloud/bulk?id={too_many}", token).status
        == 400
    )


def test_a_test_can_wait_for_a_call_made_by_another_thread(standin, token):
    caller = threading.Thread(target=api_get, args=(standin, QUEUES, token))
    caller.start()
    standin.wait_for(lambda calls: any(c.path == QUEUES for c in calls), "the queue listing")
    caller.join()
    with pytest.raises(AssertionError, match="never"):
        standin.wait_for(lambda calls: False, "never", timeout=0)


def test_a_stand_in_that_stops_answering_drops_connections_until_told(standin, token):
    bearer = {"Authorization": f"Bearer {token}"}
    standin.stop_answering()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        send(standin.api_url, "GET", f"/api/v2/users/{org.ANA}/routingstatus", headers=bearer)
    assert standin.calls[-1].status == 0
    standin.answer_again()
    answer = send(standin.api_url, "GET", f"/api/v2/users/{org.ANA}/routingstatus", headers=bearer)
    assert answer.status == 200

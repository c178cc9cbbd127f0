"""End to end: TrueEngage's POST through the real facade and the real decision service."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SEED

UK_MOBILE_ANSWER = {
    "queueId": "5a9d0c4e-1b2f-4c3d-8e5f-000000000001",
    "routingData": {
        "queueId": "5a9d0c4e-1b2f-4c3d-8e5f-000000000001",
        "languageId": "9e2d4c61-dddd-4eee-8fff-000000000001",
        "skillIds": [
            "0b6f7a10-aaaa-4bbb-8ccc-000000000001",
            "0b6f7a10-aaaa-4bbb-8ccc-000000000003",
        ],
    },
    "callbackNumbers": ["+447400123456"],
    "countryCode": "+44",
    "validateCallbackNumbers": True,
    "data": {"routed_by": "callback-router"},
}


def test_uk_mobile_gets_the_uk_queue_and_skills(webhook):
    reply = webhook.post(SEED)
    assert reply.status == 200
    assert reply.body == UK_MOBILE_ANSWER
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("phone", "country_code"),
    [
        ("07400123456", "+44"),  # national with trunk prefix
        ("7400123456", "44"),  # national without trunk prefix, bare calling code
        ("07400 123 456", "0044"),  # spaces, 00-style calling code
        ("+44 7400 123456", "+44"),  # already international
        ("00447400123456", "+1"),  # international with 00, whatever the widget's country
        ("447400123456", "+44"),  # international without the plus
    ],
)
def test_number_variants_normalise_to_the_same_e164(webhook, phone, country_code):
    reply = webhook.post({"phoneNumber": phone, "countryCode": country_code})
    assert reply.status == 200
    assert reply.body["callbackNumbers"] == ["+447400123456"]
    assert reply.body["countryCode"] == "+44"


def test_numbers_as_json_numbers_are_accepted(webhook):
    reply = webhook.post({"phoneNumber": 7400123456, "countryCode": 44, "widgetId": 123})
    assert reply.status == 200
    assert reply.body["callbackNumbers"] == ["+447400123456"]


def test_unparseable_number_gets_only_the_defaults(webhook):
    reply = webhook.post({"phoneNumber": "123123123", "countryCode": "+123", "queueId": "xxx"})
    assert reply.status == 200
    assert reply.body == {"validateCallbackNumbers": True, "data": {"routed_by": "callback-router"}}


def test_bearer_token_and_second_key_are_accepted(webhook):
    bearer = webhook.post(SEED, key=False, Authorization=f"Bearer {webhook.key}")
    assert bearer.status == 200
    second = webhook.post(SEED, key="second-key-abcdef")
    assert second.status == 200
    assert second.body == UK_MOBILE_ANSWER


@pytest.mark.parametrize("key", [None, "wrong", "test-key-012345678", "test-key-0123456789x"])
def test_missing_or_wrong_key_is_401_without_hints(webhook, key):
    reply = webhook.post(SEED, key=key if key else False)
    assert reply.status == 401
    assert reply.body == {"error": "missing or invalid API key"}
    assert "test-key" not in str(reply.headers)


def test_wrong_bearer_scheme_is_401(webhook):
    reply = webhook.post(SEED, key=False, Authorization=f"Basic {webhook.key}")
    assert reply.status == 401


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        (
            "{not json",
            "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
            None,
        ),
        ("", "malformed JSON: Expecting value at line 1 column 1", None),
        ("[1, 2]", "expected a JSON object", None),
        ('"text"', "expected a JSON object", None),
        (
            '{"phoneNumber": ["07400123456"]}',
            "phoneNumber must be a string or a whole number",
            "phoneNumber",
        ),
        ('{"queueId": 42}', "queueId must be a string", "queueId"),
        ('{"widgetId": true}', "widgetId must be a string or a whole number", "widgetId"),
        ('{"scriptId": {"a": 1}}', "scriptId must be a string", "scriptId"),
        (
            '{"phoneNumber": "' + "1" * 33 + '"}',
            "phoneNumber is longer than 32 characters",
            "phoneNumber",
        ),
        (
            '{"phoneNumber": "0740\\u0000123"}',
            "phoneNumber contains control characters",
            "phoneNumber",
        ),
        (b'{"phoneNumber": "\xff\xfe"}', "body is not valid UTF-8", None),
        # JavaScript cutting a string through an emoji leaves half of its surrogate pair.
        (
            '{"queueId": "abc\\ud83d"}',
            "queueId contains half of a surrogate pair (not Unicode text)",
            "queueId",
        ),
        # Past Python's 4,300 digits, int() itself refuses.
        (
            '{"phoneNumber": ' + "9" * 4301 + "}",
            "phoneNumber is longer than 32 characters",
            "phoneNumber",
        ),
        ('{"widgetId": -' + "9" * 5000 + "}", "widgetId is longer than 64 characters", "widgetId"),
        ('{"queueId": ' + "9" * 4301 + "}", "queueId must be a string", "queueId"),
        ("[" * 100_00 + "]" * 100_00, "JSON is nested too deeply", None),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(webhook, body, error, field):
    reply = webhook.post(body)
    assert reply.status == 400
    expected = {"error": error} if field is None else {"error": error, "field": field}
    assert reply.body == expected


def test_extra_fields_no_text_can_carry_are_left_out(webhook):
    extra = '"note": "\\ude00", "\\ud83d": "x", "big": [' + "9" * 4301 + "]"
    body = json.dumps(SEED)[:-1] + ", " + extra + "}"
    reply = webhook.post(body)
    assert (reply.status, reply.body) == (200, UK_MOBILE_ANSWER)


def test_null_fields_mean_not_given(webhook):
    reply = webhook.post({**SEED, "scriptId": None, "scheduleGroupId": None})
    assert reply.status == 200
    assert reply.body == UK_MOBILE_ANSWER


def test_oversize_body_is_413_and_service_keeps_serving(webhook):
    reply = webhook.post({**SEED, "padding": "x" * (70 * 1024)})
    assert reply.status == 413
    assert reply.body == {"error": "body larger than 65536 bytes"}
    assert webhook.post(SEED).status == 200


def test_oversize_chunked_body_is_413(webhook):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", webhook.port, timeout=10)
    chunks = (b"x" * 8192 for _ in range(10))
    connection.request(
        "POST",
        "/trueengage/callback",
        body=chunks,
        encode_chunked=True,
        headers={
            "X-API-Key": webhook.key,
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
    )
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


def test_non_json_content_type_is_415(webhook):
    reply = webhook.request(
        "POST",
        "/trueengage/callback",
        "phoneNumber=1",
        {"X-API-Key": webhook.key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 415
    assert reply.body == {"error": "Content-Type must be application/json"}


def test_json_content_type_with_charset_is_fine(webhook):
    reply = webhook.post(SEED, **{"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(webhook, method):
    reply = webhook.request(method, "/trueengage/callback", headers={"X-API-Key": webhook.key})
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"
    assert reply.body == {"error": "method not allowed"}


def test_unknown_path_is_404_json(webhook):
    reply = webhook.request("GET", "/nope")
    assert reply.status == 404
    assert reply.body == {"error": "not found"}


def test_health_and_readiness(webhook):
    assert webhook.request("GET", "/healthz").body == {"status": "ok"}
    ready = webhook.request("GET", "/readyz")
    assert (ready.status, ready.body) == (200, {"status": "ready"})


def test_request_id_is_echoed(webhook):
    reply = webhook.post(SEED, **{"X-Request-Id": "te-42"})
    assert reply.headers["X-Request-Id"] == "te-42"

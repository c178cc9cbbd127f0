"""Reading TrueEngage's webhook body: known fields, their types and lengths, control characters,
numbers sent as JSON numbers, and extra fields passed on as attributes; whatever the body, a
request that serializes or a refusal, never another error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from contract.callback import WEBHOOK
from contract.webhook import PayloadError, parse_payload
from tests.conftest import SEED
from tests.json_strategies import bodies


def parse(document: object) -> object:
    return parse_payload(json.dumps(document).encode())


def refusal(document: object) -> tuple[str, str | None]:
    with pytest.raises(PayloadError) as caught:
        parse(document)
    return str(caught.value), caught.value.field


def test_the_documented_example_reads_into_the_request():
    request = parse(SEED)
    assert (request.phone_number, request.country_code, request.widget_id) == (
        "07400123456",
        "+44",
        "123",
    )
    assert not request.attributes


def test_every_known_field_lands_in_its_place():
    request = parse(
        {
            "phoneNumber": "1",
            "countryCode": "+1",
            "scriptId": "s",
            "queueId": "q",
            "scheduleGroupId": "g",
            "widgetId": "w",
        }
    )
    assert (
        request.phone_number,
        request.country_code,
        request.script_id,
        request.queue_id,
        request.schedule_group_id,
        request.widget_id,
    ) == ("1", "+1", "s", "q", "g", "w")


def test_numbers_may_come_as_json_numbers_where_a_sender_would_type_them():
    request = parse({"phoneNumber": 7400123456, "countryCode": 44, "widgetId": 123})
    assert (request.phone_number, request.country_code, request.widget_id) == (
        "7400123456",
        "44",
        "123",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queueId", 42),  # ids are never numbers
        ("scriptId", 7),
        ("phoneNumber", 7.5),
        ("widgetId", True),  # a bool is not a number here
        ("countryCode", ["+44"]),
        ("scheduleGroupId", {"id": "x"}),
    ],
)
def test_other_types_are_refused_naming_the_field(field, value):
    kind = "a string or a whole number" if WEBHOOK[field].may_be_number else "a string"
    assert refusal({field: value}) == (f"{field} must be {kind}", field)


@pytest.mark.parametrize(
    ("field", "attribute", "limit"),
    [
        ("phoneNumber", "phone_number", 32),
        ("countryCode", "country_code", 8),
        ("scriptId", "script_id", 64),
        ("queueId", "queue_id", 64),
        ("scheduleGroupId", "schedule_group_id", 64),
        ("widgetId", "widget_id", 64),
    ],
)
def test_each_field_has_its_length_limit(field, attribute, limit):
    assert getattr(parse({field: "1" * limit}), attribute) == "1" * limit
    assert refusal({field: "1" * (limit + 1)}) == (
        f"{field} is longer than {limit} characters",
        field,
    )


@pytest.mark.parametrize("character", ["\x00", "\n", "\t", "\x1f", "\x7f"])
def test_control_characters_are_refused(character):
    assert refusal({"queueId": f"a{character}b"}) == (
        "queueId contains control characters",
        "queueId",
    )


def test_null_means_not_given():
    request = parse({"phoneNumber": "1", "scriptId": None, "queueId": None})
    assert (request.phone_number, request.script_id, request.queue_id) == ("1", "", "")


def test_extra_fields_travel_as_strings_and_doubtful_ones_are_dropped():
    request = parse(
        {
            "language": "de",
            "score": 7,
            "vip": True,
            "tags": ["a", "b"],
            "nested": {"x": 1},
            "nothing": None,
            "k" * 65: "key too long",
            "bad\nkey": "x",
            "long": "v" * 1025,
            "control": "a\x00b",
            "max": "v" * 1024,
        }
    )
    assert dict(request.attributes) == {
        "language": "de",
        "score": "7",
        "vip": "true",
        "tags": '["a","b"]',
        "nested": '{"x":1}',
        "max": "v" * 1024,
    }


def test_at_most_32_extra_fields_are_kept():
    request = parse({f"extra{n:02}": "x" for n in range(40)})
    assert sorted(request.attributes) == [f"extra{n:02}" for n in range(32)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "body is not valid UTF-8"),
        (
            b"{not json",
            "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b"", "malformed JSON: Expecting value at line 1 column 1"),
        (b"[1]", "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b"[" * 10_000 + b"]" * 10_000, "JSON is nested too deeply"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(body, message):
    with pytest.raises(PayloadError, match="^" + message.replace("[", r"\[") + "$") as caught:
        parse_payload(body)
    assert caught.value.field is None


@pytest.mark.parametrize("field", sorted(WEBHOOK))
@pytest.mark.parametrize("half", ["\\ud83d", "\\ude00"])
def test_half_a_surrogate_pair_is_refused_naming_the_field(field, half):
    with pytest.raises(PayloadError) as caught:
        parse_payload(f'{{"{field}": "a{half}"}}'.encode())
    assert caught.value.field == field
    assert str(caught.value) == f"{field} contains half of a surrogate pair (not Unicode text)"


@pytest.mark.parametrize("field", sorted(WEBHOOK))
def test_an_integer_past_4300_digits_is_refused_naming_the_field(field):
    with pytest.raises(PayloadError) as caught:
        parse_payload(f'{{"{field}": {"9" * 4301}}}'.encode())
    assert caught.value.field == field
    limit = WEBHOOK[field].max_length
    message = (
        "is longer than {limit} characters" if WEBHOOK[field].may_be_number else "must be a string"
    )
    assert str(caught.value) == f"{field} {message.format(limit=limit)}"


def test_extra_fields_that_no_text_can_carry_are_left_out():
    body = '{"half": "\\ud83d", "\\ude00": "x", "nested": ["\\ud83d"], "long": 9%s, "in": [9%s]}'
    request = parse_payload((body % ("9" * 4300, "9" * 4300)).encode())
    # Nested values travel as JSON, which escapes the half pair into plain ASCII.
    assert dict(request.attributes) == {"nested": '["\\ud83d"]'}


def read(body: str) -> object:
    try:
        return parse_payload(body.encode())
    except PayloadError as error:
        return error


@given(body=bodies)
@settings(max_examples=500, deadline=None)
def test_any_body_reads_into_a_request_that_serializes_or_is_refused(body):
    result = read(body)
    if isinstance(result, PayloadError):
        assert result.field is None or result.field in WEBHOOK
    else:
        result.SerializeToString()  # what the decision client sends; fails on a half pair

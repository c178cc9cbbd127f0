"""HTTP/1.1 framing on the webhook: chunk extensions, which RFC 9112 allows on every
chunk-size line, are read past; a chunk-size line the RFC does not allow is a 400."""

from __future__ import annotations

import json

import pytest

from contract.v1 import decision_pb2
from tests.conftest import API_KEY, exchange

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
BODY = b'{"phoneNumber":"07400123456","countryCode":"+44"}'


@pytest.fixture
def facade(scripted, facade_in_process):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    return facade_in_process(f"127.0.0.1:{scripted.port}")


def chunked(*chunks: bytes) -> bytes:
    """A webhook request whose body is `chunks`, each a whole chunk as sent (size line too)."""
    head = (
        b"POST /trueengage/callback HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" % API_KEY.encode()
    )
    return head + b"".join(chunks)


def chunk(data: bytes, extensions: bytes = b"") -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), extensions, data)


def answer_of(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    "extensions",
    [
        b";ext=1",
        b";ext",
        b"; ext = 1",
        b';name="a quoted \\"value\\" ; with = signs"',
        b";a=1;b;c=x",
        b"\t;\ttab=1",
    ],
)
def test_chunk_extensions_are_accepted(facade, scripted, extensions):
    raw = chunked(chunk(BODY[:5], extensions), chunk(BODY[5:], extensions), b"0" + extensions)
    status, body = answer_of(exchange(facade.port, raw + b"\r\n\r\n"))
    assert (status, json.loads(body)) == (200, {"queueId": QUEUE})
    assert scripted.servicer.requests[-1].phone_number == "07400123456"  # the body, whole


@pytest.mark.parametrize(
    "size_line",
    [
        b"5;ext\n=1",  # a bare LF inside the line
        b"5;e\x01t=1",  # a control character
        b"5;=1",  # no name
        b"5;ext=",  # no value after =
        b"5;",  # no extension after ;
        b"5;ext=a b",  # a value that is neither a token nor quoted
        b'5;ext="open',  # an unclosed quoted string
        b"0x5",
        b"-5",
    ],
)
def test_a_chunk_size_line_outside_the_grammar_is_a_400(facade, scripted, size_line):
    raw = chunked(size_line + b"\r\n" + BODY[:5] + b"\r\n", chunk(BODY[5:]), b"0\r\n\r\n")
    status, _ = answer_of(exchange(facade.port, raw))
    assert status == 400
    assert scripted.servicer.requests == []


def test_a_chunk_size_line_past_its_limit_closes_the_connection(facade, scripted):
    """1,024 bytes with its extensions (Tornado's limit was 64): a longer line is not read to
    its end, so no answer can follow it."""
    raw = chunked(b"5;ext=" + b"x" * 1024 + b"\r\n" + BODY[:5] + b"\r\n", b"0\r\n\r\n")
    assert exchange(facade.port, raw) == b""
    assert scripted.servicer.requests == []
    within = chunked(chunk(BODY, b";ext=" + b"x" * 1000), b"0\r\n\r\n")
    assert answer_of(exchange(facade.port, within))[0] == 200


def test_extensions_are_bounded_per_body(facade, scripted):
    """16 KiB of extensions in one body at most, however many chunks carry them."""
    many = [chunk(BODY[i : i + 1], b";e=" + b"x" * 900) for i in range(len(BODY))]
    status, _ = answer_of(exchange(facade.port, chunked(*many, b"0\r\n\r\n")))
    assert status == 400
    assert scripted.servicer.requests == []

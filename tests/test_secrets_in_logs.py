"""No key reaches a log line, whatever a client sends: a key header Tornado refuses as malformed
(a trailing CR, DEL or NUL, what a key file saved with CRLF line endings gives), a key in the
query string of either listener, a header value quoted in a refusal."""

from __future__ import annotations

import logging

import pytest

from facade.request_logs import WithholdValues
from plumbing.logs import AccessLog
from tests.conftest import API_KEY, exchange

ADMIN_KEY = "console-key-5e3c1a9f77"
BODY = b'{"phoneNumber":"07400123456","countryCode":"+44"}'


@pytest.fixture
def facade(scripted, facade_in_process, captured_logs):
    """A facade with its console, both writing their access lines where the test reads them."""
    return facade_in_process(
        f"127.0.0.1:{scripted.port}",
        access_log=AccessLog("facade", captured_logs),
        admin_listen="127.0.0.1:0",
        admin_keys=(ADMIN_KEY,),
    )


def logged(facade, captured_logs) -> str:
    facade.stop()  # flushes the access log
    return captured_logs.getvalue()


@pytest.mark.parametrize("ending", [b"\r", b"\x7f", b"\x00"], ids=["CR", "DEL", "NUL"])
@pytest.mark.parametrize("header", ["X-API-Key: ", "Authorization: Bearer "])
def test_a_webhook_key_with_a_stray_byte_is_refused_and_not_logged(
    facade, captured_logs, header, ending
):
    raw = (
        b"POST /trueengage/callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + header.encode()
        + API_KEY.encode()
        + ending
        + b"\r\nContent-Length: %d\r\n\r\n" % len(BODY)
        + BODY
    )
    answer = exchange(facade.port, raw)
    assert answer.startswith(b"HTTP/1.1 400 ")
    log = logged(facade, captured_logs)
    assert "Malformed HTTP message" in log  # the refusal is still logged ...
    assert "Invalid header value" in log  # ... with what was wrong ...
    assert API_KEY not in log  # ... but not with the value
    assert API_KEY[:8] not in log


@pytest.mark.parametrize("ending", [b"\r", b"\x00"], ids=["CR", "NUL"])
def test_an_admin_key_with_a_stray_byte_is_not_logged(facade, captured_logs, ending):
    raw = b"GET /api/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s%s\r\n\r\n" % (
        ADMIN_KEY.encode(),
        ending,
    )
    assert exchange(facade.admin_port, raw).startswith(b"HTTP/1.1 400 ")
    assert ADMIN_KEY not in logged(facade, captured_logs)


def test_no_query_string_reaches_either_access_log(facade, captured_logs):
    """An admin key in the URL (the sign-in form submitted before its script ran) and anything a
    client puts after `?` on the webhook stay out of the logs; the path is logged."""
    webhook = (
        b"POST /trueengage/callback?key=%s HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    ) % (API_KEY.encode(), API_KEY.encode(), len(BODY), BODY)
    assert exchange(facade.port, webhook).startswith(b"HTTP/1.1 200 ")
    for path in (b"/", b"/api/session", b"/static/console.js", b"/nowhere"):
        console = b"GET %s?key=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (
            path,
            ADMIN_KEY.encode(),
        )
        assert exchange(facade.admin_port, console).startswith(b"HTTP/1.1 ")
    log = logged(facade, captured_logs)
    assert ADMIN_KEY not in log
    assert API_KEY not in log
    assert '"path":"/trueengage/callback"' in log
    assert '"path":"/api/session"' in log  # the console's requests are logged, as paths


def test_a_header_value_quoted_in_a_body_refusal_is_not_logged(facade, captured_logs):
    """Tornado refuses a form body it cannot decode and logs the refusal with the header's
    value (`Unsupported Content-Encoding: ...`)."""
    raw = (
        b"POST /api/try HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Encoding: %s\r\n"
        b"Content-Length: 3\r\nConnection: close\r\n\r\na=b"
    ) % (ADMIN_KEY.encode(), ADMIN_KEY.encode())
    assert exchange(facade.admin_port, raw).startswith(b"HTTP/1.1 400 ")
    assert ADMIN_KEY not in logged(facade, captured_logs)


def test_an_absolute_form_target_is_logged_as_its_path_alone(facade, captured_logs):
    """`POST http://user:<key>@x/trueengage/callback` was logged whole, credentials and all, on
    both listeners (a client may send the absolute form; only its path is ours to log)."""
    webhook = (
        b"POST http://user:%s@x/trueengage/callback?key=%s HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    ) % (API_KEY.encode(), API_KEY.encode(), len(BODY), BODY)
    assert exchange(facade.port, webhook).startswith(b"HTTP/1.1 404 ")
    console = (
        b"GET http://admin:%s@x/api/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        % ADMIN_KEY.encode()
    )
    assert exchange(facade.admin_port, console).startswith(b"HTTP/1.1 404 ")
    log = logged(facade, captured_logs)
    assert API_KEY not in log
    assert ADMIN_KEY not in log
    assert '"path":"/trueengage/callback"' in log
    assert '"path":"/api/session"' in log


def test_failed_tls_handshakes_are_logged_once_a_minute_with_a_count():
    """Adversary round 6, N7: a line per failed handshake (300 handshakes, 300 lines) let anyone
    who reaches the port flood the log."""
    now = [0.0]
    summarized = WithholdValues(clock=lambda: now[0])

    def handshake_failed() -> logging.LogRecord:
        record = logging.LogRecord(
            "tornado.general",
            logging.WARNING,
            "",
            0,
            "SSL Error on %s %s: %s",
            (7, "peer", "x"),
            None,
        )
        return record if summarized.filter(record) else None  # type: ignore[return-value]

    assert handshake_failed() is not None
    assert [handshake_failed() for _ in range(299)] == [None] * 299
    now[0] = 61.0
    line = handshake_failed()
    assert line is not None
    assert line.getMessage().endswith("(299 more since the last such line)")

"""The operator console when things go wrong: a listener on the webhook's port, a keys reload,
the decision service down, bodies and times the webhook would refuse."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from plumbing.service_process import ServiceProcess
from tests.conftest import API_KEY, SEED, Reply, Webhook
from tests.console_browser import ADMIN_KEY, ConsoleStack, browser_page, console_stack, sign_in


@pytest.mark.parametrize(
    ("listen", "admin_listen"),
    [(":::18931", "0.0.0.0:18931"), ("::1:18931", "127.0.0.1:18931")],
    ids=["any address", "loopback"],
)
def test_the_console_never_shares_the_webhooks_port(listen, admin_listen):
    """IPv6 and IPv4 sockets bind one port number without a conflict: IPv4 callers of the
    webhook's port would reach the console (404, a lost callback)."""
    result = subprocess.run(
        [sys.executable, "-m", "facade", "serve", "--listen", listen,
         "--admin-listen", admin_listen, "--decision", "127.0.0.1:1", "--grace", "0"],
        env={"FACADE_API_KEYS": "webhook-key", "FACADE_ADMIN_KEYS": "admin-key"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "serving on" not in result.stdout
    assert result.stderr == "facade: --admin-listen must not use the webhook's port\n"


def test_the_rules_and_recent_views_say_when_the_decision_service_is_down():
    """The API answers 502 naming the fault; the page must show it, not a blank or stale view."""
    with console_stack() as stack, browser_page() as page:
        sign_in(page, stack.console_url)
        expect(page.get_by_label("Phone number")).to_be_visible()
        stack.decision.stop()
        page.get_by_role("button", name="Rules").click()
        expect(page.locator("#rules-error")).to_contain_text("decision service: unavailable")
        page.get_by_role("button", name="Recent decisions").click()
        expect(page.locator("#recent-error")).to_contain_text("decision service: unavailable")


def test_a_keys_reload_cannot_make_a_console_key_a_webhook_key(
    scripted, facade_in_process, tmp_path
):
    """The facade will not start with a key that is both; a reload of the keys file must not
    get there either, or whoever holds the webhook key holds the console."""
    keys = tmp_path / "keys"
    keys.write_text("webhook-key-111111\n")
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", api_keys=(), api_keys_file=str(keys),
        admin_keys=("console-key-222222",),
    )  # fmt: skip
    webhook = Webhook(facade.port, "webhook-key-111111")
    keys.write_text("webhook-key-111111\nconsole-key-222222\n")
    facade.reload_keys()
    assert webhook.post(SEED, key="console-key-222222").status == 401
    assert webhook.post(SEED).status == 200  # the old keys are kept


def test_wrong_admin_keys_spend_the_address_budget_a_valid_key_never(scripted, facade_in_process):
    """Guessing an admin key is as slow as guessing a webhook key: 429 once the address's
    failed sign-ins are spent (a refill of one per 1,000 s: none during the test)."""
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", admin_listen="127.0.0.1:0",
        admin_keys=("console-key-222222",), auth_failure_rate=0.001, auth_failure_burst=2,
    )  # fmt: skip
    port = facade.admin_port

    def sign_in_status(key: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/session", headers={"Authorization": f"Bearer {key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            with error:
                return error.code

    assert [sign_in_status("guess-000000000") for _ in range(3)] == [401, 401, 429]
    assert sign_in_status("console-key-222222") == 200


@pytest.fixture(scope="module")
def stack() -> Iterator[ConsoleStack]:
    with console_stack() as running:
        yield running


def try_api(stack: ConsoleStack, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        stack.console_url + "api/try", data=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.mark.parametrize("at", ["0", "false", "[]", "{}", "1732471200"])
def test_a_time_that_is_not_a_moment_is_refused_not_taken_as_now(stack, at):
    body = f'{{"phoneNumber": "07400123456", "at": {at}}}'.encode()
    assert try_api(stack, body) == (
        400,
        {"error": "at: not an ISO 8601 moment such as 2026-11-24T18:00:00Z", "field": "at"},
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"phoneNumber": "07400123456",}', "malformed JSON: Expecting property name enclosed"),
        (b'{"phoneNumber": "07400\xff123456"}', "body is not valid UTF-8"),
        (b'"07400123456"', "expected a JSON object"),
    ],
)
def test_the_try_api_names_what_is_wrong_with_the_body(stack, body, error):
    status, answer = try_api(stack, body)
    assert status == 400
    assert answer["error"].startswith(error)


def test_the_try_api_takes_what_the_webhook_takes(stack):
    """An extra field the webhook leaves out (an integer past Python's 4,300 digits) must not
    make "Try a caller" refuse the same body."""
    body = b'{"phoneNumber": "07400123456", "countryCode": "+44", "n": ' + b"9" * 5000 + b"}"
    status, answer = try_api(stack, body)
    assert status == 200
    assert "uk-mobile" in answer["decision"]["matchedRules"]


def test_the_try_api_refuses_a_body_the_webhook_would_refuse(stack):
    """413 naming the limit, as the webhook answers, not a decision the webhook never makes."""
    body = b'{"phoneNumber": "07400123456", "notes": "' + b"x" * (64 * 1024) + b'"}'
    assert try_api(stack, body) == (413, {"error": "body larger than 65536 bytes"})


@pytest.fixture
def console(scripted, facade_in_process, captured_logs):
    """A facade with its console, in process."""
    return facade_in_process(
        f"127.0.0.1:{scripted.port}",
        admin_listen="127.0.0.1:0",
        admin_keys=(ADMIN_KEY,),
    )


def fetch(port: int, method: str, path: str, body: str | None = None, **headers: str) -> Reply:
    """One request to the console; the body as bytes (pages are HTML, not JSON)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return Reply(reply.status, reply.headers, reply.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/static/console.js", 200),
        ("GET", "/static/missing.js", 404),
        ("GET", "/static/console.js%00.png", 404),
        ("GET", "/api/session", 401),
        ("GET", "/nowhere", 404),
        ("DELETE", "/", 405),
        ("POST", "/api/rules", 405),
    ],
)
def test_every_console_answer_carries_the_security_headers(console, method, path, status):
    """Errors included: an error page without them could be framed, sniffed or refer away."""
    reply = fetch(console.admin_port, method, path)
    assert reply.status == status
    policy = reply.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "form-action 'self'", "base-uri 'none'"):
        assert directive in policy
    assert "frame-ancestors 'none'" in policy
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"


def test_a_nul_in_a_static_path_is_not_found_not_an_error(console, captured_logs):
    """It was a 500 with an error-level traceback, reachable without a key."""
    reply = fetch(console.admin_port, "GET", "/static/console.js%00.png")
    assert (reply.status, json.loads(reply.body)) == (404, {"error": "not found"})
    console.stop()
    assert '"level":"error"' not in captured_logs.getvalue()


def test_the_sign_in_form_posted_without_script_lands_back_on_the_page(console):
    """With JavaScript off or not loaded yet, Enter submits the form: by POST, so the key is in
    no URL; the page answers with a redirect to itself, and the key is not kept."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    reply = fetch(console.admin_port, "POST", "/", f"key={ADMIN_KEY}", **form)
    assert (reply.status, reply.headers["Location"]) == (303, "/")
    assert ADMIN_KEY.encode() not in reply.body


def test_no_console_form_can_put_what_is_typed_in_a_url():
    """Every form posts (its fields never become a query string, with or without script), and
    the key field does not invite the browser to store the key."""
    page = (
        Path(__file__).resolve().parent.parent / "facade" / "console" / "index.html"
    ).read_text()
    forms = re.findall(r"<form\b[^>]*>", page)
    assert len(forms) == 3
    assert all('method="post"' in form for form in forms)
    key_field = re.search(r'<input id="admin-key"[^>]*>', page)[0]
    assert 'autocomplete="off"' in key_field


def session_status(port: int, key: str) -> int:
    return fetch(port, "GET", "/api/session", Authorization=f"Bearer {key}").status


def test_admin_keys_come_from_a_file_and_rotate_on_reload(scripted, facade_in_process, tmp_path):
    """As the webhook's keys: the file is read at start and on SIGHUP (`reload_keys`), the new
    set replaces the old whole, and a file that cannot be used keeps the old set."""
    admin_keys = tmp_path / "admin-keys"
    admin_keys.write_text("# the analysts' keys\nconsole-old-111111\r\n")  # CRLF, as saved
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", admin_listen="127.0.0.1:0", admin_keys_file=str(admin_keys)
    )
    assert session_status(facade.admin_port, "console-old-111111") == 200
    admin_keys.write_text("console-new-222222\n")
    facade.reload_keys()
    assert session_status(facade.admin_port, "console-new-222222") == 200
    assert session_status(facade.admin_port, "console-old-111111") == 401
    admin_keys.write_text("# every key commented out\n")
    facade.reload_keys()
    assert session_status(facade.admin_port, "console-new-222222") == 200
    admin_keys.unlink()
    facade.reload_keys()
    assert session_status(facade.admin_port, "console-new-222222") == 200


def test_a_reload_cannot_make_a_webhook_key_a_console_key(scripted, facade_in_process, tmp_path):
    """The rule holds from both files: a webhook key written into the admin keys file keeps
    both old sets."""
    admin_keys = tmp_path / "admin-keys"
    admin_keys.write_text("console-old-111111\n")
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", admin_listen="127.0.0.1:0", admin_keys_file=str(admin_keys)
    )
    admin_keys.write_text(f"console-new-222222\n{API_KEY}\n")
    facade.reload_keys()
    assert session_status(facade.admin_port, API_KEY) == 401
    assert session_status(facade.admin_port, "console-new-222222") == 401
    assert session_status(facade.admin_port, "console-old-111111") == 200
    assert Webhook(facade.port).post(SEED).status == 200


@pytest.mark.parametrize(
    ("keys_file", "error"),
    [
        ("console-key-333333\n", None),
        ("webhook-key\n", "facade: a console key must not also be a webhook key\n"),
        ("# nothing but comments\n", "facade: the console needs keys of its own: set "
         "FACADE_ADMIN_KEYS or --admin-keys-file\n"),
        (None, "facade: cannot read the admin keys file: No such file or directory\n"),
    ],
    ids=["a key", "a webhook key", "no key", "missing"],
)  # fmt: skip
def test_the_admin_keys_file_is_checked_at_start(tmp_path, keys_file, error):
    admin_keys = tmp_path / "admin-keys"
    if keys_file is not None:
        admin_keys.write_text(keys_file)
    args = ["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    args += ["--admin-keys-file", str(admin_keys), "--decision", "127.0.0.1:1"]
    env = {"FACADE_API_KEYS": "webhook-key", "FACADE_ADMIN_KEYS": ""}
    if error is None:
        facade = ServiceProcess("facade", [*args, "--drain-seconds", "0", "--grace", "0"], env)
        assert facade.stop() == 0
        return
    result = subprocess.run(
        [sys.executable, "-m", "facade", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert (result.returncode, result.stderr) == (2, error)


def test_the_console_access_log_names_the_caller_not_the_decision_client():
    """Every console line said `"client":"<contract.client.DecisionClient object at ...>"`
    (the console's handlers hold the decision client as `client`): nothing showed which
    address used an admin key."""
    import io
    import json as json_module
    from types import SimpleNamespace

    from facade.app import make_access_logger
    from plumbing.logs import AccessLog

    stream = io.StringIO()
    access_log = AccessLog("facade", stream)
    request = SimpleNamespace(
        method="GET", path="/api/rules", remote_ip="10.1.2.3", request_time=lambda: 0.001
    )
    handler = SimpleNamespace(request=request, get_status=lambda: 200, client=object())
    make_access_logger(False, access_log)(handler)  # type: ignore[arg-type]
    access_log.flush()
    assert json_module.loads(stream.getvalue())["client"] == "10.1.2.3"

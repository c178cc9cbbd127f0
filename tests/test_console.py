"""The operator console end to end in headless chromium: sign in, try a UK mobile, watch a
real webhook decision appear, read the rules; and nothing without an admin key."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.console_browser import (
    ADMIN_KEY,
    API_KEY,
    ConsoleStack,
    browser_page,
    console_stack,
    sign_in,
    try_caller,
)

UK_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"


@pytest.fixture(scope="module")
def stack() -> Iterator[ConsoleStack]:
    with console_stack() as running:
        yield running


@pytest.fixture
def page() -> Iterator[Page]:
    with browser_page() as opened:
        yield opened


def send_webhook(stack: ConsoleStack, phone: str, country: str = "+44") -> dict:
    request = urllib.request.Request(
        stack.webhook_url,
        data=json.dumps({"phoneNumber": phone, "countryCode": country}).encode(),
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_api_answers_401_without_an_admin_key(stack):
    for path in ("api/session", "api/rules", "api/decisions"):
        assert status_of(stack.console_url + path) == 401
        assert status_of(stack.console_url + path, {"Authorization": f"Bearer {API_KEY}"}) == 401


def test_a_webhook_key_does_not_sign_in(stack, page):
    sign_in(page, stack.console_url, key=API_KEY)
    expect(page.get_by_role("alert")).to_have_text("That key is not an admin key.")
    expect(page.get_by_role("button", name="Try a caller")).to_be_hidden()


def test_try_a_uk_mobile_shows_the_rule_and_the_answer(stack, page):
    sign_in(page, stack.console_url)
    try_caller(page, "07400123456", "+44")
    row = page.locator("#try-rules tr", has_text="uk-mobile")
    expect(row.locator("td").nth(1)).to_have_text("matched")
    vip = page.locator("#try-rules tr", has_text="known-vip")
    expect(vip.locator("td").nth(2)).to_have_text("contact.tier")
    expect(page.locator("#try-facts")).to_contain_text("+447400123456")
    answer = json.loads(page.locator("#try-answer").text_content())
    assert answer["queueId"] == UK_QUEUE
    assert answer["routingData"]["queueId"] == UK_QUEUE
    # Its ids with the names the rules give them ([names.queues] of the example rules).
    expect(page.locator("#try-names")).to_contain_text(f"{UK_QUEUE}  support-uk")


def test_a_decision_appears_in_the_recent_list_without_reload(stack, page):
    sign_in(page, stack.console_url)
    page.get_by_role("button", name="Recent decisions").click()
    items = page.locator("#recent-list li")
    before = items.count()
    decided = send_webhook(stack, "07400123456")
    assert decided["queueId"] == UK_QUEUE
    expect(items).to_have_count(before + 1, timeout=15_000)
    newest = items.first
    expect(newest.locator("summary")).to_contain_text("uk-mobile")
    expect(newest.locator("summary")).to_contain_text("*******3456")  # masked
    newest.locator("summary").click()
    expect(newest).to_contain_text(UK_QUEUE)


def test_the_rules_view_shows_the_live_file_and_counts(stack, page):
    send_webhook(stack, "07400123456")
    sign_in(page, stack.console_url)
    page.get_by_role("button", name="Rules").click()
    expect(page.locator("#rules-text")).to_contain_text('name = "uk-mobile"')
    expect(page.locator("#rules-summary")).to_contain_text("examples/rules.toml")
    row = page.locator("#rules-counts tr", has_text="uk-mobile")
    expect(row.locator("td").nth(1)).not_to_have_text("0")
    expect(page.get_by_text("No reload has been refused.")).to_be_visible()
    # The ids the rules use, with their names ([names.queues] of the example rules).
    expect(page.locator("#rules-names")).to_contain_text(f"{UK_QUEUE}  support-uk")


def test_the_rules_view_shows_names_beside_the_ids_of_the_file(tmp_path, page):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f'version = 1\n[names.queues]\nsupport-uk = "{UK_QUEUE}"\n'
        f'[[rules]]\nname = "uk"\nwhen = {{ region = ["GB"] }}\nthen = {{ queue = "{UK_QUEUE}" }}\n'
    )
    with console_stack(rules) as own:
        sign_in(page, own.console_url)
        page.get_by_role("button", name="Rules").click()
        text = page.locator("#rules-text")
        expect(text).to_contain_text(f'then = {{ queue = "{UK_QUEUE}" (support-uk) }}')
        expect(text).to_contain_text(f'support-uk = "{UK_QUEUE}"\n')  # the alias says it
        expect(page.get_by_role("heading", name="Ids the rules use")).to_be_visible()


def test_the_console_is_usable_with_the_keyboard(stack, page):
    page.goto(stack.console_url)
    expect(page.get_by_label("Admin key")).to_be_focused()
    page.keyboard.type("console-test-admin-key")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Phone number")).to_be_focused()
    page.keyboard.type("07400123456")
    page.keyboard.press("Tab")
    page.keyboard.type("+44")
    page.keyboard.press("Enter")
    expect(page.locator("#try-rules tr", has_text="uk-mobile")).to_be_visible()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 60_000, 400),  # under the 64 KiB limit
        (b'{"phoneNumber": "07400123456", "at": "0001-01-01T00:00:00+01:00"}', 400),
        (b'{"phoneNumber": "07400123456", "at": "9999-12-31T23:59:59-01:00"}', 400),
        (b'{"phoneNumber": "07400123456", "at": "soon"}', 400),
        (b'{"phoneNumber": 12.5}', 400),
    ],
    ids=["nested too deep", "year 1", "year 9999", "not a moment", "not a phone number"],
)
def test_the_try_api_answers_bad_input_with_400(stack, body, status):
    request = urllib.request.Request(
        stack.console_url + "api/try",
        data=body,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == status
    assert "error" in json.loads(refused.value.read())
    refused.value.close()


def test_recent_decisions_refuse_an_impossible_sequence(stack):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert status_of(stack.console_url + "api/decisions?after=99999999999999999999", headers) == 400
    assert status_of(stack.console_url + "api/decisions?after=-1", headers) == 400


def test_the_page_files_carry_the_content_security_policy(stack):
    for path in ("", "static/console.js", "static/console.css", "static/index.html"):
        with urllib.request.urlopen(stack.console_url + path, timeout=10) as reply:
            assert "script-src 'self'" in reply.headers["Content-Security-Policy"]


def test_without_javascript_enter_puts_the_key_in_no_url(stack):
    """Before the page's script runs (or with scripts off) Enter submits the sign-in form
    itself: it used to navigate to /?key=<the admin key>, into history and the access log."""
    with browser_page(javascript=False) as page:
        page.goto(stack.console_url)
        page.get_by_label("Admin key").fill(ADMIN_KEY)
        with page.expect_navigation():
            page.get_by_label("Admin key").press("Enter")
        assert page.url == stack.console_url
        expect(page.get_by_label("Admin key")).to_have_value("")
        expect(page.get_by_label("Admin key")).to_have_attribute("autocomplete", "off")

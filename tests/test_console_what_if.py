"""The console's Try a caller as an analyst uses it, in headless chromium: a queue by the name
the rules know it by, a pretended contact (known or not, any field), the time zones of the Time
box and of the recent list, the caller's local time beside UTC; and the Rules view's shares,
which add up to 100%."""

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
)

SALES = "5a9d0c4e-1b2f-4c3d-8e5f-000000000003"
RULES = f"""version = 1
[names.queues]
sales = "{SALES}"

[[rules]]
name = "tag-everyone"
when = {{}}
then = {{ data = {{ seen = "yes" }} }}
continue = true

[[rules]]
name = "vip"
when = {{ contact.tier = "vip" }}
then = {{ priority = 10 }}
continue = true

[[rules]]
name = "gold-segment"
when = {{ contact.segment = "gold" }}
then = {{ label = "gold" }}
continue = true

[[rules]]
name = "sales-queue"
when = {{ queue_id = "sales" }}
then = {{ skill_expression = "sales" }}

[[rules]]
name = "uk"
when = {{ region = "GB" }}
then = {{ queue = "sales" }}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[ConsoleStack]:
    path = tmp_path_factory.mktemp("what-if") / "rules.toml"
    path.write_text(RULES)
    with console_stack(path) as running:
        yield running


@pytest.fixture
def page(stack) -> Iterator[Page]:
    with browser_page() as opened:
        sign_in(opened, stack.console_url)
        opened.get_by_label("Phone number").wait_for()
        yield opened


def outcome(page: Page, rule: str):
    return page.locator("#try-rules tr", has=page.get_by_role("cell", name=rule, exact=True))


def submit(page: Page, phone: str = "07400123456", country: str = "+44") -> None:
    page.get_by_label("Phone number").fill(phone)
    page.get_by_label("Country code").fill(country)
    page.get_by_role("button", name="Try", exact=True).click()


def test_the_queue_box_takes_a_name_from_the_rules(page):
    page.get_by_label("Queue").fill("sales")
    submit(page)
    expect(outcome(page, "sales-queue").locator("td").nth(1)).to_have_text("matched")
    expect(page.locator("#try-notes")).to_contain_text(f"queue 'sales' is {SALES}")


def test_an_unknown_queue_name_is_said_so(page):
    page.get_by_label("Queue").fill("Sales team")
    submit(page)
    expect(page.locator("#try-error")).to_contain_text(
        "unknown queue name 'Sales team' (not in [names.queues])"
    )


def test_a_pretended_known_contact_with_a_tier_and_an_attribute(page):
    page.get_by_label("Contact", exact=True).select_option(label="Pretend a known contact")
    page.get_by_label("Tier").fill("VIP")  # as a CRM export writes it
    page.get_by_label("Attributes").fill("segment=gold; city=Leeds")
    submit(page)
    expect(outcome(page, "vip").locator("td").nth(1)).to_have_text("matched")
    expect(outcome(page, "gold-segment").locator("td").nth(1)).to_have_text("matched")
    expect(page.locator("#try-facts")).to_contain_text("Known contactyes")


def test_a_pretended_unknown_caller(page):
    page.get_by_label("Contact", exact=True).select_option(label="Pretend an unknown caller")
    expect(page.get_by_label("Tier")).to_be_hidden()
    submit(page)
    expect(outcome(page, "vip").locator("td").nth(2)).to_have_text("contact.tier")
    expect(page.locator("#try-facts")).to_contain_text("Known contactno")


def test_the_time_box_and_the_recent_list_say_their_zone_and_local_time_shows_utc(page, stack):
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    expect(page.locator("#try-time-zone")).to_have_text(
        f"Read in this browser's time zone, {zone}; empty: now."
    )
    page.get_by_label("Time").fill("2026-11-24T18:00")
    submit(page, "2025550123", "+1")
    at = page.evaluate("new Date('2026-11-24T18:00').toISOString().slice(0, 16)")
    local = page.locator("#try-facts dd").nth(6)
    expect(local).to_contain_text("(caller's clock) = ")
    expect(local).to_contain_text(f"{at.replace('T', ' ')} UTC")
    page.get_by_role("button", name="Recent decisions").click()
    expect(page.locator("#recent-zone")).to_contain_text(
        f"Times are shown in this browser's time zone, {zone}"
    )


def test_the_rules_views_shares_add_up_to_100_percent(page, stack):
    for phone in ("07400123456", "07400123457", "2025550123"):
        request = urllib.request.Request(
            stack.webhook_url,
            data=json.dumps({"phoneNumber": phone, "countryCode": "+44"}).encode(),
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
    page.get_by_role("button", name="Rules").click()
    rows = page.locator("#rules-counts tr")
    expect(rows).to_have_count(6)  # five rules and "no rule matched"
    shares = [rows.nth(i).locator("td").nth(2).text_content() for i in range(6)]
    assert sum(float(share.rstrip("%")) for share in shares) == pytest.approx(100, abs=0.5)
    # tag-everyone contributed to every decision without deciding one.
    everyone = rows.nth(0).locator("td")
    expect(everyone.nth(1)).to_have_text("0")
    assert int(everyone.nth(3).text_content()) >= 3


def test_the_try_api_refuses_a_malformed_contact(stack):
    body = {"phoneNumber": "07400123456", "contact": {"known": True, "tier": 5}}
    request = urllib.request.Request(
        stack.console_url + "api/try",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == (
        "contact.tier must be text of at most 1024 characters"
    )
    refused.value.close()

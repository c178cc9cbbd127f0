"""The operator console under an adversary's review: its listener, its keys and its API."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.console_browser import browser_page, console_stack, sign_in


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

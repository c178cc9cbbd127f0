"""The operator console in a real browser: Debian's chromium driven by playwright (its own
browser download does not work here). The console tests and `make screenshots` use it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from plumbing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "rules.toml"
API_KEY = "console-test-webhook-key"
ADMIN_KEY = "console-test-admin-key"
# Flags that keep chromium quiet on a machine without internet (and as root, unsandboxed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class ConsoleStack:
    """A decision service and a facade with its console, as separate processes."""

    decision: ServiceProcess
    facade: ServiceProcess
    console_url: str

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.facade.port}/trueengage/callback"


@contextmanager
def console_stack(rules: Path = EXAMPLE_RULES) -> Iterator[ConsoleStack]:
    decision = ServiceProcess(
        "decision", ["serve", "--listen", "127.0.0.1:0", "--rules", str(rules), "--grace", "1"]
    )
    try:
        facade = ServiceProcess(
            "facade",
            [
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--decision",
                f"127.0.0.1:{decision.port}",
                "--grace",
                "1",
                "--drain-seconds",  # nothing routes to it: a drain would only slow the suite
                "0",
            ],
            env={"FACADE_API_KEYS": API_KEY, "FACADE_ADMIN_KEYS": ADMIN_KEY},
        )
    except BaseException:
        decision.stop()
        raise
    try:
        assert facade.process.stdout is not None
        line = facade.process.stdout.readline()  # "facade: console on http://host:port/"
        console_url = line.split("console on ", 1)[1].strip()
        yield ConsoleStack(decision, facade, console_url)
    finally:
        facade.stop()
        decision.stop()


@contextmanager
def browser_page(width: int = 1280, height: int = 860, javascript: bool = True) -> Iterator[Page]:
    """A page in a fresh chromium; `javascript=False`: as with scripts off (or not loaded yet)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not installed (make test installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, java_script_enabled=javascript
            )
            yield page
        finally:
            browser.close()


def sign_in(page: Page, console_url: str, key: str = ADMIN_KEY) -> None:
    page.goto(console_url)
    page.get_by_label("Admin key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def try_caller(page: Page, phone: str, country: str) -> None:
    page.get_by_role("button", name="Try a caller").click()
    page.get_by_label("Phone number").fill(phone)
    page.get_by_label("Country code").fill(country)
    page.get_by_role("button", name="Try", exact=True).click()
    page.locator("#try-result").wait_for()


def take_screenshots(folder: Path) -> list[Path]:
    """The three views with the example rules and a few decisions, as PNG files."""
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    with console_stack() as stack, browser_page() as page:
        for phone in ("07400123456", "2025550123", "07400654321"):
            country = "+1" if phone.startswith("202") else "+44"
            body = f'{{"phoneNumber":"{phone}","countryCode":"{country}","widgetId":"123"}}'
            request = urllib.request.Request(
                stack.webhook_url,
                data=body.encode(),
                headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10).read()
        sign_in(page, stack.console_url)
        try_caller(page, "07400123456", "+44")
        shots.append(folder / "try.png")
        page.screenshot(path=shots[-1], full_page=True)
        page.get_by_role("button", name="Rules").click()
        page.get_by_text("Decisions per rule since start").wait_for()
        page.locator("#rules-counts tr").first.wait_for()
        shots.append(folder / "rules.png")
        page.screenshot(path=shots[-1], full_page=True)
        page.get_by_role("button", name="Recent decisions").click()
        page.locator("#recent-list li").nth(2).wait_for()
        page.locator("#recent-list summary").first.click()
        shots.append(folder / "recent.png")
        page.screenshot(path=shots[-1], full_page=True)
    return shots


if __name__ == "__main__":  # make screenshots
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "facade/console/screenshots"
    for shot in take_screenshots(target):
        print(shot)

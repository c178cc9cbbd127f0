"""`decision genesys pull` against the loopback Genesys stand-in (written from the reference,
not from our client): every page of every listing, 429 with Retry-After survived, a token
refused mid-pull renewed, one clear line for what cannot be survived, never the secret or the
token in the snapshot or the output; then end to end: pull, check, serve, and a webhook answer
carrying the id of the queue the rules name."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import genesys_org as org
from tests.conftest import Webhook, start_decision, start_facade
from tests.genesys_standin import MEMBERS, QUEUES, SKILLS, GenesysStandin


@pytest.fixture
def standin() -> Iterator[GenesysStandin]:
    with GenesysStandin() as running:
        yield running


def pull(standin: GenesysStandin, output: Path, *extra: str, secret: str | None = None):
    env = {
        "PATH": "/usr/bin:/bin",
        "GENESYS_CLIENT_ID": standin.client_id,
        "GENESYS_CLIENT_SECRET": standin.client_secret if secret is None else secret,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "genesys",
            "pull",
            "--output",
            str(output),
            "--api-url",
            standin.api_url,
            "--login-url",
            standin.login_url,
            "--rate",
            "0",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def assert_no_secret(standin: GenesysStandin, *texts: str) -> None:
    for text in texts:
        assert standin.client_secret not in text
        for token in standin.tokens:
            assert token not in text


def test_a_pull_follows_every_page_of_every_listing(standin, tmp_path):
    standin.cap_page_size(2)  # every listing in pages of two at most, whatever is asked
    output = tmp_path / "org.json"
    done = pull(standin, output)
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(output.read_text())
    assert {q["id"] for q in snapshot["queues"]} == {q["id"] for q in standin.org.queues}
    assert {s["id"] for s in snapshot["skills"]} == {s["id"] for s in standin.org.skills}
    assert {u["id"] for u in snapshot["users"]} == {u["id"] for u in standin.org.users}
    states = {u["id"]: u["state"] for u in snapshot["users"]}
    assert states[org.IVO_INACTIVE] == "inactive"  # asked for with state=any
    skills = {s["id"]: s["state"] for s in snapshot["skills"]}
    assert skills[org.SKILL_SPANISH_DELETED] == "deleted"
    members = {q["id"]: q["members"] for q in snapshot["queues"]}
    assert {"id": org.BO, "joined": False} in members[org.QUEUE_EN]
    assert len(standin.calls_to(QUEUES)) >= 2
    assert len(standin.calls_to(SKILLS)) >= 2
    assert len(standin.calls_to(MEMBERS.replace("{queueId}", org.QUEUE_EN))) >= 1
    groups = {g["id"]: g for g in snapshot["schedule_groups"]}
    assert groups[org.GROUP_SUPPORT_US]["holiday"] == [org.SCHEDULE_CHRISTMAS]
    assert snapshot["client_id"] == standin.client_id
    assert snapshot["pulled_at"].endswith("Z")
    assert f"queues: {len(snapshot['queues'])}," in done.stdout
    assert_no_secret(standin, output.read_text(), done.stdout, done.stderr)
    # One entity per line, sorted by name: a change of the org is a small diff.
    lines = output.read_text().splitlines()
    assert sum('"id": "' in line for line in lines) > 20


def test_a_429_is_waited_for_and_a_refused_token_renewed_once(standin, tmp_path):
    standin.throttle(times=2, every=3, retry_after=1)
    standin.inject(401, times=1, every=5)  # the token refused mid-pull (revoked, expired)
    done = pull(standin, tmp_path / "org.json")
    assert done.returncode == 0, done.stderr
    statuses = [call.status for call in standin.calls if call.host == "api"]
    assert statuses.count(429) == 2
    assert statuses.count(401) == 1
    assert len([c for c in standin.calls if c.host == "login"]) == 2  # renewed once
    assert_no_secret(standin, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("secret", "the client credentials were refused (401) for OAuth client loopback-client-id"),
        (
            "forbid",
            "/api/v2/scripts/published: permission missing (403): the OAuth client loopback-client-id needs scripter:publishedScript:view",
        ),
        ("daily", "Genesys asks to wait 600 s (429); more than 180 s is a daily limit: giving up"),
        ("unreachable", "cannot reach http://127.0.0.1:9: Connection refused"),
    ],
)
def test_what_cannot_be_survived_is_one_line_and_no_file(standin, tmp_path, fault, expected):
    output = tmp_path / "org.json"
    extra: tuple[str, ...] = ()
    secret = None
    if fault == "secret":
        secret = "wrong-secret-value"
    elif fault == "forbid":
        standin.forbid("/api/v2/scripts/published", "scripter:publishedScript:view")
    elif fault == "daily":
        standin.throttle(times=1, retry_after=600)
    else:
        extra = ("--api-url", "http://127.0.0.1:9", "--login-url", "http://127.0.0.1:9")
    done = pull(standin, output, *extra, secret=secret)
    assert done.returncode == 1
    assert done.stderr.startswith("genesys pull: ")
    assert expected in done.stderr
    assert done.stderr.count("\n") == 1  # one line
    assert not output.exists()
    assert "wrong-secret-value" not in done.stderr
    assert_no_secret(standin, done.stderr)


def test_no_secret_on_the_command_line_and_no_region_is_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "genesys",
            "pull",
            "--output",
            str(tmp_path / "o"),
            "--client-secret",
            "typed-secret-value",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --client-secret (values not shown)" in done.stderr
    assert "typed-secret-value" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "decision", "genesys", "pull", "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "GENESYS_CLIENT_ID": "x", "GENESYS_CLIENT_SECRET": "y"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("genesys pull: no region: set GENESYS_REGION")


def test_pull_check_serve_and_a_webhook_answer_with_the_named_queue(standin, tmp_path):
    snapshot = tmp_path / "org.json"
    assert pull(standin, snapshot).returncode == 0
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'version = 1\n[genesys]\nsnapshot = "org.json"\n'
        '[[rules]]\nname = "french"\nwhen = { attributes.lang = "fr" }\n'
        'then = { queue = "Callbacks FR", preferred_agents = ["ana@example.com"] }\n'
    )
    check = subprocess.run(
        [sys.executable, "-m", "decision", "check", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    ambiguous = tmp_path / "ambiguous.toml"
    ambiguous.write_text(rules.read_text().replace("Callbacks FR", "Callbacks EN"))
    refused = subprocess.run(
        [sys.executable, "-m", "decision", "check", str(ambiguous)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert "'Callbacks EN' names 2 queues in the org snapshot" in refused.stderr
    decision = start_decision(rules)
    try:
        facade = start_facade(f"127.0.0.1:{decision.port}", 2000)
        try:
            reply = Webhook(facade.port).post(
                {"phoneNumber": "07400123456", "countryCode": "+44", "lang": "fr"}
            )
        finally:
            facade.stop()
    finally:
        decision.stop()
    assert reply.status == 200
    assert reply.body["queueId"] == org.QUEUE_FR
    assert reply.body["routingData"]["preferredAgentIds"] == [org.ANA]


def test_a_token_about_to_expire_is_renewed_before_it_is_refused():
    """The token's `expires_in` is honoured: past it (less a margin) a new one is fetched before
    the next call, so the API never sees an expired token. Both clocks are moved by the test."""
    import asyncio

    from decision.genesys.api import Credentials, GenesysApi

    with GenesysStandin(expires_in=300) as standin:
        now = [0.0]

        async def scenario() -> None:
            api = GenesysApi(
                standin.api_url,
                standin.login_url,
                Credentials(standin.client_id, standin.client_secret),
                rate=0,
                clock=lambda: now[0],
            )
            try:
                await api.get("/api/v2/routing/queues")
                now[0] += 299  # our clock: past expires_in less the margin
                standin.advance(299)
                await api.get("/api/v2/routing/queues")
            finally:
                await api.close()

        asyncio.run(scenario())
        logins = [c for c in standin.calls if c.host == "login"]
        assert len(logins) == 2
        assert [c.status for c in standin.calls if c.host == "api"] == [200, 200]


def test_on_a_terminal_each_resource_has_a_progress_line(standin, tmp_path):
    import os

    standin.cap_page_size(2)
    leader, follower = os.openpty()
    env = {
        "PATH": "/usr/bin:/bin",
        "GENESYS_CLIENT_ID": standin.client_id,
        "GENESYS_CLIENT_SECRET": standin.client_secret,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "genesys",
            "pull",
            "--output",
            str(tmp_path / "o.json"),
            "--api-url",
            standin.api_url,
            "--login-url",
            standin.login_url,
            "--rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert done.returncode == 0
    lines = [line.split("\r")[-1].strip() for line in shown.decode().splitlines() if line.strip()]
    queues = len(standin.org.queues)
    assert f"queues: {queues} ({(queues + 1) // 2} pages)" in lines
    assert any(line.startswith("skills: ") for line in lines)
    assert any(line.startswith("queue members: ") for line in lines)


def test_an_org_too_large_for_the_service_is_not_written_and_the_last_snapshot_stays(
    standin, tmp_path, monkeypatch, capsys
):
    """`genesys pull` refuses, in one line, to write a snapshot the service could not read
    back (here with the service's bound lowered to 1 KiB, under the stand-in's org), and the
    snapshot already there is left as it was."""
    from decision.cli import main
    from decision.genesys import snapshot

    output = tmp_path / "org.json"
    output.write_text("the last snapshot")
    monkeypatch.setattr(snapshot, "MAX_SNAPSHOT_BYTES", 1024)
    monkeypatch.setenv("GENESYS_CLIENT_ID", standin.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", standin.client_secret)
    argv = ["genesys", "pull", "--output", str(output), "--rate", "0"]
    argv += ["--api-url", standin.api_url, "--login-url", standin.login_url]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"genesys pull: {output}: not written: the org's snapshot would be ")
    assert err.endswith("MiB, and the service reads at most 0 MiB\n")
    assert err.count("\n") == 1
    assert output.read_text() == "the last snapshot"
    assert [p.name for p in tmp_path.iterdir()] == ["org.json"]  # no staging file left
    assert_no_secret(standin, err)


def test_a_snapshot_of_more_objects_than_the_service_reads_is_not_written(tmp_path, monkeypatch):
    from decision.genesys import snapshot

    monkeypatch.setattr(snapshot, "MAX_SNAPSHOT_CONTAINERS", 3)
    queues = [{"id": f"q{n}", "name": f"Queue {n}"} for n in range(5)]
    document = {"format": snapshot.FORMAT, "version": snapshot.VERSION, "queues": queues}
    with pytest.raises(snapshot.SnapshotError, match=r"not written: .* objects and arrays"):
        snapshot.write_snapshot(document, tmp_path / "org.json")
    assert list(tmp_path.iterdir()) == []

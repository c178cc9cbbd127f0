"""The service keeps the org snapshot fresh itself (`--genesys-refresh`), never on a decision's
path: a pull writes the snapshot where the rules name it and the rules reload from it; a failed
pull keeps the last good snapshot live, logs one line per change of state and says so in its own
health; the snapshot's age is a gauge. Against the loopback stand-in of the Genesys API."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

from contract.client import BlockingDecisionClient
from contract.v1.decision_pb2 import DecideRequest
from decision.genesys.api import Credentials, GenesysApi
from decision.genesys.refresh import SNAPSHOT_AGE, SnapshotRefresher, watch_snapshot_age
from decision.genesys.snapshot import pull, write_snapshot
from decision.rules.live import LiveRules
from tests import genesys_org as org
from tests.conftest import start_decision
from tests.engine_helpers import answer
from tests.genesys_standin import GenesysStandin

RULES = (
    'version = 1\n[genesys]\nsnapshot = "org.json"\n'
    '[[rules]]\nname = "fr"\nwhen = { widget_id = "1" }\nthen = { queue = "Callbacks FR" }\n'
)


def api_of(standin: GenesysStandin) -> tuple[GenesysApi, str]:
    credentials = Credentials(standin.client_id, standin.client_secret)
    return GenesysApi(standin.api_url, standin.login_url, credentials, rate=0), "loopback"


def setup(standin: GenesysStandin, tmp_path: Path) -> Path:
    async def first() -> dict:
        api, region = api_of(standin)
        try:
            return await pull(api, region)
        finally:
            await api.close()

    write_snapshot(asyncio.run(first()), tmp_path / "org.json")
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    return rules


def test_a_refresh_writes_the_snapshot_and_the_rules_follow_the_org(tmp_path):
    with GenesysStandin() as standin:
        path = setup(standin, tmp_path)

        async def scenario() -> None:
            live = LiveRules(path, settle=0)
            assert answer(live.current, widget_id="1")["queueId"] == org.QUEUE_FR
            with standin.editing() as edited:  # the queue renamed in Genesys, another takes it
                for queue in edited.queues:
                    if queue["id"] == org.QUEUE_FR:
                        queue["name"] = "Callbacks FR (old)"
                    elif queue["id"] == org.QUEUE_EN_EUROPE:
                        queue["name"] = "Callbacks FR"
            refresher = SnapshotRefresher(live, 900, lambda: api_of(standin))
            assert await refresher.refresh() is True
            assert refresher.health.ok
            assert live.changed()
            assert await live.reload() is True
            assert answer(live.current, widget_id="1")["queueId"] == org.QUEUE_EN_EUROPE

        asyncio.run(scenario())


def test_a_failing_pull_keeps_the_last_snapshot_and_says_so_once(tmp_path, caplog):
    with GenesysStandin() as standin:
        path = setup(standin, tmp_path)
        before = (tmp_path / "org.json").read_text()

        async def scenario() -> None:
            live = LiveRules(path, settle=0)
            refresher = SnapshotRefresher(live, 900, lambda: api_of(standin))
            changes: list[bool] = []
            refresher.health.watch(changes.append)
            standin.forbid("/api/v2/routing/queues", "routing:queue:view")
            with caplog.at_level(logging.WARNING, logger="decision.genesys"):
                for _ in range(3):
                    assert await refresher.refresh() is False
            assert changes == [False]
            lines = [r for r in caplog.records if r.name == "decision.genesys"]
            assert len(lines) == 1
            assert "permission missing (403)" in lines[0].getMessage()
            assert (tmp_path / "org.json").read_text() == before
            assert answer(live.current, widget_id="1")["queueId"] == org.QUEUE_FR
            standin.clear_faults()
            assert await refresher.refresh() is True
            assert changes == [False, True]

        asyncio.run(scenario())


def test_the_snapshot_age_gauge_reads_the_live_rules(tmp_path):
    with GenesysStandin() as standin:
        path = setup(standin, tmp_path)
    live = LiveRules(path, settle=0)
    watch_snapshot_age(live)
    age = SNAPSHOT_AGE.collect()[0].samples[0].value
    assert 0 <= age < 600
    assert json.loads((tmp_path / "org.json").read_text())["pulled_at"]
    path.write_text(
        RULES.replace('[genesys]\nsnapshot = "org.json"\n', "").replace(
            '"Callbacks FR"', f'"{org.QUEUE_FR}"'
        )
    )
    asyncio.run(live.reload())
    assert math.isnan(SNAPSHOT_AGE.collect()[0].samples[0].value)


def test_pulls_go_to_the_service_s_own_file_and_are_read_once_it_exists(tmp_path):
    """In Kubernetes the rules and the committed snapshot are a read-only ConfigMap: the
    service starts from the committed one, keeps its pulls in a writable file
    (--genesys-snapshot) and reads that from its first pull on."""
    with GenesysStandin() as standin:
        path = setup(standin, tmp_path)
        (tmp_path / "org.json").chmod(0o444)
        own = tmp_path / "state" / "org.json"
        own.parent.mkdir()

        async def scenario() -> None:
            live = LiveRules(path, settle=0, fresher_snapshot=own)
            assert [t.path for t in live.current.inputs] == [str(tmp_path / "org.json")]
            with standin.editing() as edited:
                for queue in edited.queues:
                    if queue["id"] == org.QUEUE_FR:
                        queue["id"] = org.QUEUE_EN_EUROPE.replace("2c9d", "2c9e")
            refresher = SnapshotRefresher(live, 900, lambda: api_of(standin))
            assert await refresher.refresh() is True
            assert own.exists()
            assert live.changed()
            assert await live.reload() is True
            assert [t.path for t in live.current.inputs] == [str(own)]
            assert answer(live.current, widget_id="1")["queueId"].startswith("2c9e")

        asyncio.run(scenario())


def test_a_fresh_deployment_with_no_snapshot_yet_pulls_one_before_it_starts(tmp_path):
    """The rules name org.json, which is not there (nothing committed yet), and the service's
    own file does not exist either: it refused to start, so a new cluster could not start from
    --genesys-refresh alone (new-user F19/F23). Now it pulls first."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    own = tmp_path / "pulls" / "org.json"
    own.parent.mkdir()
    with GenesysStandin() as standin:
        service = start_decision(
            rules,
            "--genesys-refresh",
            "15m",
            "--genesys-snapshot",
            str(own),
            env=standin.env(),
        )
        try:
            assert own.exists()
            with BlockingDecisionClient(f"127.0.0.1:{service.port}") as client:
                reply = client.decide(DecideRequest(phone_number="0612345678", widget_id="1"))
            assert reply.patch.queue_id == org.QUEUE_FR
        finally:
            assert service.stop() == 0
        standin.forbid("/api/v2/routing/queues", "routing:queue:view")
        own.unlink()
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "decision",
                "serve",
                "--rules",
                str(rules),
                "--listen",
                "127.0.0.1:0",
                "--genesys-refresh",
                "15m",
                "--genesys-snapshot",
                str(own),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **standin.env()},
        )
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("decision: no org snapshot yet, and the first pull failed: "), last
    assert standin.client_secret not in refused.stderr
    assert not own.exists()

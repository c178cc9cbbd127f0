"""`make run` as a person uses it: up with a printed key and console, Ctrl-C at the terminal
(SIGINT to the whole foreground process group) stops both services, and everything exits 0."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import urllib.request

from facade.devstack import dev_keys
from tests.conftest import EXAMPLE_RULES


def test_ctrl_c_stops_both_services_and_exits_0(tmp_path):
    devstack = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facade",
            "devstack",
            "--port",
            "0",
            "--decision-port",
            "0",
            "--admin-port",
            "0",
            "--rules",
            str(EXAMPLE_RULES),
            "--contacts",
            str(tmp_path / "contacts.sqlite3"),
            "--metrics-port",
            "0",
            "--keys-file",
            str(tmp_path / "dev-keys.json"),
            "--decision-log",
            str(tmp_path / "decisions.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # a terminal's foreground group, as make run has
    )
    try:
        lines = []
        for line in devstack.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops both"):
                break
        banner = "".join(lines)
        assert "API key:   dev-" in banner
        assert re.search(r"console:   http://127\.0\.0\.1:[1-9]\d*/ ", banner)
        # The keys it printed are the kept ones, which the next run prints again.
        kept = json.loads((tmp_path / "dev-keys.json").read_text())
        assert f"API key:   {kept['api_key']}\n" in banner
        assert f"(admin key: {kept['admin_key']})" in banner
        # The decision service's metrics, at the address it printed.
        metrics = re.search(r"metrics:   (http://127\.0\.0\.1:[1-9]\d*/metrics) ", banner)
        assert metrics, banner
        with urllib.request.urlopen(metrics[1], timeout=10) as reply:
            assert b"decision_decide_seconds" in reply.read()
        assert ".venv/bin/callback-decision explain " in banner
        # Every decision logged, for replay, and the facade on the facades' own listener.
        assert f"decisions: {tmp_path / 'decisions.jsonl'} (replay: " in banner
        assert (tmp_path / "decisions.jsonl").exists()
        os.killpg(devstack.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        rest = devstack.stdout.read()
        assert devstack.wait(timeout=30) == 0, rest
        assert "stopped (facade exit 0, decision exit 0)" in rest
    finally:
        if devstack.poll() is None:  # a failed assertion: stop it the way that stops its
            os.killpg(devstack.pid, signal.SIGINT)  # children too, and only then insist
            try:
                devstack.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(devstack.pid, signal.SIGKILL)
                devstack.wait()
        devstack.stdout.close()


def test_dev_keys_are_made_once_kept_owner_only_and_reused(tmp_path):
    path = tmp_path / ".run" / "dev-keys.json"
    api_key, admin_key, said = dev_keys(path)
    assert api_key.startswith("dev-")
    assert admin_key.startswith("admin-")
    assert said == f"new, kept in {path} for the next run"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_keys(path) == (api_key, admin_key, f"kept in {path}")


def test_a_damaged_keys_file_is_replaced_with_new_keys(tmp_path, capsys):
    path = tmp_path / "dev-keys.json"
    path.write_text("not json")
    api_key, _, said = dev_keys(path)
    assert said.startswith("new, kept in")
    assert json.loads(path.read_text())["api_key"] == api_key
    assert "not dev keys as make run writes them" in capsys.readouterr().err

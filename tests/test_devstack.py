"""`make run` as a person uses it: up with a printed key and console, Ctrl-C at the terminal
(SIGINT to the whole foreground process group) stops both services, and everything exits 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

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

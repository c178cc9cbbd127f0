"""The command lines as a new user meets them: one spelling that works from a fresh clone (the
console scripts in .venv/bin), one line instead of a traceback when run with a Python that lacks
the dependencies or piped into `head`, and a replay gate that fails on a log with no decision."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "examples" / "rules.toml")
CASES = str(ROOT / "examples" / "cases.toml")
VENV_BIN = Path(sys.executable).parent


def test_the_readme_spells_every_command_as_installed():
    readme = (ROOT / "README.md").read_text()
    # Only the installed console scripts (or the venv's python for the test stand-in).
    bare = re.findall(r"(?<![/\w.])python3? -m (?:decision|facade)\b", readme)
    assert bare == ["python -m decision"]  # the one sentence that says why not
    assert ".venv/bin/python -m decision" not in readme
    assert ".venv/bin/callback-decision check examples/rules.toml" in readme
    scripts = (ROOT / "pyproject.toml").read_text()
    assert 'callback-decision = "decision.cli:main"' in scripts
    assert 'callback-facade = "facade.cli:main"' in scripts


@pytest.mark.parametrize(
    ("script", "usage"),
    [
        ("callback-decision", "usage: callback-decision"),
        ("callback-facade", "usage: callback-facade"),
    ],
)
def test_the_console_scripts_run_and_name_themselves(script, usage):
    result = subprocess.run(
        [str(VENV_BIN / script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage)


@pytest.mark.parametrize(
    ("module", "script", "args"),
    [
        ("decision", "callback-decision", ("check", RULES)),
        ("facade", "callback-facade", ("openapi",)),
    ],
)
def test_a_python_without_the_dependencies_gets_one_line(module, script, args):
    # -S: no site-packages, as the system's python3 in the clone (the repo on the path, the
    # dependencies not).
    result = subprocess.run(
        [sys.executable, "-S", "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{script}: this Python ({sys.executable}) lacks the project's ")
    assert line.endswith(f"run `make venv` in the clone, then .venv/bin/{script} ...")


@pytest.mark.parametrize(
    "args",
    [
        ("test", RULES, CASES),
        ("explain", RULES, "--phone", "07400123456", "--country-code", "+44"),
    ],
    ids=["test", "explain"],
)
def test_output_into_a_reader_that_leaves_ends_quietly(args):
    # The reader is gone before the command writes (as `| head -1` after its line): no traceback.
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()
    command = subprocess.run(
        [str(VENV_BIN / "callback-decision"), *args],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    reader.stdin.close()
    assert command.stderr == ""
    assert command.returncode == 1


@pytest.mark.parametrize("content", ["", "garbage\n"], ids=["empty", "unreadable"])
def test_replay_fail_on_change_fails_on_a_log_with_no_decision(tmp_path, content):
    log = tmp_path / "decisions.jsonl"
    log.write_text(content)
    result = subprocess.run(
        [
            str(VENV_BIN / "callback-decision"),
            "replay",
            str(log),
            "--rules",
            RULES,
            "--fail-on-change",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        f"{log}: --fail-on-change: no decision in the log, so nothing was checked"
    )


def test_install_says_what_is_wrong_with_the_place_named_not_its_staging_file(tmp_path):
    (tmp_path / "live").mkdir()
    missing = tmp_path / "nowhere" / "rules.toml"
    for live, expected in [
        (tmp_path / "live", f"{tmp_path / 'live'}: not changed: a directory, not a rules file"),
        (missing, f"{missing}: not changed: no such directory {tmp_path / 'nowhere'}"),
    ]:
        result = subprocess.run(
            [str(VENV_BIN / "callback-decision"), "install", RULES, str(live)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert result.stderr.splitlines() == [expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]  # nothing left behind


def test_explain_takes_a_queue_by_the_name_the_rules_know():
    def explain(queue: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(VENV_BIN / "callback-decision"),
                *("explain", RULES, "--phone", "07400123456", "--country-code", "+44"),
                *("--queue", queue),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    named = explain("support-uk")
    assert named.returncode == 0, named.stderr
    assert "note: queue 'support-uk' is 5a9d0c4e-1b2f-4c3d-8e5f-000000000001" in named.stdout
    unknown = explain("Sales")
    assert unknown.returncode == 2
    assert (
        unknown.stderr == "explain: queue_id: unknown queue name 'Sales' (not in [names.queues])\n"
    )

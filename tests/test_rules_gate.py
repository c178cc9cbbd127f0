"""`decision gate`: check, test --threshold and replay --fail-on-change of a candidate rules
file against a decision log written by the real servicer, as a CI job runs it; one report,
exit 1 when any step fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_RULES
from tests.test_replay_masked import masked_log

CASES = EXAMPLE_RULES.parent / "cases.toml"


def gate(rules: Path, log: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "decision", "gate", str(rules)),
            *("--cases", str(CASES), "--log", str(log), *extra),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sections(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("## ")]


def test_unchanged_rules_pass_every_step(tmp_path):
    done = gate(EXAMPLE_RULES, masked_log(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s.split(":")[0] for s in sections(done.stdout)] == ["## PASS"] * 3
    assert done.stdout.splitlines()[-1] == "gate: PASS"
    assert "--fail-on-change" in done.stdout  # the report says what ran


def test_a_change_that_moves_callers_fails_cases_and_replay_in_one_report(tmp_path):
    log = masked_log(tmp_path)
    candidate = tmp_path / "rules.toml"
    text = EXAMPLE_RULES.read_text()
    changed = text.replace('then = { queue = "support-uk",', 'then = { queue = "support-us",')
    assert changed != text
    candidate.write_text(changed)
    done = gate(candidate, log)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "gate: FAIL (test, replay)"
    assert [s.split(":")[0] for s in sections(done.stdout)] == ["## PASS", "## FAIL", "## FAIL"]


def test_rules_the_cases_do_not_cover_fail_the_threshold(tmp_path):
    candidate = tmp_path / "rules.toml"
    candidate.write_text(
        EXAMPLE_RULES.read_text()
        + '\n[[rules]]\nname = "never-tested"\nwhen = { region = ["FR"] }\nthen = { priority = 3 }\n'
    )
    done = gate(candidate, masked_log(tmp_path), "--threshold", "100")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "gate: FAIL (test)"
    assert "never-tested" in done.stdout


def test_a_file_that_does_not_compile_fails_every_step_and_says_why(tmp_path):
    candidate = tmp_path / "rules.toml"
    candidate.write_text("version = 1\n[[rules]]\nname = 'broken'\n")
    done = gate(candidate, masked_log(tmp_path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "gate: FAIL (check, test, replay)"
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_log_is_one_line(tmp_path):
    done = gate(EXAMPLE_RULES, tmp_path / "none.jsonl")
    assert done.returncode == 2
    assert done.stderr.strip() == f"gate: {tmp_path / 'none.jsonl'}: no such decision log file"

"""`python -m decision check | test | explain`, run as a team would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from decision.rules.cases import CaseResult
from decision.rules.coverage import format_coverage, rule_coverage
from decision.rules.live import read_rules

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "decision", *args], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_the_example_with_its_warning():
    result = run("check", str(EXAMPLES / "rules.toml"))
    assert result.returncode == 0
    assert "ok, 3 rules, version" in result.stdout
    warnings = [line for line in result.stdout.splitlines() if "warning" in line]
    assert warnings == [
        f"{EXAMPLES / 'rules.toml'}: warning: rules 'known-vip' and 'us-after-hours' may decide "
        "one callback together (continue = true): rule 'known-vip' sets preferred agents, "
        "rule 'us-after-hours' schedules it; Genesys does not apply preferred-agent routing to "
        "scheduled callbacks"
    ]


def test_check_refuses_a_bad_file_with_every_problem(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text(
        'version = 1\n[[rules]]\nname = "eu"\nwhen = { region = "EU" }\n'
        'then = { data = { visitorId = "me" } }\n'
    )
    result = run("check", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}: rule 'eu': when.region: unknown region 'EU' (ISO 3166 codes like GB, US)",
        f"{bad}: rule 'eu': then.data.visitorId: belongs to TrueEngage and must never be set",
    ]


def test_example_cases_pass_with_full_coverage():
    result = run(
        "test",
        str(EXAMPLES / "rules.toml"),
        str(EXAMPLES / "cases.toml"),
        "--coverage",
        "--threshold",
        "100",
    )
    assert result.returncode == 0, result.stdout
    assert "5 passed, 0 failed" in result.stdout
    assert "coverage: 100.0% of rules matched by some case" in result.stdout


def test_failing_case_and_low_coverage_fail(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[cases]]\nname = "wrong queue"\nat = 2026-11-24T10:00:00Z\n'
        'request = { phoneNumber = "07400123456", countryCode = "+44" }\n'
        'expect.patch.queueId = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"\n'
    )
    result = run("test", str(EXAMPLES / "rules.toml"), str(cases), "--threshold", "50")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "FAIL: wrong queue"
    assert lines[1].strip() == (
        "patch.queueId: expected '5a9d0c4e-1b2f-4c3d-8e5f-000000000002', "
        "got '5a9d0c4e-1b2f-4c3d-8e5f-000000000001'"
    )
    assert "0 passed, 1 failed" in lines
    assert "    never matched: known-vip" in lines
    assert "coverage below the threshold of 50.0%" in lines


def test_explain_shows_facts_every_rule_and_the_patch():
    result = run(
        "explain",
        str(EXAMPLES / "rules.toml"),
        "--phone",
        "2025550123",
        "--country-code",
        "+1",
        "--at",
        "2026-11-24T23:00:00Z",
    )
    assert result.returncode == 0
    out = result.stdout
    assert "  e164          +12025550123" in out
    assert "  time zone     America/New_York (number)" in out
    assert "  local time    2026-11-24T18:00:00-05:00" in out
    assert "  known-vip       not matched: contact.tier failed" in out
    assert "  uk-mobile       not matched: region failed" in out
    assert "  us-after-hours  MATCHED" in out
    assert '"callbackScheduledTime": "2026-11-25T14:00:00Z"' in out


def test_explain_with_a_pretend_contact():
    result = run(
        "explain",
        str(EXAMPLES / "rules.toml"),
        "--phone",
        "07400123456",
        "--country-code",
        "+44",
        "--contact",
        "tier=vip",
        "--contact",
        "name=Ada",
        "--contact",
        "preferred_agents=alice",
    )
    assert "  known-vip       MATCHED" in result.stdout
    assert '"callbackUserName": "Ada"' in result.stdout


def test_coverage_is_computed_from_case_results_alone():
    rules = read_rules(EXAMPLES / "rules.toml")
    results = [
        CaseResult("vip", (), ("known-vip", "uk-mobile")),
        CaseResult("failing cases count too", ("patch.queueId: ...",), ("known-vip",)),
    ]
    coverage = rule_coverage(rules, results)
    assert coverage.never_matched == ["us-after-hours"]
    assert format_coverage(coverage).splitlines() == [
        "coverage: 66.7% of rules matched by some case",
        "    never matched: us-after-hours",
    ]


def test_every_mismatch_of_a_case_is_reported(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[cases]]\nname = "three things wrong"\nat = 2026-11-24T10:00:00Z\n'
        'request = { phoneNumber = "07400123456", countryCode = "+44" }\n'
        'expect.rules = ["known-vip"]\n'
        'expect.patch = { priority = 10, routingData = { queueId = "x" } }\n'
        'expect.absent = ["queueId"]\n'
    )
    result = run("test", str(EXAMPLES / "rules.toml"), str(cases))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "FAIL: three things wrong",
        "    rules: expected ['known-vip'], got ['uk-mobile']",
        "    patch.priority: expected 10, absent",
        "    patch.routingData.queueId: expected 'x', got '5a9d0c4e-1b2f-4c3d-8e5f-000000000001'",
        "    patch.queueId: expected absent, got '5a9d0c4e-1b2f-4c3d-8e5f-000000000001'",
        "0 passed, 1 failed",
    ]


def test_a_malformed_case_is_refused_by_name_and_nothing_runs(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[cases]]\nname = "typo"\nreqest = { phoneNumber = "07400123456" }\n'
        'expect.rules = ["uk-mobile"]\n'
        '[[cases]]\nname = "checks nothing"\nrequest = { phoneNumber = "07400123456" }\n'
        '[[cases]]\nrequest = { phoneNumber = "07400123456" }\nexpect = { rule = [] }\n'
    )
    for command in (
        ("test", str(EXAMPLES / "rules.toml"), str(cases)),
        (
            "install",
            str(EXAMPLES / "rules.toml"),
            str(tmp_path / "live.toml"),
            "--cases",
            str(cases),
        ),
    ):
        result = run(*command)
        assert result.returncode == 1
        assert "PASS" not in result.stdout
        assert f"{cases}: case 'typo': unknown key 'reqest'" in result.stderr
        assert f"{cases}: case 'typo': no request" in result.stderr
        assert f"{cases}: case 'checks nothing': no expect" in result.stderr
        assert f"{cases}: case #3: no expect" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "live.toml").exists()

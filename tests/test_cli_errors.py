"""Both command lines under bad input: one clear line on stderr and a non-zero exit, never a
traceback, and nothing created by a command that only reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RULES = str(EXAMPLES / "rules.toml")


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error line, after checking it is the only thing wrong on stderr."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    # serve logs its rules as JSON lines before it fails; the error is the one plain line.
    plain = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    return plain[-1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("explain", RULES, "--phone", "07400123456", "--at", "tomorrow"),
            "argument --at: 'tomorrow' is not an ISO 8601 moment such as 2026-11-24T18:00:00Z",
        ),
        (
            ("explain", RULES, "--phone", "07400123456", "--at", "0001-01-01T00:00:00Z"),
            "argument --at: '0001-01-01T00:00:00Z' is outside years 2 to 9998",
        ),
        (("explain", RULES, "--phone", "1", "--attribute", "vip"), "'vip' is not NAME=VALUE"),
        (("explain", RULES, "--phone", "1", "--contact", "vip"), "'vip' is not NAME=VALUE"),
        (("test", RULES, "{missing}"), "{missing}: cannot read: No such file or directory"),
        (("test", RULES, "{dir}"), "{dir}: cannot read: Is a directory"),
        (("test", RULES, "{not_toml}"), "{not_toml}: not valid TOML: "),
        (
            ("replay", "{missing}", "--rules", RULES),
            "{missing}: cannot read the decision log: No such file or directory",
        ),
        (
            ("replay", "{dir}", "--rules", RULES),
            "{dir}: cannot read the decision log: Is a directory",
        ),
        (("check", "{dir}"), "{dir}: cannot read: [Errno 21] Is a directory"),
        (
            ("explain", RULES, "--phone", "1", "--contacts", "{missing}"),
            "{missing}: no contact directory there (no such file)",
        ),
        (
            ("contacts", "export", "--contacts", "{missing}"),
            "{missing}: no contact directory there (no such file)",
        ),
        (("contacts", "export", "--contacts", "{dir}"), "{dir}: not a contact directory"),
        (("contacts", "import", "--contacts", "{db}", "{latin1}"), "{latin1}: not UTF-8 text"),
        (
            ("contacts", "import", "--contacts", "{db}", "{huge}"),
            "{huge}: not a readable CSV file (field larger than field limit (131072))",
        ),
        (("check", "{deep}"), "{deep}: not valid TOML: nested too deeply"),
    ],
)
def test_decision_commands_fail_in_one_line(tmp_path, args, expected):
    paths = {
        "missing": tmp_path / "missing",
        "dir": tmp_path,
        "not_toml": tmp_path / "bad.toml",
        "db": tmp_path / "contacts.sqlite3",
        "latin1": tmp_path / "latin1.csv",
        "huge": tmp_path / "huge.csv",
        "deep": tmp_path / "deep.toml",
    }
    paths["not_toml"].write_text("x = [")
    paths["latin1"].write_bytes("number,name\n07400 111111,Zoë\n".encode("latin-1"))
    paths["huge"].write_text("number,name\n07400 111111," + "x" * 200_000 + "\n")
    paths["deep"].write_text("version = 1\nx = " + "[" * 50_000 + "]" * 50_000 + "\n")
    result = run("decision", *(arg.format(**paths) for arg in args))
    assert expected.format(**paths) in last_line(result)
    assert not paths["missing"].exists()  # a read never creates what it did not find


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--decision-log", "{missing}/log.jsonl"), "cannot open the decision log {missing}"),
        (("--tls-cert", "{missing}", "--tls-key", "{missing}"), "cannot read {missing}"),
        (("--metrics-listen", "nowhere"), "--metrics-listen: 'nowhere' is not host:port"),
        (("--metrics-listen", "127.0.0.1:99999"), "--metrics-listen: '127.0.0.1:99999' is not"),
        (("--facade-listen", "127.0.0.1:99999"), "--facade-listen: '127.0.0.1:99999' is not"),
        (("--facade-max-connections", "0"), "--facade-max-connections must be at least 1"),
        (("--max-concurrent-calls", "0"), "--max-concurrent-calls and --call-backlog must be"),
        (("--watch-interval", "0"), "--watch-interval must be at least 0.01"),
        (("--contacts-timeout-ms", "0"), "--contacts-timeout-ms must be at least 1"),
        (("--decision-log-buffer", "-1"), "--decision-log-buffer must be at least 1"),
    ],
)
def test_decision_serve_fails_in_one_line(tmp_path, args, expected):
    missing = tmp_path / "missing"
    serve = ("serve", "--listen", "127.0.0.1:0", "--rules", RULES)
    result = run("decision", *serve, *(arg.format(missing=missing) for arg in args))
    assert last_line(result).startswith("decision: " + expected.format(missing=missing))


def test_facade_openapi_to_an_unwritable_path_fails_in_one_line(tmp_path):
    result = run("facade", "openapi", "--output", str(tmp_path))
    assert last_line(result) == f"facade: cannot write {tmp_path}: Is a directory"


def test_facade_serve_names_a_missing_tls_file(tmp_path):
    missing = tmp_path / "cert.pem"
    result = run(
        "facade", "serve", "--listen", "127.0.0.1:0", "--api-keys", "k" * 16,
        "--tls-cert", str(missing), "--tls-key", str(missing),
    )  # fmt: skip
    assert (
        last_line(result) == f"facade: cannot read --tls-cert {missing}: No such file or directory"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--listen", "127.0.0.1:99999"), "--listen: '127.0.0.1:99999' is not host:port"),
        (("--allow-cidrs", "10.0.0.0/33"), "--allow-cidrs: '10.0.0.0/33' is not an address"),
        (("--trusted-proxies", "garbage"), "--trusted-proxies: 'garbage' is not an address"),
        (("--max-body", "0"), "--max-body must be at least 1"),
        (("--max-in-flight", "0"), "--max-in-flight must be at least 1"),
        (("--body-timeout", "-1"), "--body-timeout must be at least 0.001"),
        (("--deadline-ms", "10000000000000"), "--deadline-ms must be from 1 to 60000"),
        (("--schedule-horizon-days", "99999999999"), "--schedule-horizon-days must be from 0"),
        (("--idle-timeout", "nan"), "--idle-timeout: expected float, got 'nan'"),
        (("--tls-cert", "{text}", "--tls-key", "{text}"), "--tls-cert/--tls-key: not a usable"),
        (("--api-keys-file", "{binary}"), "cannot read the API keys file: not UTF-8 text"),
    ],
)
def test_facade_serve_says_what_is_wrong_before_it_serves(tmp_path, args, expected):
    """Never "serving on" and then a crash: a supervisor that saw the line relies on it."""
    files = {"text": tmp_path / "not.pem", "binary": tmp_path / "keys"}
    files["text"].write_text("not a certificate")
    files["binary"].write_bytes(b"\xff\xfe\x00" * 10)
    serve = ("serve", "--listen", "127.0.0.1:0", "--api-keys", "k" * 16)
    # --listen given twice (argparse keeps the last one) tests the port check.
    result = run("facade", *serve, *(arg.format(**files) for arg in args))
    assert "serving on" not in result.stdout
    assert last_line(result).startswith("facade: " + expected)

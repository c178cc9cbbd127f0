"""`decision replay` over a log full of lines that are not decisions (a wrong file, a log
corrupted by a full disk): they are counted and the first few shown, in bounded memory, not
kept and printed one by one (5M bad lines held 1.9 GB and printed 5M lines)."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

from decision.rules.live import read_rules
from decision.rules.replay import UNREADABLE_EXAMPLES, replay
from tests.conftest import EXAMPLE_RULES

BAD_LINES = 50_000  # kept whole, their problems would take over 5 MB


def test_unreadable_lines_are_counted_in_bounded_memory(tmp_path):
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(f"not a decision {i}\n" for i in range(BAD_LINES)) + '{"at": 1}\n')
    rules = read_rules(EXAMPLE_RULES)
    tracemalloc.start()
    try:
        report = replay(log, rules)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.unreadable == BAD_LINES + 1
    assert len(report.unreadable_examples) == UNREADABLE_EXAMPLES
    assert report.unreadable_examples[0].startswith(f"{log}:1: ")
    # Kept, the problems alone took over 5 MB; counted, the peak is the file's buffers.
    assert peak < 2 * 1024 * 1024, peak


def test_the_report_shows_the_count_and_the_first_few(tmp_path):
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(f"not a decision {i}\n" for i in range(1000)))
    result = subprocess.run(
        [sys.executable, "-m", "decision", "replay", str(log), "--rules", str(EXAMPLE_RULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 12, result.stdout
    assert "  unreadable: 1000 lines (not a logged decision); the first 5:" in lines
    assert f"    {log}:1: Expecting value: line 1 column 1 (char 0)" in lines
    assert f"    {log}:5: Expecting value: line 1 column 1 (char 0)" in lines
    assert not any(f"{log}:6:" in line for line in lines)


def test_an_entry_missing_a_field_says_which_not_a_python_error(tmp_path):
    """It said `'request'` (a KeyError's text)."""
    log = tmp_path / "decisions.jsonl"
    log.write_text('{"decision_id": "d"}\n')
    report = replay(log, read_rules(EXAMPLE_RULES))
    assert report.unreadable_examples == [f"{log}:1: no 'request' field"]

"""Files the rules tooling reads that someone else may have put in place: a `decision test`
cases file and a `decision replay` log. A FIFO, /dev/zero or one endless line was read without
bound (4-6 GB in 8 s) or forever; now each is one clear line, in bounded memory."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime

import pytest

from bench.directory import contacts_csv
from contract.v1 import decision_pb2
from decision.decision_log import writer
from decision.decision_log.entry import MAX_ENTRY_BYTES
from decision.directory.csv_format import MAX_LINE, ContactsCsvError, read_contacts
from decision.engine import CONTACT, Contact, OutsideFacts
from decision.rules import cases
from decision.rules.cases import CasesError, read_cases
from decision.rules.live import read_rules
from decision.rules.replay import replay
from tests.conftest import EXAMPLE_RULES

CASES = EXAMPLE_RULES.parent / "cases.toml"


def test_a_cases_file_that_is_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "cases.toml"
    os.mkfifo(fifo)  # no writer: opening it to read would wait forever
    for path in (fifo, "/dev/zero"):
        with pytest.raises(CasesError, match=f"^{path}: cannot read: not a regular file$"):
            read_cases(path)


def test_a_cases_file_past_the_size_bound_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "cases.toml"
    path.write_text(CASES.read_text())
    assert read_cases(path)
    monkeypatch.setattr(cases, "MAX_CASES_BYTES", path.stat().st_size - 1)
    with pytest.raises(CasesError, match="larger than the supported size"):
        read_cases(path)


def entry_line() -> bytes:
    return (
        b'{"decision_id":"d1","at":"2026-01-01T10:00:00+00:00","request":{"phone_number":'
        b'"+447400123456","country_code":"+44"},"facts":{},"matched_rules":["uk-mobile"],'
        b'"patch":{}}\n'
    )


def test_replay_refuses_a_line_longer_than_any_entry_reading_no_more_of_it(tmp_path):
    log = tmp_path / "decisions.jsonl"
    with log.open("wb") as out:
        out.write(b"\0" * (8 * MAX_ENTRY_BYTES))  # what a crash can leave: NULs, no newline
        out.write(b"\n" + entry_line())
    rules = read_rules(EXAMPLE_RULES)
    tracemalloc.start()
    try:
        report = replay(log, rules)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.unreadable, report.total) == (1, 1)
    assert report.unreadable_examples == [
        f"{log}:1: longer than 1024 KiB, the largest entry the decision log holds"
    ]
    assert peak < 3 * MAX_ENTRY_BYTES, peak  # the line whole was 8 (and held twice)


def test_replay_of_a_device_is_one_line_and_a_pipe_is_read():
    done = subprocess.run(
        [sys.executable, "-m", "decision", "replay", "/dev/zero", "--rules", str(EXAMPLE_RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == "/dev/zero: cannot read the decision log: not a file or a pipe\n"
    read, write = os.pipe()
    os.write(write, entry_line())
    os.close(write)
    try:
        report = replay(f"/dev/fd/{read}", read_rules(EXAMPLE_RULES))
    finally:
        os.close(read)
    assert (report.total, report.unreadable) == (1, 0)


def test_the_log_writes_no_entry_longer_than_replay_reads(tmp_path):
    """Such an entry is counted as lost, never written for replay to refuse."""
    path = tmp_path / "decisions.jsonl"
    decision_log = writer.DecisionLog(str(path), full_numbers=True)
    big = Contact(name="Ada", attributes={"notes": "x" * MAX_ENTRY_BYTES})
    before = writer.LOG_DROPPED._value.get()
    for contact in (big, Contact(name="Bo")):
        decision_log.record(
            decision_pb2.DecideRequest(phone_number="+447400123456"),
            decision_pb2.DecideResponse(decision_id=contact.name),
            datetime.now(UTC),
            OutsideFacts({CONTACT: contact}),
            0.1,
        )
    decision_log.close()
    lines = path.read_bytes().splitlines()
    assert [b'"decision_id":"Bo"' in line for line in lines] == [True]
    assert writer.LOG_DROPPED._value.get() == before + 1


def test_contacts_import_refuses_a_line_past_the_bound_reading_no_more_of_it():
    """N4: one 1.5 GB line took 2.98 GB before the csv module refused its field."""
    stream = io.StringIO("number,name\n07400 111111," + "x" * (8 * MAX_LINE) + "\n07400 2,B\n")
    tracemalloc.start()
    try:
        with pytest.raises(ContactsCsvError) as refused:
            read_contacts(stream, "contacts.csv", "GB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.problems == [
        f"2: a line over {MAX_LINE:,} characters; is this a CSV file?"
    ]
    assert peak < 3 * MAX_LINE * 4, peak  # a str of MAX_LINE is up to 4 bytes a character
    assert len(read_contacts(io.StringIO("number\n07400 111111\n"), "c.csv", "GB")) == 1


def test_contacts_import_holds_each_repeated_value_once():
    """N7: a million contacts took 1.6 GB to import (the CronJob has 1 GiB): tiers, languages
    and lists repeat from row to row and are now held once, and the cells are let go of as the
    records are made."""
    stream = io.StringIO(contacts_csv(20_000))
    tracemalloc.start()
    try:
        records = read_contacts(stream, "contacts.csv", "GB")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(records) == 20_000
    assert records[1].contact.skills is records[2].contact.skills
    assert held / len(records) < 700, held / len(records)  # before: 970 bytes a contact


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "number," + ",".join(f"c{n}" for n in range(129)) + "\n07400 111111\n",
            "1: 129 attribute columns; at most 128 are read",
        ),
        ("number," + "c" * 65 + "\n07400 111111,x\n", "1: column 'cccccccccccccccccccc'..."),
        ("number,name\n07400 111111," + "x" * 1025 + "\n", "2: name: longer than 1,024"),
    ],
)
def test_a_contact_is_bounded_in_columns_and_cell_lengths(text, problem):
    """Adversary round 4, F3: 100 contacts of 100,000 columns each took the import past 1 GB
    and then every replica that looked them up."""
    with pytest.raises(ContactsCsvError) as refused:
        read_contacts(io.StringIO(text), "contacts.csv", "GB")
    assert refused.value.problems[0].startswith(problem)

"""The contact directory: importing 100,000 contacts and looking one up, each next to the
bare-SQLite floor it is built on."""

from __future__ import annotations

import csv
import io
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from decision.contacts_csv import read_contacts
from decision.directory import SqliteDirectory

HEADER = "number,country,name,tier,language,preferred_agents,skills,segment\n"


def contacts_csv(count: int) -> str:
    rows = (
        f"07400 {i:06d},GB,Person {i},{'vip' if i % 10 == 0 else 'standard'},english,"
        f"alice,premium;english,s{i % 7}\n"
        for i in range(count)
    )
    return HEADER + "".join(rows)


def _import(text: str, path: Path) -> float:
    started = time.perf_counter()
    records = read_contacts(io.StringIO(text), "bench.csv")
    directory = SqliteDirectory(path)
    directory.write(records, replace=True)
    directory.close()
    return time.perf_counter() - started


def _bare_import(text: str, path: Path) -> float:
    """The floor: csv module into one SQLite table, no parsing of numbers."""
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE c (number TEXT PRIMARY KEY, name, tier, language, agents, skills)")
    rows = ((r[0], r[2], r[3], r[4], r[5], r[6]) for r in csv.reader(io.StringIO(text)))
    next(rows)
    with db:
        db.executemany("INSERT INTO c VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.close()
    return time.perf_counter() - started


def _lookups(lookup, numbers: list[str]) -> list[float]:
    samples = []
    for number in numbers:
        started = time.perf_counter_ns()
        lookup(number)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return sorted(samples)


def directory_scenarios(count: int = 100_000) -> dict[str, dict[str, float]]:
    text = contacts_csv(count)
    with tempfile.TemporaryDirectory() as folder:
        bare = _bare_import(text, Path(folder) / "bare.sqlite3")
        ours = _import(text, Path(folder) / "directory.sqlite3")
        directory = SqliteDirectory(Path(folder) / "directory.sqlite3")
        bare_db = sqlite3.connect(Path(folder) / "bare.sqlite3")
        numbers = [f"+447400{random.randrange(count):06d}" for _ in range(20_000)]
        floor = _lookups(
            lambda n: bare_db.execute("SELECT * FROM c WHERE number = ?", (n,)).fetchone(), numbers
        )
        cold = _lookups(directory.lookup, numbers)
        warm = _lookups(directory.lookup, numbers)
        directory.close()
        bare_db.close()
    median = statistics.median
    return {
        f"directory import, {count:,} contacts": {
            "seconds": round(ours, 2),
            "ratio": round(ours / bare, 2),
        },
        f"baseline: bare csv -> sqlite, {count:,} rows": {"seconds": round(bare, 2)},
        "directory lookup, first time (SQLite)": {
            "median_us": round(median(cold), 2),
            "p99_us": round(cold[int(len(cold) * 0.99)], 2),
            "ratio": round(median(cold) / median(floor), 2),
        },
        "directory lookup, cached": {
            "median_us": round(median(warm), 2),
            "p99_us": round(warm[int(len(warm) * 0.99)], 2),
            "ratio": round(median(warm) / median(floor), 2),
        },
        "baseline: bare sqlite3 primary-key select": {
            "median_us": round(median(floor), 2),
            "p99_us": round(floor[int(len(floor) * 0.99)], 2),
        },
    }

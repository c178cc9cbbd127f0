"""The contact directory: importing 100,000 contacts and looking one up the way the Decide path
does (awaited on the event loop), each next to the bare-SQLite floor it is built on."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from decision.directory import open_directory
from decision.directory.csv_format import read_contacts

HEADER = "number,country,name,tier,language,preferred_agents,skills,segment\n"


def contacts_csv(count: int) -> str:
    rows = (
        f"07400 {i:06d},GB,Person {i},{'vip' if i % 10 == 0 else 'standard'},english,"
        f"alice,premium;english,s{i % 7}\n"
        for i in range(count)
    )
    return HEADER + "".join(rows)


async def _import(text: str, path: Path) -> float:
    started = time.perf_counter()
    records = read_contacts(io.StringIO(text), "bench.csv")
    async with await open_directory(str(path)) as directory:
        await directory.write(records, replace=True)
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


def _lookups(lookup: Callable[[str], object], numbers: list[str]) -> list[float]:
    samples = []
    for number in numbers:
        started = time.perf_counter_ns()
        lookup(number)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return sorted(samples)


async def _awaited_lookups(
    lookup: Callable[[str], Awaitable[object]], numbers: list[str]
) -> list[float]:
    samples = []
    for number in numbers:
        started = time.perf_counter_ns()
        await lookup(number)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return sorted(samples)


async def _measure(
    text: str, count: int, folder: Path
) -> tuple[float, float, list[float], list[float], list[float], list[float]]:
    """Import times (bare, ours) and sorted samples: bare select, first lookup, cached lookup,
    worker-thread round trip."""
    bare = _bare_import(text, folder / "bare.sqlite3")
    ours = await _import(text, folder / "directory.sqlite3")
    bare_db = sqlite3.connect(folder / "bare.sqlite3")
    numbers = [f"+447400{random.randrange(count):06d}" for _ in range(20_000)]
    floor = _lookups(
        lambda n: bare_db.execute("SELECT * FROM c WHERE number = ?", (n,)).fetchone(), numbers
    )
    bare_db.close()
    async with await open_directory(str(folder / "directory.sqlite3")) as directory:
        cold = await _awaited_lookups(directory.lookup, numbers)
        warm = await _awaited_lookups(directory.lookup, numbers)
    # What keeping sqlite3 off the event loop costs by itself: a no-op there and back.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as worker:
        hop = await _awaited_lookups(lambda n: loop.run_in_executor(worker, len, n), numbers)
    return bare, ours, floor, cold, warm, hop


def directory_scenarios(count: int = 100_000) -> dict[str, dict[str, float]]:
    text = contacts_csv(count)
    with tempfile.TemporaryDirectory() as folder:
        bare, ours, floor, cold, warm, hop = asyncio.run(_measure(text, count, Path(folder)))
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
        "baseline: no-op round trip to a worker thread": {
            "median_us": round(median(hop), 2),
            "p99_us": round(hop[int(len(hop) * 0.99)], 2),
        },
    }

"""The shared PostgreSQL directory beside the embedded SQLite one, in the same run: importing
100,000 contacts and looking them up the way the Decide path does, cold and cached. The server
is a throwaway cluster on a loopback port (tests/postgres.py), as in the suite."""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import time

from bench.directory import _awaited_lookups, contacts_csv
from decision.directory import open_directory
from decision.directory.csv_format import read_contacts
from tests.postgres import PostgresServer

LOOKUPS = 5_000


async def _measure(url: str, text: str, count: int) -> tuple[float, list[float], list[float]]:
    started = time.perf_counter()
    records = read_contacts(io.StringIO(text), "bench.csv")
    async with await open_directory(url, lookup_timeout=5) as directory:
        await directory.write(records, replace=True)
        imported = time.perf_counter() - started
        numbers = [f"+447400{random.randrange(count):06d}" for _ in range(LOOKUPS)]
        cold = await _awaited_lookups(directory.lookup, numbers)
        warm = await _awaited_lookups(directory.lookup, numbers)
    return imported, cold, warm


def postgres_directory_scenarios(
    sqlite: dict[str, dict[str, float]], count: int = 100_000
) -> dict[str, dict[str, float]]:
    """`sqlite`: the SQLite rows of this same run, the baselines of these."""
    server = PostgresServer()
    try:
        imported, cold, warm = asyncio.run(
            _measure(server.new_database(), contacts_csv(count), count)
        )
    finally:
        server.close()
    median = statistics.median
    sqlite_import = sqlite[f"directory import, {count:,} contacts"]["seconds"]
    sqlite_cold = sqlite["directory lookup, first time (SQLite)"]["median_us"]
    return {
        f"directory import, {count:,} contacts (PostgreSQL)": {
            "seconds": round(imported, 2),
            "ratio": round(imported / sqlite_import, 2),
        },
        "directory lookup, first time (PostgreSQL)": {
            "median_us": round(median(cold), 2),
            "p99_us": round(cold[int(len(cold) * 0.99)], 2),
            "ratio": round(median(cold) / sqlite_cold, 2),
        },
        "directory lookup, cached (PostgreSQL)": {
            "median_us": round(median(warm), 2),
            "p99_us": round(warm[int(len(warm) * 0.99)], 2),
        },
    }


if __name__ == "__main__":
    from bench.directory import directory_scenarios

    for name, row in postgres_directory_scenarios(directory_scenarios()).items():
        print(name, row)

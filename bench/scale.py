"""How cost grows with the work (issue 21): each figure measured at two sizes a factor of ten
apart, so a row says whether time grows linearly (time ratio ~10) and memory stays flat (peak
ratio ~1), and beside the baseline it is built on.

- `decision replay` of 100,000 and 1,000,000 logged decisions (real entries, written by a real
  decision service, repeated): decisions per second against the engine deciding the same
  requests in process, and the replay's peak memory (it streams the log);
- `decision contacts import` of 100,000 and 1,000,000 contacts into SQLite (and PostgreSQL when
  the bench has one): seconds and peak memory of the command;
- the decision log at 1,000 decisions per second: bytes per entry, and CPU per entry (the
  service thread's `record` plus the writer thread's JSON and write), as a share of one core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.json_format import ParseDict

from bench.directory import contacts_csv
from contract.client import BlockingDecisionClient
from contract.v1.decision_pb2 import DecideRequest
from decision.decision_log.entry import read_logged_facts
from decision.decision_log.writer import DecisionLog
from decision.engine import NO_FACTS, parse_rules
from plumbing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "rules.toml"
# A spread of callers the example rules route differently: UK mobiles and landlines, a US number,
# a Spanish-speaking widget, an invalid number.
CALLERS = [
    ("07400 123456", "+44", "123"),
    ("07400 654321", "+44", "123"),
    ("020 7946 0000", "+44", "123"),
    ("(212) 555-0100", "+1", "123"),
    ("612 345 678", "+34", "es"),
    ("12", "+44", "123"),
]


def _run_measured(
    command: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (the child's own, from wait4) and stdout of a command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {process.returncode}: {err.strip()}")
    return elapsed, usage.ru_maxrss / 1024, out


def _logged_entries(folder: Path) -> list[bytes]:
    """One real decision-log line per caller, written by a decision service with whole numbers
    (so that replay decides exactly, not from masked numbers)."""
    log = folder / "seed.jsonl"
    service = ServiceProcess(
        "decision",
        [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            str(RULES),
            "--no-access-log",
            "--decision-log",
            str(log),
            "--log-full-numbers",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        with BlockingDecisionClient(f"127.0.0.1:{service.port}") as client:
            for number, code, widget in CALLERS:
                client.decide(
                    DecideRequest(phone_number=number, country_code=code, widget_id=widget)
                )
    finally:
        service.stop()
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == len(CALLERS), "the seed log must hold one entry per caller"
    return lines


def _write_log(path: Path, lines: list[bytes], count: int) -> None:
    with path.open("wb") as stream:
        for index in range(count):
            stream.write(lines[index % len(lines)])


def _engine_per_second(lines: list[bytes], count: int = 60_000) -> float:
    """The floor: the engine deciding the logged requests, already parsed, in process."""
    rules = parse_rules(RULES.read_text(), str(RULES))
    parsed = []
    for line in lines:
        entry = json.loads(line)
        parsed.append(
            (
                ParseDict(entry["request"], DecideRequest()),
                datetime.fromisoformat(entry["at"]),
                read_logged_facts(entry),
            )
        )
    started = time.perf_counter()
    for index in range(count):
        request, at, facts = parsed[index % len(parsed)]
        rules.decide(request, at, facts)
    return count / (time.perf_counter() - started)


def replay_scenarios(sizes: tuple[int, int] = (100_000, 1_000_000)) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        lines = _logged_entries(Path(folder))
        engine = _engine_per_second(lines)
        peaks = []
        for size in sizes:
            log = Path(folder) / f"log-{size}.jsonl"
            _write_log(log, lines, size)
            seconds, peak, out = _run_measured(
                [sys.executable, "-m", "decision", "replay", str(log), "--rules", str(RULES)]
            )
            assert f"replayed {size} decisions" in out, out
            assert "would change: 0" in out, out
            log.unlink()
            peaks.append(peak)
            rows[f"decision replay, {size:,} logged decisions"] = {
                "per_second": round(size / seconds),
                "seconds": round(seconds, 1),
                "peak_mib": round(peak, 1),
                "engine_per_second": round(engine),
                "ratio": round(size / seconds / engine, 3),
                "peak_ratio": round(peak / peaks[0], 2),
            }
    return rows


def _contacts_file(folder: Path, count: int) -> Path:
    path = folder / f"contacts-{count}.csv"
    path.write_text(contacts_csv(count))
    return path


def import_scenarios(
    postgres_url: str = "", sizes: tuple[int, int] = (100_000, 1_000_000)
) -> dict[str, dict]:
    """`postgres_url`: a database the bench may fill (empty: SQLite only)."""
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        targets = [("SQLite", lambda size: str(Path(folder) / f"directory-{size}.sqlite3"))]
        if postgres_url:
            targets.append(("PostgreSQL", lambda size: postgres_url))
        for backend, where in targets:
            first: tuple[float, float] | None = None
            for size in sizes:
                csv_path = _contacts_file(Path(folder), size)
                seconds, peak, _ = _run_measured(
                    [
                        sys.executable,
                        "-m",
                        "decision",
                        "contacts",
                        "import",
                        "--replace",
                        str(csv_path),
                    ],
                    env={"DECISION_CONTACTS": where(size)},
                )
                csv_path.unlink()
                first = first or (seconds, peak)
                rows[f"contacts import, {size:,} contacts, {backend}"] = {
                    "seconds": round(seconds, 1),
                    "per_second": round(size / seconds),
                    "peak_mib": round(peak, 1),
                    "time_ratio": round(seconds / first[0], 2),
                    "peak_ratio": round(peak / first[1], 2),
                }
    return rows


def _requests() -> Iterator[tuple[DecideRequest, object]]:
    from contract.v1.decision_pb2 import DecideResponse

    rules = parse_rules(RULES.read_text(), str(RULES))
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    pairs = []
    for index, (number, code, widget) in enumerate(CALLERS):
        request = DecideRequest(phone_number=number, country_code=code, widget_id=widget)
        decision = rules.decide(request, now, NO_FACTS)
        response = DecideResponse(
            decision_id=f"d{index}", request_id=f"r{index}", rules_version=rules.version
        )
        response.patch.CopyFrom(decision.patch)
        response.matched_rules.extend(decision.matched_rules)
        pairs.append((request, response))
    while True:
        yield from pairs


def decision_log_scenario(count: int = 50_000) -> dict[str, dict]:
    """Bytes and CPU per entry (the service's `record` and the writer thread's work together,
    in process CPU time), and what 1,000 decisions per second cost."""
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decisions.jsonl"
        log = DecisionLog(str(path), capacity=count, buffer_bytes=1 << 30)
        pairs = _requests()
        cpu = time.process_time()
        for _ in range(count):
            request, response = next(pairs)
            log.record(request, response, now, NO_FACTS, 1.0)  # type: ignore[arg-type]
        log.close(timeout=120)
        cpu = time.process_time() - cpu
        size = path.stat().st_size
        lines = sum(1 for _ in path.open("rb"))
    assert lines == count, f"{lines} of {count} entries written"
    per_entry_us = cpu / count * 1e6
    return {
        "decision log, per entry": {
            "bytes": round(size / count),
            "cpu_us": round(per_entry_us, 1),
            "at_1000_per_s_core_share": round(per_entry_us * 1000 / 1e6, 3),
            "at_1000_per_s_mib_per_hour": round(size / count * 1000 * 3600 / 2**20),
        }
    }


def scale_scenarios(size: int = 1_000_000) -> dict[str, dict]:
    """Every row at `size` and a tenth of it; imports into SQLite and a throwaway PostgreSQL."""
    from tests.postgres import PostgresServer

    sizes = (size // 10, size)
    server = PostgresServer()
    try:
        imports = import_scenarios(server.new_database(), sizes)
    finally:
        server.close()
    return {**replay_scenarios(sizes), **imports, **decision_log_scenario()}


if __name__ == "__main__":  # python -m bench.scale [SIZE]: these rows alone
    print(
        json.dumps(scale_scenarios(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2)
    )

"""Runs every scenario next to its baseline, prints one table and writes
bench/results/latest.json. Seconds per load run: BENCH_SECONDS (default 5)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.directory import directory_scenarios
from bench.engine import engine_scenarios, number_cache_scenario
from bench.load import INSTALL_HINT, LoadResult, h2load, missing_tools, wrk
from decision.v1.decision_pb2 import DecideRequest
from facade.devstack import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "rules.toml"
KEY = "bench-key"
BODY = {
    "phoneNumber": "07400123456",
    "scriptId": "xxx",
    "queueId": "xxx",
    "scheduleGroupId": "xxx",
    "widgetId": "123",
    "countryCode": "+44",
}
MESSAGE = DecideRequest(
    phone_number="07400123456",
    country_code="+44",
    widget_id="123",
    queue_id="xxx",
    script_id="xxx",
    schedule_group_id="xxx",
)
DECIDE = "decision.v1.DecisionService/Decide"
CONNECTIONS = 16


@contextmanager
def running(module: str, *args: str, env: dict[str, str] | None = None) -> Iterator[ServiceProcess]:
    service = ServiceProcess(module, args, env=env)
    try:
        time.sleep(0.3)
        yield service
    finally:
        service.stop()


def peak_rss_mib(service: ServiceProcess) -> float:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return round(kib / 1024, 1)


def main() -> int:
    missing = missing_tools()
    if missing:
        print(f"make bench needs {', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
        return 2
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    rows: list[dict] = []

    def row(
        name: str,
        result: LoadResult | dict,
        baseline: LoadResult | None = None,
        target: str = "",
        ratio_of: str = "rps",
    ) -> None:
        entry = {
            "scenario": name,
            **(result.as_dict() if isinstance(result, LoadResult) else result),
        }
        if baseline is not None:
            entry["ratio"] = round(result.requests_per_second / baseline.requests_per_second, 3)
        entry["target"] = target
        rows.append(entry)
        print(f"  done: {name}", file=sys.stderr, flush=True)

    # gRPC: our decision service against the no-op grpc.aio server (b).
    with running("bench.baselines", "grpc") as noop:
        grpc_baseline = h2load(
            f"127.0.0.1:{noop.port}",
            DECIDE,
            MESSAGE.SerializeToString(),
            seconds,
            clients=2,
            streams=16,
        )
    row("baseline (b): no-op grpc.aio Decide", grpc_baseline)
    with running("decision", "serve", "--listen", "127.0.0.1:0", "--rules", str(RULES)) as dec:
        decision_alone = h2load(
            f"127.0.0.1:{dec.port}",
            DECIDE,
            MESSAGE.SerializeToString(),
            seconds,
            clients=2,
            streams=16,
        )
        decision_rss = peak_rss_mib(dec)
    row("decision service alone (example rules)", decision_alone, grpc_baseline, ">= 0.75 x (b)")

    # HTTP: the facade against a bare handler (a) and the leanest facade (c).
    url_of = lambda service: f"http://127.0.0.1:{service.port}/trueengage/callback"  # noqa: E731
    with running("bench.baselines", "tornado") as bare:
        bare_result = wrk(url_of(bare), BODY, KEY, seconds, CONNECTIONS)
    row("baseline (a): bare Tornado, fixed JSON", bare_result)
    with (
        running("bench.baselines", "grpc") as noop,
        running("bench.baselines", "proxy", "--decision", f"127.0.0.1:{noop.port}") as proxy,
    ):
        proxy_result = wrk(url_of(proxy), BODY, KEY, seconds, CONNECTIONS)
    row("baseline (c): bare Tornado -> no-op gRPC -> JSON", proxy_result)
    with (
        running("bench.baselines", "grpc") as noop,
        running(
            "facade",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--decision",
            f"127.0.0.1:{noop.port}",
            "--rate-limit",
            "0",
            env={"FACADE_API_KEYS": KEY},
        ) as fac,
    ):
        facade_alone = wrk(url_of(fac), BODY, KEY, seconds, CONNECTIONS)
    # The same no-op decision behind both: this ratio is the facade's own cost.
    row("facade -> no-op gRPC (facade's own cost)", facade_alone, proxy_result)
    with (
        running("decision", "serve", "--listen", "127.0.0.1:0", "--rules", str(RULES)) as dec,
        running(
            "facade",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--decision",
            f"127.0.0.1:{dec.port}",
            # One load generator is one client: the per-client limit would answer 429s.
            "--rate-limit",
            "0",
            env={"FACADE_API_KEYS": KEY},
        ) as fac,
    ):
        end_to_end = wrk(url_of(fac), BODY, KEY, seconds, CONNECTIONS)
        row("facade end to end (example rules)", end_to_end, proxy_result, ">= 0.85 x (c)")
        fixed_rate = wrk(url_of(fac), BODY, KEY, seconds, connections=50, rate=500)
        row("facade end to end at ~500 req/s", fixed_rate, target="p99 < 10 ms")
        facade_rss = peak_rss_mib(fac)
    rows.append(
        {
            "scenario": "peak memory (VmHWM)",
            "decision_mib": decision_rss,
            "facade_mib": facade_rss,
            "target": "",
        }
    )

    engine = engine_scenarios()
    base = engine["engine, 10 rules"]["median_us"]
    for name, result in engine.items():
        rows.append(
            {
                "scenario": name,
                **result,
                "ratio": round(result["median_us"] / base, 2),
                "target": "median < 50 us" if "1,000" in name else "",
            }
        )
    cache = number_cache_scenario()
    first = cache["number facts, first parse"]["median_us"]
    for name, result in cache.items():
        rows.append(
            {
                "scenario": name,
                **result,
                "ratio": round(result["median_us"] / first, 4),
                "target": "",
            }
        )

    for name, result in directory_scenarios().items():
        rows.append(
            {
                "scenario": name,
                **result,
                "target": "seconds, not minutes" if "import, " in name else "",
            }
        )

    print_table(rows)
    out = ROOT / "bench" / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "seconds": seconds,
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


def print_table(rows: list[dict]) -> None:
    columns = [
        "scenario",
        "rps",
        "p50_ms",
        "p99_ms",
        "median_us",
        "p99_us",
        "seconds",
        "ratio",
        "target",
    ]
    print()
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        if "decision_mib" in r:
            print(
                f"{r['scenario']}: decision {r['decision_mib']} MiB, facade {r['facade_mib']} MiB"
            )
            continue
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


if __name__ == "__main__":
    sys.exit(main())

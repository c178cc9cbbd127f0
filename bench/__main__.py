"""Runs every scenario next to its baseline, prints one table and writes
bench/results/latest.json.

These machines are shared and noisy, so load runs are interleaved: each round measures a
baseline and the scenarios compared with it back to back, and the table shows the median over
rounds of each figure and of each round's ratio. BENCH_SECONDS (default 3) is the length of one
load run, BENCH_ROUNDS (default 5) the number of rounds."""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.contract import contract_scenarios
from bench.directory import directory_scenarios
from bench.engine import engine_scenarios, generated_rules, number_cache_scenario
from bench.load import INSTALL_HINT, LoadResult, h2load, missing_tools, wrk
from bench.postgres_directory import postgres_directory_scenarios
from bench.scale import scale_scenarios
from bench.servicer import decide_scenarios
from contract.v1.decision_pb2 import DecideRequest
from plumbing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "rules.toml"
KEY = "bench-key"
# TrueEngage's documented example payload with a UK mobile number, as tests and docs send it.
BODY = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "webhook.json").read_text()
)
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


def peak_rss_mib(service: ServiceProcess) -> float:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return round(kib / 1024, 1)


def summarize(
    name: str, runs: list[LoadResult], baseline: list[LoadResult] | None, target: str = ""
) -> dict:
    """Medians over rounds; the ratio is the median of each round's ratio."""
    if any(r.errors for r in runs):
        # A refused or failed answer is not throughput: say so instead of counting it.
        print(f"  WARNING: {name}: {sum(r.errors for r in runs)} error answers", file=sys.stderr)
    row = {
        "scenario": name,
        "rps": round(statistics.median(r.requests_per_second for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
        "errors": sum(r.errors for r in runs),
        "target": target,
    }
    if baseline:
        ratios = [
            r.requests_per_second / b.requests_per_second
            for r, b in zip(runs, baseline, strict=True)
        ]
        row["ratio"] = round(statistics.median(ratios), 3)
        row["ratios"] = [round(x, 3) for x in ratios]
    return row


def load_scenarios(seconds: float, rounds: int) -> tuple[list[dict], dict]:
    with ExitStack() as stack:

        def start(module: str, *args: str, env: Mapping[str, str] | None = None) -> ServiceProcess:
            # The services still format and write their access lines (that cost is part of
            # what is measured) but to /dev/null, not to a terminal that may throttle them.
            service = ServiceProcess(module, args, env, stderr=subprocess.DEVNULL)
            stack.callback(service.stop)
            return service

        facade_env = {"FACADE_API_KEYS": KEY}
        # One load generator is one client: the per-client limit would answer 429s.
        facade_args = ("serve", "--listen", "127.0.0.1:0")
        noop = start("bench.baselines", "grpc")
        noop_uvloop = start("bench.baselines", "grpc", "--loop", "uvloop")
        # (b)'s Decide behind the decision service's own server: options, call limit, health,
        # reflection, the request reader.
        noop_service_server = start("bench.baselines", "grpc-in-service-server")
        decision = start("decision", "serve", "--listen", "127.0.0.1:0", "--rules", str(RULES))
        # 10,000 rules, reloaded (SIGHUP: read and compiled again) all through a load run.
        large_rules = stack.enter_context(tempfile.TemporaryDirectory()) + "/rules.toml"
        Path(large_rules).write_text(generated_rules(10_000))
        decision_large = start(
            "decision", "serve", "--listen", "127.0.0.1:0", "--rules", large_rules
        )
        bare = start("bench.baselines", "tornado")
        proxy = start("bench.baselines", "proxy", "--decision", f"127.0.0.1:{noop.port}")
        # (c) but for its HTTP server: the same loop, the same no-op service as (c).
        proxy_facade_server = start(
            "bench.baselines", "proxy-in-facade-server", "--decision", f"127.0.0.1:{noop.port}"
        )
        proxy_uvloop = start(
            "bench.baselines",
            "proxy",
            "--decision",
            f"127.0.0.1:{noop_uvloop.port}",
            "--loop",
            "uvloop",
        )
        facade_noop = start(
            "facade", *facade_args, "--decision", f"127.0.0.1:{noop.port}", env=facade_env
        )
        facade = start(
            "facade", *facade_args, "--decision", f"127.0.0.1:{decision.port}", env=facade_env
        )
        # The same stack with tracing on, every webhook sampled, spans to a loopback collector.
        collector = start("bench.baselines", "collector")
        traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}"}
        decision_traced = start(
            "decision", "serve", "--listen", "127.0.0.1:0", "--rules", str(RULES), env=traced
        )
        facade_traced = start(
            "facade",
            *facade_args,
            "--decision",
            f"127.0.0.1:{decision_traced.port}",
            env={**facade_env, **traced},
        )

        def http(
            service: ServiceProcess, connections: int = CONNECTIONS, rate: float | None = None
        ) -> Callable[[], LoadResult]:
            url = f"http://127.0.0.1:{service.port}/trueengage/callback"
            return lambda: wrk(url, BODY, KEY, seconds, connections, rate)

        def grpc(service: ServiceProcess) -> Callable[[], LoadResult]:
            return lambda: h2load(
                f"127.0.0.1:{service.port}",
                DECIDE,
                MESSAGE.SerializeToString(),
                seconds,
                clients=2,
                streams=16,
            )

        def reloading(
            service: ServiceProcess, run: Callable[[], LoadResult]
        ) -> Callable[[], LoadResult]:
            def measure() -> LoadResult:
                stop = threading.Event()

                def hang_up() -> None:
                    while not stop.wait(0.25):  # one reload ends before the next is asked
                        service.process.send_signal(signal.SIGHUP)

                sender = threading.Thread(target=hang_up)
                sender.start()
                try:
                    return run()
                finally:
                    stop.set()
                    sender.join()

            return measure

        plan = {
            "b": grpc(noop),
            "b_uvloop": grpc(noop_uvloop),
            "b_service_server": grpc(noop_service_server),
            "decision": grpc(decision),
            "decision_large": grpc(decision_large),
            "decision_reloading": reloading(decision_large, grpc(decision_large)),
            "a": http(bare),
            "c": http(proxy),
            "c_uvloop": http(proxy_uvloop),
            "c_facade_server": http(proxy_facade_server),
            "facade_noop": http(facade_noop),
            "facade": http(facade),
            "facade_traced": http(facade_traced),
            "facade_500": http(facade, connections=20, rate=500),
            "facade_1000": http(facade, connections=20, rate=1000),
        }
        results: dict[str, list[LoadResult]] = {name: [] for name in plan}
        for round_number in range(1, rounds + 1):
            for name, run in plan.items():
                results[name].append(run())
            print(f"  round {round_number}/{rounds} done", file=sys.stderr, flush=True)
        memory = {"decision_mib": peak_rss_mib(decision), "facade_mib": peak_rss_mib(facade)}

    rows = [
        summarize("baseline (b): no-op grpc.aio Decide", results["b"], None),
        summarize(
            "decision service alone (example rules)",
            results["decision"],
            results["b"],
            ">= 0.75 x (b)",
        ),
        summarize(
            "  (b)'s Decide behind the decision service's own gRPC server vs (b)",
            results["b_service_server"],
            results["b"],
        ),
        summarize("baseline (b) on uvloop", results["b_uvloop"], None),
        summarize(
            "decision service alone (example rules) vs (b) on uvloop",
            results["decision"],
            results["b_uvloop"],
        ),
        summarize("decision service alone, 10,000 rules", results["decision_large"], results["b"]),
        summarize(
            "the same while they reload all along (SIGHUP every 0.25 s)",
            results["decision_reloading"],
            results["decision_large"],
            ">= 0.7 x the same without reloads",
        ),
        summarize("baseline (a): bare Tornado, fixed JSON", results["a"], None),
        summarize("baseline (c): bare Tornado -> no-op gRPC -> JSON", results["c"], None),
        summarize("baseline (c) on uvloop", results["c_uvloop"], None),
        summarize(
            "facade -> no-op gRPC (the facade's own cost)", results["facade_noop"], results["c"]
        ),
        summarize(
            "  where it goes: (c)'s handler in the facade's HTTP server vs (c)",
            results["c_facade_server"],
            results["c"],
        ),
        summarize(
            "  and the facade's webhook handler: the facade vs that",
            results["facade_noop"],
            results["c_facade_server"],
        ),
        summarize(
            "facade end to end (example rules)", results["facade"], results["c"], ">= 0.85 x (c)"
        ),
        summarize(
            "the same, traced (OTLP/HTTP, every webhook sampled)",
            results["facade_traced"],
            results["facade"],
        ),
        summarize(
            "facade end to end (example rules) vs (c) on uvloop",
            results["facade"],
            results["c_uvloop"],
        ),
        summarize("facade end to end at ~500 req/s", results["facade_500"], None),
        summarize("facade end to end at ~1,000 req/s", results["facade_1000"], None, "p99 < 10 ms"),
    ]
    return rows, memory


def main() -> int:
    missing = missing_tools()
    if missing:
        print(f"make bench needs {', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
        return 2
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    rows, memory = load_scenarios(seconds, rounds)
    rows.append({"scenario": "peak memory (VmHWM)", **memory, "target": ""})

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
    for name, result in decide_scenarios(MESSAGE).items():
        rows.append({"scenario": name, **result, "target": ""})
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
    for name, result in contract_scenarios().items():
        rows.append({"scenario": name, **result, "target": ""})
    sqlite = directory_scenarios()
    for name, result in [*sqlite.items(), *postgres_directory_scenarios(sqlite).items()]:
        rows.append(
            {
                "scenario": name,
                **result,
                "target": "seconds, not minutes" if "import, " in name else "",
            }
        )

    # How cost grows with the work; BENCH_SCALE (default 1,000,000) is the larger size of each.
    scale = int(os.environ.get("BENCH_SCALE", "1000000"))
    for name, result in scale_scenarios(scale).items():
        rows.append({"scenario": name, **result, "target": "linear time, flat memory"})

    print_table(rows)
    out = ROOT / "bench" / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "seconds": seconds,
                "rounds": rounds,
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
        "errors",
        "median_us",
        "p99_us",
        "seconds",
        "per_second",
        "peak_mib",
        "time_ratio",
        "peak_ratio",
        "bytes",
        "cpu_us",
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

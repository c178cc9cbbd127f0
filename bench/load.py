"""Drives load with wrk (HTTP) and h2load (gRPC) and reads their results.

Python load generators saturate long before the services do, so the load comes from C tools."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "sudo apt-get install wrk nghttp2-client   # wrk and h2load"


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = {key}
{delay}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk(
    url: str, body: dict, key: str, seconds: float, connections: int, rate: float | None = None
) -> LoadResult:
    """Closed-loop load from `connections` connections; with `rate`, each connection waits a
    random 0..2x the mean gap between requests, so that together they send about `rate`
    requests per second spread out in time (a fixed gap would keep them in lockstep bursts)."""
    delay = ""
    if rate:
        mean_ms = connections * 1000 / rate
        delay = f"delay = function() return math.random(0, {int(2 * mean_ms)}) end"
    script = _WRK_SCRIPT.format(
        body=_lua_string(json.dumps(body)), key=_lua_string(key), delay=delay
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        Path(handle.name).unlink()
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, duration_us, p50_us, p99_us, errors = map(int, match.groups())
    return LoadResult(requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors)


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def h2load(
    target: str, method: str, message: bytes, seconds: float, clients: int, streams: int
) -> LoadResult:
    """gRPC unary calls over h2c, `clients` connections with `streams` calls in flight each."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "request.bin"
        data.write_bytes(grpc_frame(message))
        log = Path(folder) / "requests.log"
        out = subprocess.run(
            [
                "h2load",
                f"http://{target}/{method}",
                "-d",
                str(data),
                "-c",
                str(clients),
                "-m",
                str(streams),
                "-t",
                "1",
                "-D",
                str(int(seconds)),
                "--log-file",
                str(log),
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
        rows = [line.split("\t") for line in log.read_text().splitlines() if line]
    latencies = sorted(int(row[2]) / 1000 for row in rows)
    errors = sum(row[1] != "200" for row in rows)
    match = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    if not match or not latencies:
        raise RuntimeError(f"h2load printed no result:\n{out}")
    return LoadResult(
        float(match[3]),
        statistics.median(latencies),
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        errors,
    )

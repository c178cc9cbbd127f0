"""`make run`: both services on this machine with the example rules and a dev API key."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_READY = re.compile(r"serving on (?:https?://)?([\w.\-:\[\]]+?):(\d+)")


class ServiceProcess:
    """A service started as `python -m <module> ...`, ready once it prints its "serving on"
    line (which also tells the port when it was asked for port 0)."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 20.0,
        stderr: IO[str] | int | None = None,
    ) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **(env or {})},
        )
        try:
            self.port = self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{' '.join(self.command)} exited with {self.process.wait()}")
            match = _READY.search(line)
            if match:
                return int(match[2])
        raise RuntimeError(f"{' '.join(self.command)} not ready after {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signals the process and waits for it; kills it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        return self.process.returncode


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def seed_directory(csv_path: str, directory_path: str) -> int:
    """A fresh demo directory from the example CSV, replacing whatever an earlier run left."""
    from decision.contacts_csv import read_contacts
    from decision.directory import open_directory

    async def replace_all() -> int:
        async with await open_directory(directory_path) as directory:
            return await directory.write(records, replace=True)

    with open(csv_path, newline="", encoding="utf-8") as stream:
        records = read_contacts(stream, csv_path)
    return asyncio.run(replace_all())


def run_devstack(
    facade_port: int, decision_port: int, rules: str, contacts_csv: str, contacts: str
) -> int:
    # Explicit handlers: a shell that starts us in the background would leave SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    key = os.environ.get("FACADE_API_KEYS", "").split(",")[0].strip()
    if not key:
        key = "dev-" + secrets.token_urlsafe(18)
    seeded = seed_directory(contacts_csv, contacts)
    decision_args = [
        "serve",
        "--listen",
        f"127.0.0.1:{decision_port}",
        "--rules",
        rules,
        "--contacts",
        contacts,
    ]
    try:
        decision = ServiceProcess("decision", decision_args)
    except RuntimeError:
        print(
            f"the decision service did not start (see above); if port {decision_port} is "
            "taken: python -m facade devstack --decision-port N",
            file=sys.stderr,
        )
        return 1
    facade_args = [
        "serve",
        "--listen",
        f"127.0.0.1:{facade_port}",
        "--decision",
        f"127.0.0.1:{decision.port}",
    ]
    try:
        facade = ServiceProcess(
            "facade", facade_args, env={"FACADE_API_KEYS": os.environ.get("FACADE_API_KEYS") or key}
        )
    except RuntimeError:
        decision.stop()
        print(
            f"the facade did not start (see above); if port {facade_port} is taken: "
            "python -m facade devstack --port N",
            file=sys.stderr,
        )
        return 1
    url = f"http://127.0.0.1:{facade.port}/trueengage/callback"
    print(
        f"""
callback-router is up.
  webhook:   {url}
  API key:   {key}
  decision:  127.0.0.1:{decision.port} (gRPC), rules {Path(rules).resolve()}
  contacts:  {Path(contacts).resolve()} ({seeded} demo contacts from {contacts_csv})

Try it:
  curl -s {url} \\
    -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\
    -d '{{"phoneNumber":"07400123456","countryCode":"+44","queueId":"","widgetId":"123"}}'

A known VIP (examples/contacts.csv): same command with "phoneNumber":"07400654321".

Ctrl-C stops both.""",
        flush=True,
    )
    try:
        while decision.process.poll() is None and facade.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        codes = facade.stop(), decision.stop()
    print(f"stopped (facade exit {codes[0]}, decision exit {codes[1]})")
    return 0 if codes == (0, 0) else 1

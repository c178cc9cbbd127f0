"""`make run`: both services on this machine with the example rules and a dev API key."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from plumbing.service_process import ServiceProcess


def seed_directory(csv_path: str, directory_path: str) -> str:
    """A fresh demo directory from the example CSV, replacing whatever an earlier run left.
    Through the decision service's own command: the facade knows nothing of directories."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "contacts",
            "import",
            "--replace",
            "--contacts",
            directory_path,
            csv_path,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip())
    return done.stdout.strip()  # e.g. "...: replaced with 2 contacts (3 numbers) in 0.0s"


def run_devstack(
    facade_port: int,
    decision_port: int,
    rules: str,
    contacts_csv: str,
    contacts: str,
    admin_port: int = 8081,
) -> int:
    # Explicit handlers (a shell that starts us in the background would leave SIGINT ignored)
    # that only raise a flag: a Ctrl-C at any moment ends the loop below, never the program
    # half-way through it.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    key = os.environ.get("FACADE_API_KEYS", "").split(",")[0].strip()
    if not key:
        key = "dev-" + secrets.token_urlsafe(18)
    admin_key = os.environ.get("FACADE_ADMIN_KEYS", "").split(",")[0].strip()
    if not admin_key:
        admin_key = "admin-" + secrets.token_urlsafe(18)
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
        decision = ServiceProcess("decision", decision_args, own_group=True)
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
        "--admin-listen",
        f"127.0.0.1:{admin_port}",
        "--drain-seconds",
        "0",  # no load balancer to drain from on a laptop
    ]
    env = {
        "FACADE_API_KEYS": os.environ.get("FACADE_API_KEYS") or key,
        "FACADE_ADMIN_KEYS": os.environ.get("FACADE_ADMIN_KEYS") or admin_key,
    }
    try:
        facade = ServiceProcess("facade", facade_args, env=env, own_group=True)
    except RuntimeError:
        decision.stop()
        print(
            f"the facade did not start (see above); if port {facade_port} or {admin_port} is "
            "taken: python -m facade devstack --port N --admin-port M",
            file=sys.stderr,
        )
        return 1
    url = f"http://127.0.0.1:{facade.port}/trueengage/callback"
    assert facade.process.stdout is not None
    # The facade's next line tells the console's address (its port, when asked for port 0).
    console = facade.process.stdout.readline().split("console on ", 1)[-1].strip()
    print(
        f"""
callback-router is up.
  webhook:   {url}
  API key:   {key}
  console:   {console}  (admin key: {admin_key})
  decision:  127.0.0.1:{decision.port} (gRPC), rules {Path(rules).resolve()}
  contacts:  {seeded} (from {contacts_csv})

Try it:
  curl -s {url} \\
    -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\
    -d '{{"phoneNumber":"07400123456","countryCode":"+44","queueId":"","widgetId":"123"}}'

A known VIP (examples/contacts.csv): same command with "phoneNumber":"07400654321".

Ctrl-C stops both.""",
        flush=True,
    )
    while not stop.is_set() and decision.process.poll() is None and facade.process.poll() is None:
        stop.wait(0.5)
    codes = facade.stop(), decision.stop()
    print(f"stopped (facade exit {codes[0]}, decision exit {codes[1]})")
    return 0 if codes == (0, 0) else 1

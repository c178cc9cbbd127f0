"""`make run`: both services on this machine with the example rules and a dev API key."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from plumbing.service_process import ServiceProcess


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
    print(
        f"""
callback-router is up.
  webhook:   {url}
  API key:   {key}
  console:   http://127.0.0.1:{admin_port}/  (admin key: {admin_key})
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
    while not stop.is_set() and decision.process.poll() is None and facade.process.poll() is None:
        stop.wait(0.5)
    codes = facade.stop(), decision.stop()
    print(f"stopped (facade exit {codes[0]}, decision exit {codes[1]})")
    return 0 if codes == (0, 0) else 1

"""`make run`: both services on this machine with the example rules and dev keys, which are
generated on the first run and kept in `.run/` (never in the repository), so that the curl it
prints works again after the next `make run`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
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


# The commands a person types, as pyproject.toml's console scripts install them in the venv
# `make venv` (and so `make run`) creates: the same names as in any other install.
DECISION_COMMAND = ".venv/bin/callback-decision"
FACADE_COMMAND = ".venv/bin/callback-facade"


def dev_keys(path: Path) -> tuple[str, str, str]:
    """(API key, admin key, what happened): the keys kept in `path`, or new random ones written
    there (owner-only) when it holds none, so the next run prints the same ones."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        api_key, admin_key = kept["api_key"], kept["admin_key"]
        if isinstance(api_key, str) and isinstance(admin_key, str) and api_key and admin_key:
            return api_key, admin_key, f"kept in {path}"
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        print(f"{path}: not dev keys as make run writes them; making new ones", file=sys.stderr)
    api_key, admin_key = "dev-" + secrets.token_urlsafe(18), "admin-" + secrets.token_urlsafe(18)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump({"api_key": api_key, "admin_key": admin_key}, stream)
        os.replace(fresh, path)
    except OSError as error:
        return (
            api_key,
            admin_key,
            f"new; not kept ({path}: {error.strerror}): the next run's differ",
        )
    return api_key, admin_key, f"new, kept in {path} for the next run"


def free_port(port: int) -> int:
    """`port`, or a free one for 0: the metrics endpoint does not say which port it took."""
    if port:
        return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_devstack(
    facade_port: int,
    decision_port: int,
    rules: str,
    contacts_csv: str,
    contacts: str,
    admin_port: int = 8081,
    metrics_port: int = 9464,
    keys_file: str = ".run/dev-keys.json",
    decision_log: str = ".run/decisions.jsonl",
) -> int:
    # Explicit handlers (a shell that starts us in the background would leave SIGINT ignored)
    # that only raise a flag: a Ctrl-C at any moment ends the loop below, never the program
    # half-way through it.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    # Keys given in the environment win; otherwise the kept ones (made on the first run).
    given_key = os.environ.get("FACADE_API_KEYS", "").split(",")[0].strip()
    given_admin = os.environ.get("FACADE_ADMIN_KEYS", "").split(",")[0].strip()
    if given_key and given_admin:
        key, admin_key, keys_said = (
            given_key,
            given_admin,
            "from FACADE_API_KEYS, FACADE_ADMIN_KEYS",
        )
    else:
        kept_key, kept_admin, keys_said = dev_keys(Path(keys_file))
        key, admin_key = given_key or kept_key, given_admin or kept_admin
    seeded = seed_directory(contacts_csv, contacts)
    Path(decision_log).parent.mkdir(parents=True, exist_ok=True)
    metrics = f"127.0.0.1:{free_port(metrics_port)}"
    decision_args = [
        "serve",
        "--listen",
        f"127.0.0.1:{decision_port}",
        "--rules",
        rules,
        "--contacts",
        contacts,
        "--metrics-listen",
        metrics,
        # As in production: the facade on a listener of its own, every decision logged (what
        # `decision replay` and `decision gate` read).
        "--facade-listen",
        "127.0.0.1:0",
        "--decision-log",
        decision_log,
    ]
    try:
        decision = ServiceProcess("decision", decision_args, own_group=True)
    except RuntimeError:
        print(
            f"the decision service did not start (see above); if port {decision_port} or "
            f"{metrics_port} is taken: {FACADE_COMMAND} devstack --decision-port N "
            "--metrics-port M",
            file=sys.stderr,
        )
        return 1
    facades_at = decision.ready_line.rpartition(" facades on ")[2]
    facade_args = [
        "serve",
        "--listen",
        f"127.0.0.1:{facade_port}",
        "--decision",
        facades_at,
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
            f"taken: {FACADE_COMMAND} devstack --port N --admin-port M",
            file=sys.stderr,
        )
        return 1
    url = f"http://127.0.0.1:{facade.port}/trueengage/callback"
    assert facade.process.stdout is not None
    # The facade's next line tells the console's address (its port, when asked for port 0).
    console = facade.process.stdout.readline().split("console on ", 1)[-1].strip()
    explain_command = (
        f"{DECISION_COMMAND} explain {rules} --phone 07400654321 --country-code +44 "
        f"--contacts {contacts}"
    )
    print(
        f"""
callback-router is up.
  webhook:   {url}
  API key:   {key}
  console:   {console}  (admin key: {admin_key})
  keys:      {keys_said}
  decision:  127.0.0.1:{decision.port} (gRPC; the facade on its own listener, {facades_at}),
             rules {Path(rules).resolve()}
  decisions: {decision_log} (replay: {DECISION_COMMAND} replay {decision_log} --rules {rules})
  metrics:   http://{metrics}/metrics (the decision service's)
  contacts:  {seeded} (from {contacts_csv})

Try it:
  curl -s {url} \\
    -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\
    -d '{{"phoneNumber":"07400123456","countryCode":"+44","queueId":"","widgetId":"123"}}'

A known VIP (examples/contacts.csv): same command with "phoneNumber":"07400654321".
How the rules decide it:
  {explain_command}

Ctrl-C stops both.""",
        flush=True,
    )
    while not stop.is_set() and decision.process.poll() is None and facade.process.poll() is None:
        stop.wait(0.5)
    codes = facade.stop(), decision.stop()
    print(f"stopped (facade exit {codes[0]}, decision exit {codes[1]})")
    return 0 if codes == (0, 0) else 1

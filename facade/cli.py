"""`python -m facade`: serve the webhook, or run the whole stack locally (`make run`)."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
from pathlib import Path

from facade.config import FacadeSettings
from plumbing.entry import quiet_when_the_reader_leaves
from plumbing.logs import configure_logging
from plumbing.settings import (
    SettingsError,
    add_arguments,
    listen_problem,
    out_of_range,
    resolve,
    settings_epilog,
)


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = resolve(FacadeSettings, args, os.environ, "FACADE")
    except SettingsError as error:
        print(f"facade: {error}", file=sys.stderr)
        return 2
    if settings.processes > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Workers share their metrics through files; prometheus_client reads this variable
        # when it is first imported, which is below. The files live as long as the facade.
        with tempfile.TemporaryDirectory(prefix="facade-metrics-") as metrics_dir:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            return _serve(args)
    from facade.app import load_admin_keys, load_keys, run, tls_context
    from facade.network import ClientPolicy

    try:
        keys = load_keys(settings)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        print(f"facade: cannot read the API keys file: {reason}", file=sys.stderr)
        return 2
    if not keys:
        print(
            "facade: refusing to start without an API key: set FACADE_API_KEYS or --api-keys-file",
            file=sys.stderr,
        )
        return 2
    try:
        # Without a console its file is not read, but its keys still must not be webhook keys.
        admin_keys = load_admin_keys(settings) if settings.admin_listen else [*settings.admin_keys]
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        print(f"facade: cannot read the admin keys file: {reason}", file=sys.stderr)
        return 2
    if settings.admin_listen and not [key for key in admin_keys if key.strip()]:
        print(
            "facade: the console needs keys of its own: set FACADE_ADMIN_KEYS or --admin-keys-file",
            file=sys.stderr,
        )
        return 2
    if {key.strip() for key in admin_keys} & {key.strip() for key in keys}:
        print("facade: a console key must not also be a webhook key", file=sys.stderr)
        return 2
    for flag, path in _pem_files(settings):
        try:
            Path(path).read_bytes()
        except OSError as error:
            print(f"facade: cannot read {flag} {path}: {error.strerror}", file=sys.stderr)
            return 2
    # Everything that can be wrong with the settings is said now, before "serving on" is
    # printed: a supervisor that saw the ready line must not then see the process die.
    problem = listen_problem("--listen", settings.listen) or listen_problem(
        "--admin-listen", settings.admin_listen
    )
    # One port for both would put the console where TrueEngage calls: an IPv6 webhook and an
    # IPv4 console (or the reverse) bind the same port number without a conflict.
    port = settings.listen.rpartition(":")[2]
    if problem is None and port != "0" and port == settings.admin_listen.rpartition(":")[2]:
        problem = "--admin-listen must not use the webhook's port"
    problem = problem or out_of_range(settings, _RANGES)
    try:
        ClientPolicy(settings.allow_cidrs, settings.trusted_proxies)
        tls_context(settings)
    except ValueError as error:
        problem = problem or str(error)
    except ssl.SSLError:
        problem = problem or "--tls-cert/--tls-key: not a usable PEM certificate and key"
    if problem:
        print(f"facade: {problem}", file=sys.stderr)
        return 2
    return run(settings)


# (setting, lowest, highest or None) for the numbers whose bad values would not fail at start
# but drop or fail open every request: a body timeout of 0 or less times out every body, no room
# in flight answers everything {}, and past these highs gRPC's deadline or the horizon's date
# overflows (every decision fails open; the facade dies after "serving on").
_RANGES = (
    ("max_body", 1, None),
    ("deadline_ms", 1, 60_000),
    ("processes", 1, None),
    ("grace", 0, None),
    ("max_in_flight", 1, None),
    ("body_timeout", 0.001, None),
    ("head_timeout", 0.001, None),
    ("max_connections", 0, None),
    ("max_connections_per_address", 0, None),
    ("admin_max_connections", 1, None),
    ("schedule_horizon_days", 0, 36_500),
)


def _pem_files(settings: FacadeSettings) -> list[tuple[str, str]]:
    """The PEM files the settings name, with their flags: checked before starting, because
    ssl and grpc report a missing one without its name."""
    named = {
        "--tls-cert": settings.tls_cert,
        "--tls-key": settings.tls_key,
        "--decision-tls-ca": settings.decision_tls_ca,
        "--decision-tls-cert": settings.decision_tls_cert,
        "--decision-tls-key": settings.decision_tls_key,
    }
    return [(flag, path) for flag, path in named.items() if path]


def _devstack(args: argparse.Namespace) -> int:
    from facade.devstack import run_devstack

    return run_devstack(
        facade_port=args.port,
        decision_port=args.decision_port,
        admin_port=args.admin_port,
        rules=args.rules,
        contacts_csv=args.contacts_csv,
        contacts=args.contacts,
        metrics_port=args.metrics_port,
        keys_file=args.keys_file,
        decision_log=args.decision_log,
    )


def _openapi(args: argparse.Namespace) -> int:
    from facade.openapi import render_openapi

    text = render_openapi()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"facade: cannot write {args.output}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callback-facade",  # pyproject.toml's console script, as the README spells it
        description=__doc__,
        epilog=settings_epilog(FacadeSettings, "FACADE", "callback-facade serve"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser(
        "serve",
        help="serve POST /trueengage/callback",
        description="Settings: flags beat FACADE_* variables beat the --config file.",
    )
    add_arguments(serve_cmd, FacadeSettings, "FACADE")
    serve_cmd.set_defaults(run=_serve)

    dev_cmd = commands.add_parser("devstack", help="run decision + facade locally (make run)")
    dev_cmd.add_argument("--port", type=int, default=8080)
    dev_cmd.add_argument("--decision-port", type=int, default=50051)
    dev_cmd.add_argument("--admin-port", type=int, default=8081, help="the operator console")
    dev_cmd.add_argument("--rules", default="examples/rules.toml")
    dev_cmd.add_argument("--contacts-csv", default="examples/contacts.csv")
    dev_cmd.add_argument("--contacts", default=".run/contacts.sqlite3")
    dev_cmd.add_argument(
        "--metrics-port", type=int, default=9464, help="the decision service's metrics"
    )
    dev_cmd.add_argument(
        "--keys-file",
        default=".run/dev-keys.json",
        help="the dev API and admin keys, made on the first run and reused",
    )
    dev_cmd.add_argument(
        "--decision-log",
        default=".run/decisions.jsonl",
        help="where the decision service logs every decision (what replay and gate read)",
    )
    dev_cmd.set_defaults(run=_devstack)

    openapi_cmd = commands.add_parser(
        "openapi", help="print the OpenAPI document generated from contract/callback.py"
    )
    openapi_cmd.add_argument("--output", default="-", help="file to write (default: stdout)")
    openapi_cmd.set_defaults(run=_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging("facade")
    args = build_parser().parse_args(argv)
    return quiet_when_the_reader_leaves(lambda: args.run(args))

"""`python -m facade`: serve the webhook, or run the whole stack locally (`make run`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from facade.app import FacadeSettings, serve
from facade.auth import keys_from_text


def _serve(args: argparse.Namespace) -> int:
    keys = keys_from_text(os.environ.get("FACADE_API_KEYS", ""))
    if not keys:
        print("facade: refusing to start without an API key: set FACADE_API_KEYS", file=sys.stderr)
        return 2
    settings = FacadeSettings(
        listen=args.listen,
        decision=args.decision,
        deadline=args.deadline_ms / 1000,
        max_body=args.max_body,
        api_key_header=args.api_key_header,
        api_keys=tuple(keys),
        grace_seconds=args.grace,
    )
    asyncio.run(serve(settings))
    return 0


def _devstack(args: argparse.Namespace) -> int:
    from facade.devstack import run_devstack

    return run_devstack(facade_port=args.port, decision_port=args.decision_port, rules=args.rules)


def build_parser() -> argparse.ArgumentParser:
    defaults = FacadeSettings()
    parser = argparse.ArgumentParser(prog="python -m facade", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve", help="serve POST /trueengage/callback (keys from FACADE_API_KEYS)"
    )
    serve_cmd.add_argument("--listen", default=defaults.listen, help="host:port (port 0: any)")
    serve_cmd.add_argument(
        "--decision",
        default=defaults.decision,
        help="decision service target: host:port, dns:///name:port, ipv4:a:p,b:p",
    )
    serve_cmd.add_argument(
        "--deadline-ms",
        type=float,
        default=defaults.deadline * 1000,
        help="answer {} when the decision takes longer than this",
    )
    serve_cmd.add_argument(
        "--max-body",
        type=int,
        default=defaults.max_body,
        help="largest accepted body in bytes (413 beyond)",
    )
    serve_cmd.add_argument(
        "--api-key-header",
        default=defaults.api_key_header,
        help="header carrying the API key (Authorization: Bearer always works)",
    )
    serve_cmd.add_argument(
        "--grace",
        type=float,
        default=defaults.grace_seconds,
        help="seconds in-flight requests get to finish on SIGTERM",
    )
    serve_cmd.set_defaults(run=_serve)

    dev_cmd = commands.add_parser("devstack", help="run decision + facade locally (make run)")
    dev_cmd.add_argument("--port", type=int, default=8080)
    dev_cmd.add_argument("--decision-port", type=int, default=50051)
    dev_cmd.add_argument("--rules", default="examples/rules.toml")
    dev_cmd.set_defaults(run=_devstack)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    return args.run(args)

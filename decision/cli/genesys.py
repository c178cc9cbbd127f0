"""`decision genesys pull`: a snapshot of the customer's Genesys Cloud org, for the rules.

Credentials come from the environment (`GENESYS_CLIENT_ID`, `GENESYS_CLIENT_SECRET` or
`GENESYS_CLIENT_SECRET_FILE`), the region from `GENESYS_REGION` or `--region`; the secret is
never taken from the command line, where `ps` would show it."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TextIO

from decision.genesys.api import GenesysApi, GenesysError
from decision.genesys.connect import ConfigError, genesys_api
from decision.genesys.snapshot import LISTS, Progress, SnapshotError, pull, write_snapshot


def terminal_progress(stream: TextIO) -> Progress:
    """A line per resource, rewritten in place as pages arrive (on a terminal only)."""
    state = {"resource": ""}

    def show(resource: str, count: int, pages: int) -> None:
        if resource != state["resource"] and state["resource"]:
            stream.write("\n")
        state["resource"] = resource
        stream.write(f"\r  {resource}: {count} ({pages} page{'s' if pages != 1 else ''})")
        stream.flush()

    return show


async def _pull(api: GenesysApi, region: str, progress: Progress) -> dict:
    try:
        return await pull(api, region, progress)
    finally:
        await api.close()


def _genesys_pull(args: argparse.Namespace) -> int:
    try:
        api, region = genesys_api(
            os.environ,
            args.client_id or "",
            args.client_secret_file or "",
            args.region or "",
            args.api_url or "",
            args.login_url or "",
            args.rate,
        )
    except ConfigError as error:
        print(f"genesys pull: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    on_terminal = sys.stderr.isatty()
    progress = terminal_progress(sys.stderr) if on_terminal else (lambda *_: None)
    try:
        document = asyncio.run(_pull(api, region, progress))
    except GenesysError as error:
        if on_terminal:
            sys.stderr.write("\n")
        print(f"genesys pull: {error}", file=sys.stderr)
        return 1
    if on_terminal:
        sys.stderr.write("\n")
    try:
        write_snapshot(document, args.output)
    except OSError as error:
        print(f"genesys pull: cannot write {args.output}: {error.strerror}", file=sys.stderr)
        return 1
    except SnapshotError as error:
        print(f"genesys pull: {error}", file=sys.stderr)
        return 1
    # "emergency groups: 1", not "1 emergency groups"
    counts = ", ".join(f"{key.replace('_', ' ')}: {len(document[key])}" for key in LISTS)
    print(
        f"{args.output}: {counts} from {region} (client {api.credentials.client_id}, "
        f"{api.requests} requests in {time.perf_counter() - started:.1f}s)"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    genesys_cmd = commands.add_parser("genesys", help="read the customer's Genesys Cloud org")
    genesys_sub = genesys_cmd.add_subparsers(dest="genesys_command", required=True)
    pull_cmd = genesys_sub.add_parser(
        "pull",
        help="write a snapshot of the org (queues, skills, languages, users, scripts, schedule "
        "groups, queue members) for the rules",
        description="Credentials: GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET (or "
        "GENESYS_CLIENT_SECRET_FILE) from the environment; region from GENESYS_REGION.",
        # No abbreviations: `--client-secret s` must be refused, not read as a secret file's
        # name (a secret typed on the command line is visible to every user of the machine).
        allow_abbrev=False,
    )
    pull_cmd.add_argument("--output", required=True, help="snapshot file to write (JSON)")
    pull_cmd.add_argument(
        "--region", help="the org's region (eu_west_1) or domain (mypurecloud.ie) [GENESYS_REGION]"
    )
    pull_cmd.add_argument("--client-id", help="OAuth client id [GENESYS_CLIENT_ID]")
    pull_cmd.add_argument(
        "--client-secret-file", help="file holding the client secret [GENESYS_CLIENT_SECRET_FILE]"
    )
    pull_cmd.add_argument("--api-url", help="API host, for private endpoints [GENESYS_API_URL]")
    pull_cmd.add_argument("--login-url", help="login host [GENESYS_LOGIN_URL]")
    pull_cmd.add_argument(
        "--rate",
        type=float,
        default=3.0,
        help="requests per second at most (default 3; 0: unpaced)",
    )
    pull_cmd.set_defaults(run=_genesys_pull)

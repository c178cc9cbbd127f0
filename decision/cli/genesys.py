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
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from decision.genesys.api import Credentials, GenesysApi, GenesysError
from decision.genesys.regions import RegionError, hosts
from decision.genesys.snapshot import LISTS, Progress, pull, write_snapshot


class ConfigError(ValueError):
    """Settings that cannot make a client: one line, exit 2."""


def genesys_api(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[GenesysApi, str]:
    """The client the flags and the environment describe, and the region it names."""
    client_id = args.client_id or env.get("GENESYS_CLIENT_ID", "")
    if not client_id:
        raise ConfigError("no OAuth client: set GENESYS_CLIENT_ID (or --client-id)")
    secret = env.get("GENESYS_CLIENT_SECRET", "")
    secret_file = args.client_secret_file or env.get("GENESYS_CLIENT_SECRET_FILE", "")
    if secret_file:
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(
                f"cannot read the client secret file {secret_file}: {reason}"
            ) from None
    if not secret:
        raise ConfigError(
            "no client secret: set GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_FILE "
            "(never a flag: the command line is visible to every user of the machine)"
        )
    region = args.region or env.get("GENESYS_REGION", "")
    api_url = args.api_url or env.get("GENESYS_API_URL", "")
    login_url = args.login_url or env.get("GENESYS_LOGIN_URL", "")
    if region:
        try:
            region_api, region_login = hosts(region)
        except RegionError as error:
            raise ConfigError(str(error)) from None
        api_url, login_url = api_url or region_api, login_url or region_login
    elif not (api_url and login_url):
        raise ConfigError(
            "no region: set GENESYS_REGION (e.g. eu_west_1 or mypurecloud.ie), or both "
            "--api-url and --login-url"
        )
    for flag, url in (("--api-url", api_url), ("--login-url", login_url)):
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{flag}: {url!r} is not an http(s) URL")
    api = GenesysApi(api_url, login_url, Credentials(client_id, secret), rate=args.rate)
    return api, region or api_url


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
        api, region = genesys_api(args, os.environ)
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
    counts = ", ".join(f"{len(document[key])} {key.replace('_', ' ')}" for key in LISTS)
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
        "--rate", type=float, default=3.0, help="requests per second at most (default 3)"
    )
    pull_cmd.set_defaults(run=_genesys_pull)

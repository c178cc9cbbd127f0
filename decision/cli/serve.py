"""`decision serve`: the gRPC decision service, from flags, DECISION_* variables and a file."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from decision.cli.directory_source import (
    DirectorySourceError,
    add_file_argument,
    directory_spec,
)
from decision.directory import DirectoryError
from decision.engine import RulesError
from decision.genesys.connect import ConfigError, genesys_api
from decision.service.settings import DecisionSettings
from plumbing import event_loop
from plumbing.graceful import hold_exit_signals
from plumbing.settings import (
    SettingsError,
    add_arguments,
    listen_problem,
    out_of_range,
    parse_duration,
    resolve,
)

# Values that would not fail at start but cost every call: a watch interval of 0 or less polls
# the rules file in a loop that takes a whole core from the event loop; no lookup time makes
# every caller unknown; no room in the decision log drops every entry.
_SERVE_RANGES = (
    ("watch_interval", 0.01, None),
    ("contacts_timeout_ms", 1, None),
    ("decision_log_buffer", 1, None),
    ("decision_log_buffer_bytes", 1, None),
    ("facade_max_connections", 1, None),
)


def _same_listener(settings: DecisionSettings) -> str | None:
    facades = settings.facade_listen
    if facades and facades == settings.listen and not facades.endswith(":0"):
        return f"--facade-listen and --listen are the same address ({facades}): give each its own"
    return None


def _serve(args: argparse.Namespace) -> int:
    from decision.service.runtime import serve

    try:
        settings = resolve(DecisionSettings, args, os.environ, "DECISION")
        contacts = directory_spec(args, os.environ, default=settings.contacts)
        settings = dataclasses.replace(settings, contacts=contacts)
    except (SettingsError, DirectorySourceError) as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    problem = (
        _loop_problem()
        or _refresh_problem(settings.genesys_refresh)
        or _live_problem(settings)
        or listen_problem("--listen", settings.listen)
        or listen_problem("--facade-listen", settings.facade_listen)
        or _same_listener(settings)
        or listen_problem("--metrics-listen", settings.metrics_listen)
        or out_of_range(settings, _SERVE_RANGES)
    )
    if problem:
        print(f"decision: {problem}", file=sys.stderr)
        return 2
    hold_exit_signals()
    try:
        event_loop.run(serve(settings))
    except RulesError as error:
        print(f"decision: rules not loaded:\n{error}", file=sys.stderr)
        return 2
    except DirectoryError as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    return 0


def _loop_problem() -> str | None:
    try:
        event_loop.chosen_loop()
    except event_loop.EventLoopChoiceError as error:
        return str(error)
    return None


def _refresh_problem(value: str) -> str | None:
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        return f"--genesys-refresh: {error}"
    if seconds < 60:
        return "--genesys-refresh: at least 1m (a pull makes a request per page of every listing)"
    try:  # the credentials are checked now, not at the first pull
        genesys_api(os.environ)
    except ConfigError as error:
        return f"--genesys-refresh: {error}"
    return None


def _live_problem(settings: DecisionSettings) -> str | None:
    if not settings.genesys_live:
        return None
    if settings.genesys_poll_interval < 1:
        return "--genesys-poll-interval: at least 1 s (each poll is a request or more)"
    stale = settings.genesys_stale_after
    if stale and stale < settings.genesys_poll_interval:
        return "--genesys-stale-after: at least the poll interval (0: 3 x the interval)"
    if settings.genesys_live_budget <= 0:
        return "--genesys-live-budget: more than 0 requests a minute"
    try:  # the credentials are checked now, not at the first poll
        genesys_api(os.environ)
    except ConfigError as error:
        return f"--genesys-live: {error}"
    return None


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve_cmd = commands.add_parser(
        "serve",
        help="run the gRPC decision service",
        description="Settings: flags beat DECISION_* variables beat the --config file.",
    )
    add_arguments(serve_cmd, DecisionSettings, "DECISION")
    add_file_argument(serve_cmd)  # beside --contacts: a file with the URL, password and all
    serve_cmd.set_defaults(run=_serve)

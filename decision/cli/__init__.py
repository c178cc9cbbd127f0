"""`callback-decision` (or `python -m decision`): serve the rules, check them, test them,
explain one decision."""

# One module per command group (serve, rules, contacts); each adds its commands here.

from __future__ import annotations

import argparse
import logging
from typing import NoReturn

from decision.cli import contacts, gate, genesys, rules, serve
from decision.service.settings import DecisionSettings
from plumbing.entry import quiet_when_the_reader_leaves
from plumbing.logs import configure_logging
from plumbing.settings import settings_epilog

COMMAND_GROUPS = (serve, rules, gate, contacts, genesys)


class CommandParser(argparse.ArgumentParser):
    """argparse, except that unrecognised arguments are named by their flags only: what follows
    one may be a secret typed where it must not be (`--client-secret s3cret`)."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            given = message.removeprefix(prefix).split()
            flags = [word.split("=", 1)[0] for word in given if word.startswith("-")]
            message = f"{prefix}{' '.join(flags) or f'{len(given)} words'} (values not shown)"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="callback-decision",  # pyproject.toml's console script, as the README spells it
        description=__doc__,
        epilog=settings_epilog(DecisionSettings, "DECISION", "callback-decision serve"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        configure_logging("decision")
    else:
        # A one-shot command reports by its own one line: a library's passing warning (a
        # directory's listener losing its connection as the command ends) is not for stderr.
        logging.getLogger().addHandler(logging.NullHandler())
    return quiet_when_the_reader_leaves(lambda: args.run(args))

"""How the command lines start and end, saying in one line (never a traceback) what a person
can do about the two ways a command ends that are not the command's fault: a Python without the
project's dependencies (`python -m decision` outside the venv), and a reader that went away
(`callback-decision test ... | head`)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

OWN_PACKAGES = ("contract", "decision", "facade", "plumbing")


def run_main(module: str, command: str) -> int:
    """Imports `module`'s `main` and runs it; `command` is the installed console script that
    the hint names (`callback-decision`)."""
    try:
        # Commands import what only they need when they run: a missing module may come late.
        main: Callable[[], int] = importlib.import_module(module).main
        return main()
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing in OWN_PACKAGES:
            raise
        print(
            f"{command}: this Python ({sys.executable}) lacks the project's dependencies "
            f"(no module {missing!r}): run `make venv` in the clone, then "
            f".venv/bin/{command} ...",
            file=sys.stderr,
        )
        return 2


def quiet_when_the_reader_leaves(command: Callable[[], int]) -> int:
    """Runs a command whose output may be piped into `head`: when the reader goes away, the
    command ends quietly (status 1), as Unix tools do, instead of with a traceback."""
    try:
        status = command()
        sys.stdout.flush()  # a pipe closed early fails here, inside the handler below
    except BrokenPipeError:
        # Python would flush stdout again at exit and print the same error: point it at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status

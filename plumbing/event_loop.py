"""The event loop both services run on: uvloop when it is installed (a pinned dependency on
Linux), plain asyncio otherwise or when asked. `CALLBACK_ROUTER_EVENT_LOOP` chooses: `auto` (the
default: uvloop if it imports), `uvloop` (required: the start fails without it) or `asyncio`.

Why: measured in a paired run, both processes on uvloop, unchanged otherwise, answered about 15%
more webhooks end to end (issue 21); Tornado and grpc.aio both run on any asyncio loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
VARIABLE = "CALLBACK_ROUTER_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


class EventLoopChoiceError(ValueError):
    """The variable names a loop this process cannot run; the message says which and why."""


def chosen_loop(environ: Mapping[str, str] = os.environ) -> str:
    """`uvloop` or `asyncio`: the loop `run` would use. Raises EventLoopChoiceError."""
    asked = environ.get(VARIABLE, "").strip().lower() or "auto"
    if asked not in CHOICES:
        raise EventLoopChoiceError(f"{VARIABLE}: {asked!r} is not one of {', '.join(CHOICES)}")
    if asked == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if asked == "uvloop":
            raise EventLoopChoiceError(f"{VARIABLE}=uvloop, but uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str] = os.environ) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(chosen_loop(environ))) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """`uvloop` or `asyncio`: what the running loop is (for the start line)."""
    return (
        "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
    )

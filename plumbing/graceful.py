"""Signal-driven graceful exit, shared by both services' entry points."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_early: list[signal.Signals] = []


def hold_exit_signals() -> None:
    """Until `wait_for_exit_signal` takes over, SIGTERM/SIGINT are remembered rather than
    killing the process half-started: a Ctrl-C just after "serving on" still exits cleanly."""
    for sig in _EXIT_SIGNALS:
        signal.signal(sig, lambda signum, frame: _early.append(signal.Signals(signum)))


async def wait_for_exit_signal(on_reload: Callable[[], object] | None = None) -> signal.Signals:
    """Returns when SIGTERM or SIGINT arrives; calls `on_reload` on each SIGHUP meanwhile."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def stop(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in _EXIT_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    if on_reload is not None:
        loop.add_signal_handler(signal.SIGHUP, on_reload)
    if _early:
        stop(_early[0])
    try:
        return await received
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

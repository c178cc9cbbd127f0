"""Signal-driven graceful exit, shared by both services' entry points."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


async def wait_for_exit_signal(on_reload: Callable[[], object] | None = None) -> signal.Signals:
    """Returns when SIGTERM or SIGINT arrives; calls `on_reload` on each SIGHUP meanwhile."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def stop(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    if on_reload is not None:
        loop.add_signal_handler(signal.SIGHUP, on_reload)
    try:
        return await received
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

"""Starts a service as a child process (`python -m <module> ...`) and knows when it serves:
`make run` starts both services with it, and so do the tests and the bench."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO

_READY = re.compile(r"serving on (?:https?://)?([\w.\-:\[\]]+?):(\d+)")


class ServiceProcess:
    """A service started as `python -m <module> ...`, ready once it prints its "serving on"
    line (which also tells the port when it was asked for port 0)."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 20.0,
        stderr: IO[str] | int | None = None,
        own_group: bool = False,
        launcher: Sequence[str] = (),
    ) -> None:
        """`own_group`: out of the caller's process group, so a Ctrl-C at the terminal reaches
        only the caller, which then stops the service itself (one signal, not a race of two).
        `launcher`: a command that execs the service (a test's `prlimit --nofile=256 --`)."""
        self.command = [*launcher, sys.executable, "-m", module, *args]
        self.ready_line = ""  # its "serving on" line, once it printed it
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **(env or {})},
            process_group=0 if own_group else None,
        )
        try:
            self.port = self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{' '.join(self.command)} exited with {self.process.wait()}")
            match = _READY.search(line)
            if match:
                self.ready_line = line.strip()
                return int(match[2])
        raise RuntimeError(f"{' '.join(self.command)} not ready after {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signals the process and waits for it; kills it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        return self.process.returncode

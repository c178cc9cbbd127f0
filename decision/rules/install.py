"""`decision install`: a checked rules file put in place of the live one in a single rename."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def install_rules(text: str, live: str | Path) -> None:
    """Puts `text` in place of the live rules file in one step: written beside it, flushed to
    disk, then renamed over it, so a watcher sees the old file or the new one, never part of one.
    A symlinked live file stays a symlink: its target is replaced."""
    target = Path(os.path.realpath(live))
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    # Beside the live file: a rename is atomic only within one filesystem.
    staging = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        "w",
        encoding="utf-8",
        newline="",
        dir=target.parent,
        prefix=f".{target.name}.",
        delete=False,
    )
    try:
        with staging:
            staging.write(text)
            staging.flush()
            os.fsync(staging.fileno())
        os.chmod(staging.name, mode)
        os.replace(staging.name, target)
    except BaseException:
        Path(staging.name).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)

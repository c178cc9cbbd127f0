"""Reading a file someone else may have put in place: opened without blocking and read only if it
is a regular file (a FIFO there would hold the reader, and an exit waiting for it, forever), and
never more than a bound."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """Something other than a regular file (a FIFO, a device, a socket) is at the path."""


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """At most `limit + 1` bytes of the file (more than `limit` means too large: the caller
    says so in its own words). A directory raises IsADirectoryError, anything else that is not
    a regular file NotRegularFile, a file that cannot be opened its OSError."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        return file.read(limit + 1)

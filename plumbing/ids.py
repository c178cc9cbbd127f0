"""Request and decision ids."""

from __future__ import annotations

import os


def new_id() -> str:
    """128 random bits in hex, like uuid4().hex at a third of the cost (it is on every request)."""
    return os.urandom(16).hex()

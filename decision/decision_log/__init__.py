"""The decision log: every decision as one JSON line, for audit and `decision replay`."""

"""API keys for the webhook: several at once (for rotation), compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from tornado.httputil import HTTPHeaders

BOM = "\ufeff"


class ApiKeys:
    def __init__(self, keys: Iterable[str], header: str = "X-API-Key") -> None:
        self.header = header
        self.replace(keys)

    def replace(self, keys: Iterable[str]) -> None:
        """Swaps the whole set at once (key rotation)."""
        self._keys = tuple(k.encode() for k in self.check(keys))

    @staticmethod
    def check(keys: Iterable[str]) -> list[str]:
        """The usable keys of `keys`; ValueError when there is none."""
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise ValueError("no API key configured")
        return cleaned

    def presented(self, headers: HTTPHeaders) -> bytes | None:
        """The key the request carries: the configured header, or `Authorization: Bearer`."""
        key = _agreed(headers.get_list(self.header))
        if key == "":  # absent or blank: a blank header carries no key to prefer
            bearer = (v.partition(" ") for v in headers.get_list("Authorization"))
            key = _agreed(token for scheme, _, token in bearer if scheme.lower() == "bearer")
        return key.encode() if key else None

    def allows(self, headers: HTTPHeaders) -> bool:
        given = self.presented(headers)
        if given is None:
            return False
        # Compare with every key, without stopping at a match, so timing says nothing about
        # which key (or how much of one) matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(key, given)
        return matched


def _agreed(values: Iterable[str]) -> str | None:
    """The one key a header sent once or more carries: a gateway that adds the client's key
    again sends the same key twice, which is that key; two different keys are none
    ("" when there is no key, None when they disagree)."""
    keys = {value.strip() for value in values} - {""}
    if len(keys) > 1:
        return None
    return keys.pop() if keys else ""


def keys_from_text(text: str) -> list[str]:
    """Keys separated by commas or newlines; blank lines and lines starting with # are ignored.
    A byte-order mark (what Notepad writes first, or `cat` leaves between two files) is not
    part of a key."""
    keys: list[str] = []
    for line in text.replace(",", "\n").splitlines():
        line = line.replace(BOM, "").strip()
        if line and not line.startswith("#"):
            keys.append(line)
    return keys

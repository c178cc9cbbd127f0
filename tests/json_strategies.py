"""Hypothesis strategies for webhook bodies, the awkward ones included: half of a surrogate pair
(what JavaScript leaves when it cuts a string through an emoji) and integers past the 4,300
digits Python's int() takes, in known fields, extra fields, keys and nested values."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from contract.callback import WEBHOOK


class LongInteger:
    """Stands for an integer literal of `digits` digits, written by `render`."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


_LONG = re.compile(r'"@@long(\d+)@@"')


def render(document: Any) -> str:
    """The document as JSON text (surrogates escaped as \\udXXX, as JavaScript writes them),
    each LongInteger written out as digits."""
    text = json.dumps(document, default=lambda long: f"@@long{long.digits}@@")
    return _LONG.sub(lambda match: "9" * int(match[1]), text)


lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.text(max_size=40) | st.builds(
    lambda before, half, after: before + half + after,
    st.text(max_size=10),
    lone_surrogates,
    st.text(max_size=10),
)
long_integers = st.builds(LongInteger, st.sampled_from([4300, 4301, 5000]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts | long_integers,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
known_fields = st.sampled_from(sorted(WEBHOOK))
payloads = st.dictionaries(known_fields | texts, json_values, max_size=10)
phones = st.dictionaries(
    st.sampled_from(["phoneNumber", "countryCode"]),
    st.text(alphabet="+0123456789 ()-", max_size=20),
)
bodies = (payloads | phones | json_values).map(render)

"""API keys: which headers carry one, several keys at once, and rotation from a keys file."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPHeaders

from facade.app import load_keys
from facade.auth import ApiKeys, keys_from_text
from facade.config import FacadeSettings


def headers(**given: str) -> HTTPHeaders:
    return HTTPHeaders({name.replace("_", "-"): value for name, value in given.items()})


def test_every_configured_key_is_accepted_and_nothing_else():
    keys = ApiKeys(["first-key", "second-key"])
    assert keys.allows(headers(X_API_Key="first-key"))
    assert keys.allows(headers(X_API_Key="second-key"))
    for wrong in ("first-ke", "first-keyy", "FIRST-KEY", "", "first-key,second-key"):
        assert not keys.allows(headers(X_API_Key=wrong))
    assert not keys.allows(headers())


def test_bearer_works_beside_the_configured_header():
    keys = ApiKeys(["k-123"], header="X-TrueEngage-Key")
    assert keys.allows(headers(X_TrueEngage_Key="k-123"))
    assert keys.allows(headers(Authorization="Bearer k-123"))
    assert keys.allows(headers(Authorization="bearer  k-123"))
    assert not keys.allows(headers(Authorization="Basic k-123"))
    assert not keys.allows(headers(X_API_Key="k-123"))  # not the configured header


def test_the_configured_header_wins_over_authorization():
    keys = ApiKeys(["k-123"])
    assert not keys.allows(headers(X_API_Key="wrong", Authorization="Bearer k-123"))


def test_a_blank_configured_header_carries_no_key_and_leaves_the_bearer_to_speak():
    """A client stack that always sends the header, empty, must not turn a valid Bearer key
    into failed authentications (which spend the address's budget up to a 429)."""
    keys = ApiKeys(["k-123"])
    assert keys.allows(headers(X_API_Key="", Authorization="Bearer k-123"))
    assert keys.allows(headers(X_API_Key=" ", Authorization="Bearer k-123"))
    assert not keys.allows(headers(X_API_Key="", Authorization="Bearer wrong"))


def test_a_key_header_sent_twice_counts_once_if_both_say_the_same():
    """Tornado joins repeated headers with a comma; the same valid key twice (a gateway adding
    it again) was a failed authentication, and then a 429, for a client holding a valid key."""
    keys = ApiKeys(["k-123"])
    twice = HTTPHeaders()
    twice.add("X-API-Key", "k-123")
    twice.add("X-API-Key", "k-123")
    assert keys.allows(twice)
    twice.add("X-API-Key", "other")  # and a different one beside it is no key at all
    assert not keys.allows(twice)
    bearer_twice = HTTPHeaders()
    bearer_twice.add("Authorization", "Bearer k-123")
    bearer_twice.add("Authorization", "Bearer k-123")
    assert keys.allows(bearer_twice)


def test_surrounding_blanks_are_ignored():
    keys = ApiKeys([" k-123 \n"])
    assert keys.allows(headers(X_API_Key="k-123 "))


def test_an_empty_key_set_is_refused_and_keeps_the_old_one():
    with pytest.raises(ValueError, match="no API key configured"):
        ApiKeys(["", "  "])
    keys = ApiKeys(["old"])
    with pytest.raises(ValueError, match="no API key configured"):
        keys.replace([" "])
    assert keys.allows(headers(X_API_Key="old"))


def test_replace_swaps_the_whole_set():
    keys = ApiKeys(["old"])
    keys.replace(["new-1", "new-2"])
    assert not keys.allows(headers(X_API_Key="old"))
    assert keys.allows(headers(X_API_Key="new-2"))


def test_keys_text_takes_commas_newlines_and_comments():
    text = "# rotated monthly\nkey-a, key-b\n\n  key-c  \n#key-d\n"
    assert keys_from_text(text) == ["key-a", "key-b", "key-c"]


def test_keys_come_from_the_settings_and_the_keys_file(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("from-file\n")
    settings = FacadeSettings(api_keys=("inline",), api_keys_file=str(keys_file))
    assert load_keys(settings) == ["inline", "from-file"]
    keys_file.unlink()
    with pytest.raises(FileNotFoundError):
        load_keys(settings)

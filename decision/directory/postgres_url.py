"""A PostgreSQL directory URL, read as libpq reads it: its name for messages (no password), the
secrets to blot out of every message and log line, and, before any connection is tried, a
one-line refusal of a URL that libpq would misread or reject.

Redaction is exact: the password (as written in the URL, and as libpq decodes it) is replaced
wherever it shows, and nothing else is touched. That is only possible because a URL libpq would
split elsewhere than its writer meant (an unencoded `@` or `/` in the password: libpq would
connect to host `rest-of-password@db` and print it) is refused rather than guessed at."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import unquote

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from decision.directory import DirectoryError

MASK = "***"
# Options are checked by libpq itself, on a connection started to this address and dropped at
# once: Linux refuses a TCP connect to the broadcast address before sending anything
# (ENETUNREACH), so libpq validates every option it would use and no packet leaves the machine.
NOWHERE = "255.255.255.255"
# The loggers whose lines may carry what libpq said about a URL: psycopg's, its pool's (it logs
# each failed connection attempt), the directory's own.
REDACTED_LOGGERS = ("psycopg", "psycopg.pool", "decision.directory")
AMBIGUOUS = (
    "the contact directory URL has an `@` or `/` that is not percent-encoded in its user name "
    "or password, or a second `@` (not shown: it holds a password); libpq would read part of "
    "the password as the host. Write `@` as %40 and `/` as %2F"
)
# Query keywords that hold a secret, as libpq reads them (percent-decoded: `pass%77ord`).
_SECRET_KEYWORDS = ("password", "sslpassword")


def _blotted(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with each of `secrets` (longest first) replaced by MASK: exactly, nothing else."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class DirectoryUrl:
    """A URL checked by `read_url`: `where` names it in messages, `redact` cleans any text."""

    url: str
    where: str
    secrets: tuple[str, ...]  # longest first, so a password's longer spelling goes before it

    def redact(self, text: str) -> str:
        return _blotted(text, self.secrets)

    def first_line(self, error: BaseException) -> str:
        """The driver's message, first line, redacted."""
        return self.redact((str(error).strip().splitlines() or [type(error).__name__])[0])


class RedactingFilter(logging.Filter):
    """Blots every registered secret out of a record: message, arguments, exception, extras.
    Secrets stay registered once added: a pool's thread may log after its directory closed."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def add(self, secrets: tuple[str, ...]) -> None:
        self.secrets = tuple(sorted({*self.secrets, *secrets}, key=len, reverse=True))

    def _redact(self, text: str) -> str:
        return _blotted(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: shown apart
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self._redact(message), None
        if record.exc_info:
            # Formatted now, redacted, and kept where both kinds of formatter look for it.
            text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info, record.exc_text = None, text
            record.error = text  # the field the services' JSON log lines show it in
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in ("msg", "exc_text"):
                setattr(record, key, self._redact(value))
        return True


# Installed when this module is first imported, that is when a PostgreSQL directory first opens;
# each URL read registers its secrets.
_FILTER = RedactingFilter()
for _name in REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def _written(url: str) -> tuple[str, str, str, str]:
    """(scheme://, user, password as written, what follows the userinfo) as libpq splits them:
    the userinfo ends at the first `@`, if one comes before any `/`. Raises DirectoryError when
    that split cannot be what the writer meant."""
    scheme, _, rest = url.partition("://")
    at, slash = rest.find("@"), rest.find("/")
    if rest.count("@") > 1 or (at != -1 and slash != -1 and slash < at):
        raise DirectoryError(AMBIGUOUS)
    userinfo, _, location = rest.rpartition("@")
    user, _, password = userinfo.partition(":")
    return f"{scheme}://", user, password, location


def _secrets(password: str, query: str, parsed: dict[str, str] | None) -> tuple[str, ...]:
    in_query = [
        value
        for key, _, value in (item.partition("=") for item in query.split("&"))
        if unquote(key).lower() in _SECRET_KEYWORDS
    ]
    written = [password, *in_query]
    found = {*written, *(unquote(w) for w in written), os.environ.get("PGPASSWORD", "")}
    if parsed is not None:
        found.update(parsed.get(key, "") for key in _SECRET_KEYWORDS)
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def _attempt(params: dict[str, str]) -> list[str]:
    """libpq's complaints, one a line without its hints, when it starts a connection with
    `params` (none when the connection gets under way)."""
    connection = pq.PGconn.connect_start(make_conninfo("", **params).encode())
    try:
        if connection.status != pq.ConnStatus.BAD:
            return []
        message = connection.error_message.decode("utf-8", "replace")
    finally:
        connection.finish()
    return [line.strip() for line in message.splitlines() if line.strip() and line[0] != "\t"]


def _rejected_option(parsed: dict[str, str]) -> str | None:
    """What libpq rejects in the URL's options (sslmode=bogus, a port of 99999, an unknown
    service), or None: a connection is started with every option but the address, which is
    NOWHERE. A complaint that the same attempt with only the hosts and ports does not make, or
    that is not about NOWHERE (a bad port), is the options'; comparing the two attempts keeps
    this true in whatever language libpq speaks."""
    hosts = parsed.get("host", "").split(",")
    nowhere = {"hostaddr": ",".join([NOWHERE] * len(hosts))}
    nowhere |= {key: parsed[key] for key in ("host", "port") if key in parsed}
    unreachable = _attempt(nowhere)
    rejected = [
        line
        for line in _attempt({**parsed, **nowhere})
        if line not in unreachable or NOWHERE not in line
    ]
    return rejected[0] if rejected else None


def read_url(url: str) -> DirectoryUrl:
    """The URL checked and named, its secrets registered with the log filter; DirectoryError
    with one line (naming the directory, never its password) when libpq would misread or reject
    it. Starts no connection to any server."""
    scheme, user, password, location = _written(url)
    location, _, query = location.partition("?")
    location = location.split("#", 1)[0]
    where = f"{scheme}{user}{'@' if user else ''}{location}"
    try:
        parsed = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.Error as error:
        unparsed = DirectoryUrl(url, where, _secrets(password, query, None))
        _FILTER.add(unparsed.secrets)
        raise DirectoryError(f"{where}: {unparsed.first_line(error)}") from None
    checked = DirectoryUrl(url, where, _secrets(password, query, parsed))
    _FILTER.add(checked.secrets)
    rejected = _rejected_option(parsed)
    if rejected:
        raise DirectoryError(f"{where}: {checked.redact(rejected)}")
    return checked

"""Where `decision contacts import` reads its CSV: a file, `-` (standard input) or an
`https://` URL (a CRM's or object storage's export), always as a stream of text lines, so a
CronJob pulls an export of any size without holding the file or a ConfigMap's 1 MiB limit.

The URL's bearer token comes from the environment (`DECISION_CONTACTS_IMPORT_TOKEN`, or a file
named by `DECISION_CONTACTS_IMPORT_TOKEN_FILE`, such as a mounted Secret), never from the
command line, where every user of the machine sees it; it is sent to the URL's host only (never
after a redirect) and never printed. A private CA: `--ca-file` or
`DECISION_CONTACTS_IMPORT_CA_FILE`."""

from __future__ import annotations

import contextlib
import io
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import TextIO

from plumbing.files import read_regular_file

TOKEN_VARIABLE = "DECISION_CONTACTS_IMPORT_TOKEN"
TOKEN_FILE_VARIABLE = "DECISION_CONTACTS_IMPORT_TOKEN_FILE"
CA_FILE_VARIABLE = "DECISION_CONTACTS_IMPORT_CA_FILE"
# A server that stops sending for this long ends the import (the socket's timeout per read).
READ_TIMEOUT = 60.0
TOKEN_LIMIT = 16384


class ContactsSourceError(Exception):
    """Why the CSV cannot be read from where it was said to be, in one line."""


def shown(source: str) -> str:
    """The source as messages name it: a URL without its query or fragment (a signed URL
    carries its credential there) and without any user:password."""
    if not source.startswith(("https://", "http://")):
        return source
    parts = urllib.parse.urlsplit(source)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _token(env: Mapping[str, str]) -> str:
    token, token_file = env.get(TOKEN_VARIABLE, ""), env.get(TOKEN_FILE_VARIABLE, "")
    if token and token_file:
        raise ContactsSourceError(f"set {TOKEN_VARIABLE} or {TOKEN_FILE_VARIABLE}, not both")
    if token_file:
        try:
            data = read_regular_file(token_file, TOKEN_LIMIT)
        except OSError as error:
            raise ContactsSourceError(
                f"{TOKEN_FILE_VARIABLE}: cannot read {token_file}: {error.strerror or error}"
            ) from None
        if len(data) > TOKEN_LIMIT:
            raise ContactsSourceError(f"{TOKEN_FILE_VARIABLE}: {token_file} is not a token")
        try:
            return data.decode().strip()
        except UnicodeDecodeError:
            raise ContactsSourceError(f"{TOKEN_FILE_VARIABLE}: {token_file} is not text") from None
    return token.strip()


class _NoTokenOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follows a redirect to the same host only: the token must not reach another one (it is
    an unredirected header, so urllib would drop it, but the export would then be fetched
    from wherever the redirect pointed, without a word)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (new.scheme, new.netloc) != (old.scheme, old.netloc):
            raise ContactsSourceError(
                f"{shown(req.full_url)}: redirected to another host ({new.hostname}); "
                "give the export's own URL"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as error:
        raise ContactsSourceError(f"CA file {ca_file}: cannot be read as PEM ({error})") from None


@contextlib.contextmanager
def _from_url(source: str, env: Mapping[str, str], ca_file: str) -> Iterator[TextIO]:
    name = shown(source)
    if not source.startswith("https://"):
        raise ContactsSourceError(
            f"{name}: only https:// URLs (the export holds personal data and the request a token)"
        )
    request = urllib.request.Request(source, headers={"Accept": "text/csv"})
    token = _token(env)
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    context = _context(ca_file or env.get(CA_FILE_VARIABLE, ""))
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoTokenOnRedirect()
    )
    try:
        response = opener.open(request, timeout=READ_TIMEOUT)
    except urllib.error.HTTPError as error:
        error.close()
        hint = " (check the token)" if error.code in (401, 403) else ""
        raise ContactsSourceError(f"{name}: HTTP {error.code} {error.reason}{hint}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise ContactsSourceError(
                f"{name}: the server's certificate is not trusted ({reason.verify_message}); "
                f"a private CA: --ca-file or {CA_FILE_VARIABLE}"
            ) from None
        why = getattr(reason, "strerror", None) or reason
        raise ContactsSourceError(f"{name}: cannot fetch: {why}") from None
    except (OSError, ValueError) as error:  # a timeout, a malformed URL
        raise ContactsSourceError(f"{name}: cannot fetch: {error}") from None
    with response:
        yield io.TextIOWrapper(response, encoding="utf-8-sig", newline="")


@contextlib.contextmanager
def open_contacts_source(
    source: str, env: Mapping[str, str], ca_file: str = ""
) -> Iterator[TextIO]:
    """The CSV's text, read as it arrives; Excel's BOM dropped. Raises ContactsSourceError, or
    OSError for a file that cannot be opened."""
    if source == "-":
        yield io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    elif "://" in source:
        with _from_url(source, env, ca_file) as stream:
            yield stream
    else:
        with open(source, newline="", encoding="utf-8-sig") as stream:
            yield stream

"""A client of the Genesys Cloud Platform API made for the few GETs (and one POST) we need, by the
reference `genesys-org-api.md`: OAuth client credentials (one token, renewed before it expires
and once when refused), page-number listings followed to the end whatever page size the API
really used, and rate limits honoured (429 and 502/503/504 wait `Retry-After`, or 3 s; a wait
above 180 s, or too many in a row, gives up with one line). Requests are paced (3 a second by
default, well inside the 300 a minute one token may make) and never leave the secret or the
token in an error.

Tornado's HTTP client, which the facade already uses: no new dependency, and a dozen endpoints
polled at most every few seconds do not need a pool of kept-alive connections."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

RETRYABLE = frozenset({429, 502, 503, 504})
DEFAULT_WAIT = 3.0  # when a 429 or 5xx says no Retry-After (the Java SDK's default)
MAX_RETRY_AFTER = 180.0  # a longer wait is a daily limit, not a burst: give up (reference, 4)
MAX_ATTEMPTS = 8  # of one request, before giving up
TOKEN_MARGIN = 60.0  # renew this long before the token expires

# The permission a 403 most likely lacks, by path prefix (reference, section 5).
PERMISSIONS = (
    ("/api/v2/routing/queues/", "routing:queue:view"),
    ("/api/v2/routing/queues", "routing:queue:view"),
    ("/api/v2/routing/skills", "routing:skill:view"),
    ("/api/v2/scripts/published", "scripter:publishedScript:view"),
    ("/api/v2/architect/schedulegroups", "routing:scheduleGroup:view"),
    ("/api/v2/architect/schedules", "routing:schedule:view"),
    ("/api/v2/architect/emergencygroups", "routing:emergencyGroup:view"),
    ("/api/v2/analytics/queues/observations", "analytics:queueObservation:view"),
    ("/api/v2/users", "directory:user:view"),
)


class GenesysError(RuntimeError):
    """Genesys could not be asked, or refused: one line, naming the host or resource, never a
    secret or a token."""


class NotFound(GenesysError):
    """404: gone, or not visible to this OAuth client."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)


Sleep = Callable[[float], Awaitable[object]]


@dataclass
class _Token:
    value: str
    renew_at: float


class GenesysApi:
    """One org's API, with one token. Use inside one event loop; `close` at the end."""

    def __init__(
        self,
        api_url: str,
        login_url: str,
        credentials: Credentials,
        rate: float = 3.0,
        timeout: float = 20.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`rate`: requests per second at most; `sleep` and `clock` are injected by tests."""
        self.api_url = api_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.requests = 0  # made, for the request budget
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0  # no request before this instant (pacing, Retry-After)
        # A longer Retry-After is given up on (the live poller gives up sooner: its state
        # would be stale before the wait ended).
        self.max_retry_after = MAX_RETRY_AFTER
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._http = AsyncHTTPClient(force_instance=True)

    async def close(self) -> None:
        self._http.close()

    # -- requests -------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        return await self._call("GET", path, params, None)

    async def post(self, path: str, body: object) -> Any:
        return await self._call("POST", path, None, body)

    async def listing(
        self, path: str, params: Mapping[str, object] | None = None, page_size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a page-number listing, to the end: by `pageCount` where the listing
        has one, else by `nextUri` (queue members), stopping at an empty page. The API may use a
        smaller page size than asked: nothing here assumes it honours ours."""
        number = 1
        while True:
            page = await self.get(
                path, {**(params or {}), "pageSize": page_size, "pageNumber": number}
            )
            entities = page.get("entities") or []
            if entities:
                yield entities
            if not entities:
                return
            count = page.get("pageCount")
            if isinstance(count, int) and not isinstance(count, bool):
                if number >= count:
                    return
            elif not page.get("nextUri"):
                return
            number += 1

    async def _call(
        self, method: str, path: str, params: Mapping[str, object] | None, body: object
    ) -> Any:
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        refused_once = False
        for _ in range(MAX_ATTEMPTS):
            token = await self._bearer()
            response = await self._send(
                HTTPRequest(
                    f"{self.api_url}{path}{query}",
                    method=method,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Accept": "application/json",
                        **({"Content-Type": "application/json"} if body is not None else {}),
                    },
                    body=json.dumps(body) if body is not None else None,
                    request_timeout=self.timeout,
                ),
                self.api_url,
            )
            code = response.code
            if code == 200:
                return _json(response, path)
            if code == 401 and not refused_once:
                # Expired or revoked: one new token, one retry (reference, section 2).
                refused_once = True
                self._token = None
                continue
            if code == 401:
                raise GenesysError(
                    f"{path}: the API refused a fresh token (401): is the OAuth client "
                    f"{self.credentials.client_id} disabled?"
                )
            if code in RETRYABLE:
                self._wait_as_told(response, path)
                continue
            if code == 403:
                raise GenesysError(
                    f"{path}: permission missing (403): the OAuth client "
                    f"{self.credentials.client_id} needs {_permission(path)} (and the division)"
                )
            if code == 404:
                raise NotFound(f"{path}: not found (404)")
            raise GenesysError(f"{path}: HTTP {code} from {self.api_url}")
        raise GenesysError(
            f"{path}: gave up after {MAX_ATTEMPTS} attempts (rate limited or failing)"
        )

    async def _send(self, request: HTTPRequest, host: str) -> HTTPResponse:
        """Paced; the response whatever its status; unreachable hosts as GenesysError."""
        now = self._clock()
        if now < self._not_before:
            await self._sleep(self._not_before - now)
        self._not_before = max(self._clock(), self._not_before) + self._interval
        self.requests += 1
        try:
            return await self._http.fetch(request, raise_error=False)
        except HTTPClientError as error:  # 599: a timeout or a broken connection
            raise GenesysError(f"cannot reach {host}: {error.message}") from None
        except OSError as error:
            raise GenesysError(f"cannot reach {host}: {error.strerror or error}") from None

    def _wait_as_told(self, response: HTTPResponse, what: str) -> None:
        """Sets the instant before which no request goes: Retry-After, or 3 s."""
        header = response.headers.get("Retry-After", "")
        try:
            wait = float(header) if header else DEFAULT_WAIT
        except ValueError:
            wait = DEFAULT_WAIT
        # Kept even when given up on: a later request of this client waits as told.
        self._not_before = max(self._not_before, self._clock() + max(wait, 0.0))
        if wait > self.max_retry_after:
            if self.max_retry_after < MAX_RETRY_AFTER:
                raise GenesysError(
                    f"{what}: Genesys asks to wait {wait:g} s ({response.code}); not waited "
                    f"for (more than {self.max_retry_after:g} s)"
                )
            raise GenesysError(
                f"{what}: Genesys asks to wait {wait:g} s ({response.code}); more than "
                f"{MAX_RETRY_AFTER:g} s is a daily limit: giving up"
            )

    # -- the token ----------------------------------------------------------------------------

    async def _bearer(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token.value
        async with self._token_lock:  # one renewal for every waiting request
            token = self._token
            if token is None or self._clock() >= token.renew_at:
                token = self._token = await self._fetch_token()
            return token.value

    async def _fetch_token(self) -> _Token:
        basic = base64.b64encode(
            f"{self.credentials.client_id}:{self.credentials.client_secret}".encode()
        ).decode()
        for _ in range(MAX_ATTEMPTS):
            response = await self._send(
                HTTPRequest(
                    f"{self.login_url}/oauth/token",
                    method="POST",
                    headers={
                        "Authorization": f"Basic {basic}",
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                    body="grant_type=client_credentials",
                    request_timeout=self.timeout,
                ),
                self.login_url,
            )
            if response.code in RETRYABLE:
                self._wait_as_told(response, "/oauth/token")
                continue
            if response.code in (400, 401, 403):
                raise GenesysError(
                    f"{self.login_url}: the client credentials were refused "
                    f"({response.code}) for OAuth client {self.credentials.client_id}: check "
                    "GENESYS_CLIENT_ID and the secret, and that the client uses the "
                    "client-credentials grant"
                )
            if response.code != 200:
                raise GenesysError(f"{self.login_url}: HTTP {response.code} for a token")
            document = _json(response, "/oauth/token")
            value = document.get("access_token") if isinstance(document, dict) else None
            if not isinstance(value, str) or not value:
                raise GenesysError(f"{self.login_url}: no access_token in the answer")
            lifetime = document.get("expires_in", 86399)
            lifetime = lifetime if isinstance(lifetime, int | float) else 86399
            margin = min(TOKEN_MARGIN, lifetime / 2)
            return _Token(value, self._clock() + lifetime - margin)
        raise GenesysError(
            f"{self.login_url}: gave up asking for a token after {MAX_ATTEMPTS} tries"
        )


def _json(response: HTTPResponse, what: str) -> Any:
    try:
        return json.loads(response.body or b"null")
    except ValueError:
        raise GenesysError(f"{what}: the answer is not JSON") from None


def _permission(path: str) -> str:
    return next((p for prefix, p in PERMISSIONS if path.startswith(prefix)), "a permission")

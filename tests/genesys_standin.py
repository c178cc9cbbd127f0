"""A loopback stand-in of the Genesys Cloud Platform API, written from the org API reference
(genesys-org-api.md; section 8 says what it must imitate): two real Tornado HTTP servers on
127.0.0.1, the login host (`POST /oauth/token`) and the API host (`/api/v2/...`), run by their own
event loop on a thread, so blocking and async tests alike point a client at `login_url` and
`api_url`. It serves the example org of tests/genesys_org.py; while it runs a test changes the
org and live state, turns its clock, revokes tokens, injects 429, 403 and 5xx answers, and reads
the log of every call it answered."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

import tornado.httpserver
import tornado.netutil
import tornado.web

from tests.genesys_org import (
    JSON,
    PRESENCE_DEFINITIONS,
    ROUTING_STATUSES,
    GenesysOrg,
    QueueMembership,
)
from tests.in_process import EventLoopThread

# Listings by route, the keys of `cap_page_size`.
QUEUES = "/api/v2/routing/queues"
MEMBERS = "/api/v2/routing/queues/{queueId}/members"
SKILLS = "/api/v2/routing/skills"
LANGUAGES = "/api/v2/routing/languages"
USERS = "/api/v2/users"
USER_QUEUES = "/api/v2/users/{userId}/queues"
SCRIPTS = "/api/v2/scripts/published"
SCHEDULE_GROUPS = "/api/v2/architect/schedulegroups"
SCHEDULES = "/api/v2/architect/schedules"
EMERGENCY_GROUPS = "/api/v2/architect/emergencygroups"
LISTINGS = (QUEUES, MEMBERS, SKILLS, LANGUAGES, USERS, USER_QUEUES, SCRIPTS, SCHEDULE_GROUPS)
LISTINGS += (SCHEDULES, EMERGENCY_GROUPS)

DEFAULT_PAGE_SIZE = 25
# Members are capped at 100 (section 3.3); the other caps are not stated, CX as Code pages at 500.
DEFAULT_PAGE_CAPS = {MEMBERS: 100}
UNSTATED_PAGE_CAP = 500
BULK_PRESENCE_IDS = 50

USER_METRICS = {"oActiveUsers", "oMemberUsers", "oOffQueueUsers", "oOnQueueUsers"}
USER_METRICS |= {"oUserPresences", "oUserRoutingStatuses"}
METRICS = USER_METRICS | {"oAlerting", "oInteracting", "oWaiting"}
INTENTS = {"all": "ALL", "call": "CALL", "callback": "CALLBACK", "chat": "CHAT", "email": "EMAIL"}
INTENTS |= {"videoComm": "VIDEOCOMM", "message": "MESSAGE"}

# Section 8.2 and 8.5; the 403 and 5xx bodies are plausible shapes, not documented ones.
BAD_CREDENTIALS = {
    "message": "Invalid login credentials.",
    "code": "bad.credentials",
    "status": 401,
}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "client not found"}
SERVER_ERROR_CODES = {500: "internal.server.error", 502: "bad.gateway", 503: "service.unavailable"}
SERVER_ERROR_CODES |= {504: "gateway.timeout"}


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered."""

    host: str  # "login" or "api"
    method: str
    path: str
    query: dict[str, list[str]]
    token: str | None  # the bearer presented to the API host, valid or not
    status: int
    body: Any = None  # a JSON request body (observation queries), parsed


@dataclass
class StandinClock:
    """The stand-in's own time in seconds, which only the test moves: token lifetimes and
    per-minute budgets are counted on it, so no test sleeps."""

    now: float = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class IssuedToken:
    value: str
    expires_at: float
    revoked: bool = False


@dataclass
class Injection:
    """A fault for calls whose path starts with `path`: every `every`-th of them is answered
    `status`, `times` times in all (None: for as long as it is set)."""

    status: int
    path: str
    times: int | None
    every: int
    retry_after: int | None
    seen: int = 0

    def fires(self, path: str) -> bool:
        if not path.startswith(self.path) or self.times == 0:
            return False
        self.seen += 1
        if self.seen % self.every:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    raw_query: str
    authorization: str
    content_type: str
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    """A parameter Genesys would refuse: answered 400."""


def _error(status: int, message: str, code: str) -> _Reply:
    return _Reply(status, {"message": message, "code": code, "status": status})


def _not_found(path: str) -> _Reply:
    return _error(404, f"The requested resource {path} was not found.", "not.found")


def _values(query: dict[str, list[str]], name: str) -> list[str]:
    """A list parameter, repeated or comma-joined as the Python SDK sends it (section 5)."""
    return [value for raw in query.get(name, []) for value in raw.split(",") if value]


def _integer(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    if not raw.isdigit() or int(raw) < 1:
        raise _BadRequest(f"{name} must be a positive integer, not {raw!r}")
    return int(raw)


def _flag(query: dict[str, list[str]], name: str, default: bool | None) -> bool | None:
    raw = query.get(name, [""])[-1].lower()
    if raw == "":
        return default
    if raw not in ("true", "false"):
        raise _BadRequest(f"{name} must be true or false, not {raw!r}")
    return raw == "true"


def _predicate_values(query_filter: Any, dimension: str) -> list[str]:
    """The values a `QueueObservationQuery` filter matches on `dimension`, at both levels."""
    if not isinstance(query_filter, dict):
        raise _BadRequest("filter is required")
    predicates = list(query_filter.get("predicates") or [])
    for clause in query_filter.get("clauses") or []:
        predicates += clause.get("predicates") or []
    return [
        p["value"]
        for p in predicates
        if p.get("dimension") == dimension and p.get("operator", "matches") == "matches"
    ]


class GenesysStandin:
    """Both Genesys hosts on loopback ports around one `GenesysOrg`; a context manager."""

    def __init__(
        self,
        org: GenesysOrg | None = None,
        client_id: str = "loopback-client-id",
        client_secret: str = "loopback-client-secret",
        expires_in: int = 86399,
    ) -> None:
        self.org = org or GenesysOrg()
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.clock = StandinClock()
        self.page_caps: dict[str, int] = dict(DEFAULT_PAGE_CAPS)
        self._tokens: list[IssuedToken] = []
        self._injections: list[Injection] = []
        self._forbidden: dict[str, str] = {}  # path prefix -> missing permission
        self._budget: tuple[int, int | None] | None = None
        self._silent = False
        self._spent: dict[tuple[str, int], int] = {}
        self._calls: list[Call] = []
        self._lock = threading.RLock()
        self._logged = threading.Condition(self._lock)
        self._routes = [
            (method, re.compile(_pattern(route)), answer) for method, route, answer in self._table()
        ]
        self._loop = EventLoopThread()
        self._servers: list[tornado.httpserver.HTTPServer] = []
        login_port = self._loop.run(self._listen("login"))
        api_port = self._loop.run(self._listen("api"))
        self.login_url = f"http://127.0.0.1:{login_port}"
        self.api_url = f"http://127.0.0.1:{api_port}"

    # --- what tests call -------------------------------------------------------------------

    @contextmanager
    def editing(self) -> Iterator[GenesysOrg]:
        """The org, for a test to change while no request is being answered."""
        with self._lock:
            yield self.org

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.clock.advance(seconds)

    def env(self) -> dict[str, str]:
        """The variables a service or command needs to talk to this stand-in."""
        return {
            "GENESYS_CLIENT_ID": self.client_id,
            "GENESYS_CLIENT_SECRET": self.client_secret,
            "GENESYS_API_URL": self.api_url,
            "GENESYS_LOGIN_URL": self.login_url,
        }

    @property
    def tokens(self) -> list[str]:
        """Every token issued, oldest first."""
        with self._lock:
            return [token.value for token in self._tokens]

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on; a new POST /oauth/token works."""
        with self._lock:
            for token in self._tokens:
                token.revoked = True

    def cap_page_size(self, limit: int, *listings: str) -> None:
        """Listings (routes from LISTINGS; none: all of them) silently give at most `limit`."""
        with self._lock:
            for listing in listings or LISTINGS:
                self.page_caps[listing] = limit

    def inject(
        self,
        status: int,
        *,
        times: int | None = 1,
        every: int = 1,
        path: str = "/api/v2/",
        retry_after: int | None = None,
    ) -> None:
        """Answers `status` to every `every`-th call under `path`, `times` times (None: until
        `clear_faults`). On the API host it is checked after the bearer and before the route (an
        unknown path gets it too); `path="/oauth/token"` makes the login host fail instead."""
        if every < 1:
            raise ValueError("every counts calls from 1")
        with self._lock:
            self._injections.append(Injection(status, path, times, every, retry_after))

    def throttle(
        self,
        *,
        times: int | None = 1,
        every: int = 1,
        path: str = "/api/v2/",
        retry_after: int = 1,
    ) -> None:
        """The 429 of section 4 (Retry-After, ININ-Correlation-Id, its body) as `inject`."""
        self.inject(429, times=times, every=every, path=path, retry_after=retry_after)

    def limit_per_token(self, per_minute: int, retry_after: int | None = None) -> None:
        """At most `per_minute` API calls per token per minute of the clock (minutes counted from
        0); past it 429, Retry-After `retry_after` or the seconds left in that minute."""
        with self._lock:
            self._budget = (per_minute, retry_after)

    def forbid(self, path: str, permission: str) -> None:
        """Calls under `path` answer 403 as if the OAuth client lacked `permission`."""
        with self._lock:
            self._forbidden[path] = permission

    def stop_answering(self) -> None:
        """Both hosts drop every request without an answer (Genesys away) until `answer_again`;
        the calls are still logged, with status 0."""
        with self._lock:
            self._silent = True

    def answer_again(self) -> None:
        with self._lock:
            self._silent = False

    def clear_faults(self) -> None:
        with self._lock:
            self._injections.clear()
            self._forbidden.clear()
            self._budget = None

    def set_routing_status(self, user_id: str, status: str, start_time: str) -> None:
        if status not in ROUTING_STATUSES:
            raise ValueError(f"routing status {status!r} is not one of {ROUTING_STATUSES}")
        with self._lock:
            self.org.routing_statuses[user_id] = {
                "userId": user_id,
                "status": status,
                "startTime": start_time,
            }

    def set_presence(self, user_id: str, system_presence: str) -> None:
        if system_presence not in PRESENCE_DEFINITIONS:
            raise ValueError(
                f"system presence {system_presence!r} is not one of {list(PRESENCE_DEFINITIONS)}"
            )
        with self._lock:
            self.org.presences[user_id] = system_presence

    def set_observation(
        self,
        queue_id: str,
        metric: str,
        count: int,
        qualifier: str | None = None,
        media_type: str | None = None,
    ) -> None:
        """What the next observation query says of `metric` (with `qualifier`) for the queue
        (and media type): `stats.count`."""
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r} is not one of {sorted(METRICS)}")
        group = {"queueId": queue_id} | ({"mediaType": media_type} if media_type else {})
        entry: JSON = {"metric": metric} | ({"qualifier": qualifier} if qualifier else {})
        entry["stats"] = {"count": count}
        with self._lock:
            found = next((r for r in self.org.observations if r["group"] == group), None)
            if found is None:
                found = {"group": group, "data": []}
                self.org.observations.append(found)
            same = (metric, qualifier)
            found["data"] = [d for d in found["data"] if (d["metric"], d.get("qualifier")) != same]
            found["data"].append(entry)

    def set_estimated_wait(
        self, queue_id: str, seconds: int, media_type: str = "callback", formula: str = "BEST"
    ) -> None:
        if media_type not in INTENTS:
            raise ValueError(f"media type {media_type!r} is not one of {list(INTENTS)}")
        prediction = {
            "intent": INTENTS[media_type],
            "formula": formula,
            "estimatedWaitTimeSeconds": seconds,
        }
        with self._lock:
            self.org.estimated_waits.setdefault(queue_id, {})[media_type] = prediction

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, path: str, method: str | None = None) -> list[Call]:
        """The calls to exactly `path` (without query), oldest first."""
        return [c for c in self.calls if c.path == path and method in (None, c.method)]

    def wait_for(
        self, condition: Callable[[list[Call]], bool], what: str, timeout: float = 10.0
    ) -> None:
        """Returns as soon as `condition(calls)` holds, woken by each call; the timeout only
        bounds a failing test."""
        with self._logged:
            if not self._logged.wait_for(lambda: condition(list(self._calls)), timeout):
                raise AssertionError(f"not within {timeout}s: {what}")

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.stop()
                await server.close_all_connections()

        self._loop.run(stop())
        self._loop.close()

    def __enter__(self) -> GenesysStandin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- serving ---------------------------------------------------------------------------

    async def _listen(self, host: str) -> int:
        # Tornado's access log would only repeat the call log, and warn at every injected 4xx.
        routes = [(r"/.*", _HostHandler, {"standin": self, "host": host})]
        application = tornado.web.Application(routes, log_function=lambda _handler: None)
        server = tornado.httpserver.HTTPServer(application)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        self._servers.append(server)
        return sockets[0].getsockname()[1]

    def _answer(self, host: str, request: _Request) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request of `host`, logged as a `Call`; status 0:
        drop the connection without an answer."""
        with self._lock:
            if self._silent:
                self._calls.append(Call(host, request.method, request.path, request.query, None, 0))
                self._logged.notify_all()
                return 0, {}, b""
            token = None
            body = None
            if host == "login":
                reply = self._login(request)
            else:
                token = _bearer(request.authorization)
                reply, body = self._api(request, token)
            reply.headers.setdefault("ININ-Correlation-Id", str(uuid.uuid4()))
            reply.headers["Content-Type"] = "application/json"
            payload = json.dumps(reply.body).encode()
            self._calls.append(
                Call(host, request.method, request.path, request.query, token, reply.status, body)
            )
            self._logged.notify_all()
            return reply.status, reply.headers, payload

    def _login(self, request: _Request) -> _Reply:
        injected = self._injected(request.path)
        if injected is not None:
            return injected
        if (request.method, request.path) != ("POST", "/oauth/token"):
            return _not_found(request.path)
        if _basic(request.authorization) != (self.client_id, self.client_secret):
            return _Reply(401, INVALID_CLIENT)
        form = parse_qs(request.body.decode("utf-8", "replace"))
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return _Reply(
                400, {"error": "invalid_request", "error_description": "form body required"}
            )
        if form.get("grant_type") != ["client_credentials"]:
            return _Reply(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        value = f"loopback-token-{len(self._tokens) + 1:04d}-{secrets.token_hex(8)}"
        self._tokens.append(IssuedToken(value, self.clock.now + self.expires_in))
        return _Reply(
            200, {"access_token": value, "token_type": "bearer", "expires_in": self.expires_in}
        )

    def _api(self, request: _Request, token: str | None) -> tuple[_Reply, Any]:
        if not request.path.startswith("/api/v2/"):
            return _not_found(request.path), None
        if not self._valid(token):
            return _Reply(401, BAD_CREDENTIALS), None
        for prefix, permission in self._forbidden.items():
            if request.path.startswith(prefix):
                return self._missing_permission(permission), None
        injected = self._injected(request.path) or self._over_budget(token or "")
        if injected is not None:
            return injected, None
        body = None
        try:
            if request.method == "POST":
                try:
                    body = json.loads(request.body)
                except ValueError as error:
                    raise _BadRequest(f"the body is not JSON: {error}") from None
            for method, pattern, answer in self._routes:
                match = pattern.fullmatch(request.path)
                if match and method == request.method:
                    return answer(request, body, *match.groups()), body
            return _not_found(request.path), body
        except _BadRequest as error:
            return _error(400, str(error), "bad.request"), body

    def _valid(self, token: str | None) -> bool:
        issued = next((t for t in self._tokens if t.value == token), None)
        return issued is not None and not issued.revoked and self.clock.now < issued.expires_at

    def _injected(self, path: str) -> _Reply | None:
        for injection in self._injections:
            if injection.fires(path):
                if injection.status == 429:
                    return _too_many_requests(injection.retry_after or 1)
                return _server_error(injection.status, injection.retry_after)
        return None

    def _over_budget(self, token: str) -> _Reply | None:
        if self._budget is None:
            return None
        per_minute, retry_after = self._budget
        minute = int(self.clock.now // 60)
        spent = self._spent.get((token, minute), 0) + 1
        self._spent[(token, minute)] = spent
        if spent <= per_minute:
            return None
        return _too_many_requests(
            retry_after or max(1, math.ceil((minute + 1) * 60 - self.clock.now))
        )

    def _missing_permission(self, permission: str) -> _Reply:
        context = str(uuid.uuid4())
        message = f"You are missing the following permission(s): [{permission}]"
        body = {
            "message": message,
            "code": "missing.permissions",
            "status": 403,
            "contextId": context,
        }
        return _Reply(403, body | {"details": [], "errors": []}, {"ININ-Correlation-Id": context})

    # --- routes ----------------------------------------------------------------------------

    def _table(self) -> list[tuple[str, str, Callable[..., _Reply]]]:
        def listing(route: str, collection: str) -> Callable[..., _Reply]:
            return lambda request, _body: self._listing(
                request, route, getattr(self.org, collection)
            )

        def single(collection: str) -> Callable[..., _Reply]:
            return lambda request, _body, entity_id: self._single(
                request, getattr(self.org, collection), entity_id
            )

        return [
            ("GET", QUEUES, self._queues),
            ("GET", QUEUES + "/{queueId}", single("queues")),
            ("GET", MEMBERS, self._members),
            ("GET", QUEUES + "/{queueId}/estimatedwaittime", self._estimated_wait),
            (
                "GET",
                QUEUES + "/{queueId}/mediatypes/{mediaType}/estimatedwaittime",
                self._estimated_wait,
            ),
            ("GET", SKILLS, self._filtered_by_id(SKILLS, "skills")),
            ("GET", SKILLS + "/{skillId}", single("skills")),
            ("GET", LANGUAGES, self._filtered_by_id(LANGUAGES, "languages")),
            ("GET", LANGUAGES + "/{languageId}", single("languages")),
            ("GET", USERS, self._users),
            ("GET", "/api/v2/users/presences/purecloud/bulk", self._bulk_presences),
            ("GET", USERS + "/{userId}", self._user),
            ("GET", USER_QUEUES, self._user_queues),
            ("GET", USERS + "/{userId}/routingstatus", self._routing_status),
            ("GET", USERS + "/{userId}/presences/purecloud", self._presence),
            ("GET", SCRIPTS, self._scripts),
            ("GET", SCRIPTS + "/{scriptId}", single("scripts")),
            ("GET", SCHEDULE_GROUPS, self._org_wide(SCHEDULE_GROUPS, "schedule_groups")),
            ("GET", SCHEDULE_GROUPS + "/{scheduleGroupId}", single("schedule_groups")),
            ("GET", SCHEDULES, self._org_wide(SCHEDULES, "schedules")),
            ("GET", SCHEDULES + "/{scheduleId}", single("schedules")),
            ("GET", EMERGENCY_GROUPS, listing(EMERGENCY_GROUPS, "emergency_groups")),
            ("GET", EMERGENCY_GROUPS + "/{emergencyGroupId}", single("emergency_groups")),
            ("POST", "/api/v2/analytics/queues/observations/query", self._observations),
        ]

    def _listing(
        self, request: _Request, route: str, entities: list[JSON], totals: bool = True
    ) -> _Reply:
        """One page as section 3.1 (or 3.2 without `totals`): the requested size capped silently,
        URIs as paths with query (the request's other parameters kept), no nextUri at the end."""
        query = request.query
        size = min(
            _integer(query, "pageSize", DEFAULT_PAGE_SIZE),
            self.page_caps.get(route, UNSTATED_PAGE_CAP),
        )
        number = _integer(query, "pageNumber", 1)
        others = [
            (k, v)
            for k, v in parse_qsl(request.raw_query, keep_blank_values=True)
            if k not in ("pageSize", "pageNumber")
        ]

        def uri(page: int) -> str:
            return (
                f"{request.path}?{urlencode([('pageSize', size), ('pageNumber', page), *others])}"
            )

        first = (number - 1) * size
        page: JSON = {"entities": entities[first : first + size]}
        page |= {"pageSize": size, "pageNumber": number}
        page_count = math.ceil(len(entities) / size)
        if totals:
            page |= {"total": len(entities), "pageCount": page_count}
        page |= {"firstUri": uri(1), "selfUri": uri(number)}
        if first + size < len(entities):
            page["nextUri"] = uri(number + 1)
        if number > 1:
            page["previousUri"] = uri(number - 1)
        if totals:
            page["lastUri"] = uri(max(page_count, 1))
        return _Reply(200, page)

    def _single(self, request: _Request, entities: list[JSON], entity_id: str) -> _Reply:
        found = next((e for e in entities if e["id"] == entity_id), None)
        return _not_found(request.path) if found is None else _Reply(200, found)

    def _filtered_by_id(self, route: str, collection: str) -> Callable[..., _Reply]:
        def answer(request: _Request, _body: Any) -> _Reply:
            ids = _values(request.query, "id")
            entities = [e for e in getattr(self.org, collection) if not ids or e["id"] in ids]
            return self._listing(request, route, entities)

        return answer

    def _org_wide(self, route: str, collection: str) -> Callable[..., _Reply]:
        """Schedule and schedule-group listings also count the whole org (section 3.1)."""

        def answer(request: _Request, _body: Any) -> _Reply:
            entities = getattr(self.org, collection)
            reply = self._listing(request, route, entities)
            reply.body["totalNumberOfEntities"] = len(entities)
            return reply

        return answer

    def _queues(self, request: _Request, _body: Any) -> _Reply:
        ids, divisions = _values(request.query, "id"), _values(request.query, "divisionId")
        queues = [
            q
            for q in self.org.queues
            if (not ids or q["id"] in ids) and (not divisions or q["division"]["id"] in divisions)
        ]
        return self._listing(request, QUEUES, queues)

    def _members(self, request: _Request, _body: Any, queue_id: str) -> _Reply:
        if queue_id not in {q["id"] for q in self.org.queues}:
            return _not_found(request.path)
        joined = _flag(request.query, "joined", None)
        member_by = request.query.get("memberBy", [""])[-1]
        expand = _values(request.query, "expand")
        members = [
            self._member(m, "presence" in expand)
            for m in self.org.members.get(queue_id, [])
            if joined in (None, m.joined) and member_by in ("", m.member_by)
        ]
        return self._listing(request, MEMBERS, [m for m in members if m], totals=False)

    def _member(self, membership: QueueMembership, with_presence: bool) -> JSON | None:
        user = self._find_user(membership.user_id)
        if user is None:
            return None
        member: JSON = {"id": user["id"], "name": user["name"], "joined": membership.joined}
        member |= {"memberBy": membership.member_by, "ringNumber": membership.ring_number}
        member["user"] = {k: user[k] for k in ("id", "name", "email", "state")}
        if user["id"] in self.org.routing_statuses:
            member["routingStatus"] = self.org.routing_statuses[user["id"]]
        if with_presence:
            member["presence"] = self._user_presence(user["id"])
        return member

    def _find_user(self, user_id: str) -> JSON | None:
        return next((u for u in self.org.users if u["id"] == user_id), None)

    def _expanded(self, user: JSON, expand: list[str]) -> JSON:
        """Expand is best effort in Genesys (section 5.3); here routingStatus and presence."""
        user = dict(user)
        if "routingStatus" in expand:
            user["routingStatus"] = self._routing_status_of(user["id"])
        if "presence" in expand:
            user["presence"] = self._user_presence(user["id"])
        return user

    def _users(self, request: _Request, _body: Any) -> _Reply:
        state = request.query.get("state", ["active"])[-1]
        if state not in ("active", "inactive", "deleted", "any"):
            raise _BadRequest(f"state must be active, inactive, deleted or any, not {state!r}")
        ids, expand = _values(request.query, "id"), _values(request.query, "expand")
        users = [
            self._expanded(u, expand)
            for u in self.org.users
            if state in ("any", u["state"]) and (not ids or u["id"] in ids)
        ]
        return self._listing(request, USERS, users)

    def _user(self, request: _Request, _body: Any, user_id: str) -> _Reply:
        user = self._find_user(user_id)
        state = request.query.get("state", ["active"])[-1]
        if user is None or (user["state"] == "deleted") != (state == "deleted"):
            return _not_found(request.path)
        return _Reply(200, self._expanded(user, _values(request.query, "expand")))

    def _user_queues(self, request: _Request, _body: Any, user_id: str) -> _Reply:
        if self._find_user(user_id) is None:
            return _not_found(request.path)
        joined = _flag(request.query, "joined", True)
        queues = []
        for queue in self.org.queues:
            for membership in self.org.members.get(queue["id"], []):
                if membership.user_id == user_id and membership.joined == joined:
                    queues.append(queue | {"joined": membership.joined})
        return self._listing(request, USER_QUEUES, queues)

    def _routing_status_of(self, user_id: str) -> JSON:
        # "OFF_QUEUE will be returned if the specified user does not exist" (section 7.3).
        return self.org.routing_statuses.get(user_id, {"userId": user_id, "status": "OFF_QUEUE"})

    def _routing_status(self, _request: _Request, _body: Any, user_id: str) -> _Reply:
        return _Reply(200, self._routing_status_of(user_id))

    def _user_presence(self, user_id: str) -> JSON:
        system_presence = self.org.presences.get(user_id, "Offline")
        definition = {
            "id": PRESENCE_DEFINITIONS[system_presence],
            "systemPresence": system_presence,
        }
        return {
            "id": user_id,
            "sourceId": "PURECLOUD",
            "primary": True,
            "presenceDefinition": definition,
            "message": "",
            "modifiedDate": "2026-11-24T15:00:00.000Z",
        }

    def _presence(self, request: _Request, _body: Any, user_id: str) -> _Reply:
        if self._find_user(user_id) is None:
            return _not_found(request.path)
        return _Reply(200, self._user_presence(user_id))

    def _bulk_presences(self, request: _Request, _body: Any) -> _Reply:
        ids = _values(request.query, "id")
        if not 1 <= len(ids) <= BULK_PRESENCE_IDS:
            raise _BadRequest(f"between 1 and {BULK_PRESENCE_IDS} ids, not {len(ids)}")
        presences = []
        for user_id in ids:
            if self._find_user(user_id) is not None:
                presence = self._user_presence(user_id)
                del presence["primary"]
                presences.append(presence | {"userId": user_id})
        return _Reply(200, presences)

    def _scripts(self, request: _Request, _body: Any) -> _Reply:
        reply = self._listing(request, SCRIPTS, self.org.scripts)
        reply.body["truncatedDivisions"] = False
        return reply

    def _estimated_wait(
        self, request: _Request, _body: Any, queue_id: str, media_type: str | None = None
    ) -> _Reply:
        if queue_id not in {q["id"] for q in self.org.queues}:
            return _not_found(request.path)
        if media_type is not None and media_type not in INTENTS:
            raise _BadRequest(f"mediaType must be one of {list(INTENTS)}, not {media_type!r}")
        predictions = self.org.estimated_waits.get(queue_id, {})
        results = [p for m, p in predictions.items() if media_type in (None, m)]
        return _Reply(200, {"results": results})

    def _observations(self, _request: _Request, body: Any) -> _Reply:
        """Answers what the test set for the queues (and media types) the filter names, limited
        to the requested metrics; nothing is invented for what was not set."""
        if not isinstance(body, dict):
            raise _BadRequest("the body must be a QueueObservationQuery")
        metrics = body.get("metrics")
        if not isinstance(metrics, list) or not metrics or not set(metrics) <= METRICS:
            raise _BadRequest(f"metrics is required, each one of {sorted(METRICS)}")
        queue_ids = _predicate_values(body.get("filter"), "queueId")
        media_types = _predicate_values(body.get("filter"), "mediaType")
        results = []
        for queue_id in dict.fromkeys(queue_ids):
            for result in self.org.observations:
                group = result["group"]
                if group["queueId"] != queue_id:
                    continue
                if media_types and group.get("mediaType") not in (None, *media_types):
                    continue
                data = [d for d in result["data"] if d["metric"] in metrics]
                if data:
                    results.append({"group": group, "data": data})
        mappings = {_upper(name): [definition] for name, definition in PRESENCE_DEFINITIONS.items()}
        return _Reply(200, {"systemToOrganizationMappings": mappings, "results": results})


class _HostHandler(tornado.web.RequestHandler):
    """Hands every request of one host to the stand-in and writes what it answers."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, standin: GenesysStandin, host: str) -> None:
        self.standin = standin
        self.host = host

    def compute_etag(self) -> None:
        return None

    def _serve(self) -> None:
        request = _Request(
            self.request.method or "GET",
            self.request.path,
            self.request.query,
            self.request.headers.get("Authorization", ""),
            self.request.headers.get("Content-Type", ""),
            self.request.body,
        )
        status, headers, payload = self.standin._answer(self.host, request)
        if status == 0:  # gone away: the connection closes with no answer at all
            if self.request.connection is not None:
                self.request.connection.close()
            return
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(payload)

    def get(self) -> None:
        self._serve()

    def post(self) -> None:
        self._serve()

    def put(self) -> None:
        self._serve()

    def patch(self) -> None:
        self._serve()

    def delete(self) -> None:
        self._serve()


def _pattern(route: str) -> str:
    return re.sub(r"\{\w+\}", "([^/]+)", route)


def _upper(system_presence: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", system_presence).upper()


def _bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _basic(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if colon else None


def _too_many_requests(retry_after: int) -> _Reply:
    """Section 4, exactly: the correlation id in the header is the body's contextId."""
    context = str(uuid.uuid4())
    body = {
        "message": f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        "code": "too.many.requests.retry.after",
        "status": 429,
        "contextId": context,
        "details": [],
        "errors": [],
    }
    return _Reply(429, body, {"Retry-After": str(retry_after), "ININ-Correlation-Id": context})


def _server_error(status: int, retry_after: int | None) -> _Reply:
    context = str(uuid.uuid4())
    code = SERVER_ERROR_CODES.get(status, "server.error")
    body = {"message": "The service is temporarily unavailable.", "code": code, "status": status}
    headers = {"ININ-Correlation-Id": context}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return _Reply(status, body | {"contextId": context}, headers)


if __name__ == "__main__":
    # For a person trying a client by hand: python -m tests.genesys_standin
    with GenesysStandin() as standin:
        print(f"login {standin.login_url}  api {standin.api_url}")
        print(f"client id {standin.client_id}  secret {standin.client_secret}")
        threading.Event().wait()

"""The org snapshot: what `decision genesys pull` reads of the customer's Genesys Cloud org and the
rules are compiled against (names people use, every id checked). Our own format, versioned and
small to diff: one entity per line, sorted by name, so a team can commit it beside its rules and
review a change of the org as a diff. Written atomically (a whole new file renamed over the old),
never with a secret or a token in it.

    {"format": "callback-router/genesys-org", "version": 1,
     "pulled_at": "2026-12-01T20:00:00Z", "region": "mypurecloud.ie", "client_id": "...",
     "queues": [{"id", "name", "division", "agent_owned_callbacks", "members": [{"id", "joined"}]}],
     "skills" / "languages": [{"id", "name", "state"}],
     "users": [{"id", "name", "email", "state"}],
     "scripts": [{"id", "name"}],
     "schedule_groups": [{"id", "name", "state", "time_zone", "open", "closed", "holiday"}],
     "schedules": [{"id", "name", "state", "start", "end", "rrule"}],
     "emergency_groups": [{"id", "name", "state", "enabled"}]}
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from decision.genesys.api import GenesysApi
from plumbing.files import NotRegularFile, read_regular_file

FORMAT = "callback-router/genesys-org"
VERSION = 1
LISTS = (
    "queues",
    "skills",
    "languages",
    "users",
    "scripts",
    "schedule_groups",
    "schedules",
    "emergency_groups",
)
Progress = Callable[[str, int, int], None]  # (resource, entities so far, pages so far)


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message names the file and what is wrong."""


def _division(entity: dict[str, Any]) -> str:
    division = entity.get("division")
    return str(division.get("name", "")) if isinstance(division, dict) else ""


def _refs(entity: dict[str, Any], key: str) -> list[str]:
    return sorted(str(r["id"]) for r in entity.get(key) or () if isinstance(r, dict) and "id" in r)


async def _all(
    api: GenesysApi,
    resource: str,
    path: str,
    progress: Progress,
    params: dict[str, object] | None = None,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pages = 0
    async for page in api.listing(path, params):
        pages += 1
        found += [e for e in page if isinstance(e, dict) and isinstance(e.get("id"), str)]
        progress(resource, len(found), pages)
    progress(resource, len(found), max(pages, 1))
    return found


async def pull(
    api: GenesysApi, region: str, progress: Progress = lambda *_: None
) -> dict[str, Any]:
    """The org as our snapshot document. Raises GenesysError (one line) when Genesys cannot be
    asked or refuses."""
    queues = await _all(api, "queues", "/api/v2/routing/queues", progress)
    skills = await _all(api, "skills", "/api/v2/routing/skills", progress)
    languages = await _all(api, "languages", "/api/v2/routing/languages", progress)
    # Inactive users too: a rule naming one gets a warning, not "unknown" (the API's default is
    # active only).
    users = await _all(api, "users", "/api/v2/users", progress, {"state": "any"})
    scripts = await _all(api, "scripts", "/api/v2/scripts/published", progress)
    groups = await _all(api, "schedule groups", "/api/v2/architect/schedulegroups", progress)
    schedules = await _all(api, "schedules", "/api/v2/architect/schedules", progress)
    emergencies = await _all(api, "emergency groups", "/api/v2/architect/emergencygroups", progress)
    members: dict[str, list[dict[str, Any]]] = {}
    total, pages = 0, 0
    for queue in queues:
        listed = []
        async for page in api.listing(f"/api/v2/routing/queues/{queue['id']}/members"):
            pages += 1
            listed += [m for m in page if isinstance(m, dict)]
        total += len(listed)
        progress("queue members", total, pages)
        members[queue["id"]] = listed
    return {
        "format": FORMAT,
        "version": VERSION,
        "pulled_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "client_id": api.credentials.client_id,
        "queues": [
            {
                "id": q["id"],
                "name": str(q.get("name", "")),
                "division": _division(q),
                "agent_owned_callbacks": bool(
                    (q.get("agentOwnedRouting") or {}).get("enableAgentOwnedCallbacks")
                ),
                "members": sorted(
                    (
                        {"id": str(_member_id(m)), "joined": bool(m.get("joined"))}
                        for m in members[q["id"]]
                        if _member_id(m)
                    ),
                    key=lambda m: m["id"],
                ),
            }
            for q in queues
        ],
        "skills": [_stated(s) for s in skills],
        "languages": [_stated(s) for s in languages],
        "users": [
            {
                "id": u["id"],
                "name": str(u.get("name", "")),
                "email": str(u.get("email", "")),
                "state": str(u.get("state", "active")),
            }
            for u in users
        ],
        "scripts": [{"id": s["id"], "name": str(s.get("name", ""))} for s in scripts],
        "schedule_groups": [
            {
                "id": g["id"],
                "name": str(g.get("name", "")),
                "state": str(g.get("state", "active")),
                "time_zone": str(g.get("timeZone", "")),
                "open": _refs(g, "openSchedules"),
                "closed": _refs(g, "closedSchedules"),
                "holiday": _refs(g, "holidaySchedules"),
            }
            for g in groups
        ],
        "schedules": [
            {
                "id": s["id"],
                "name": str(s.get("name", "")),
                "state": str(s.get("state", "active")),
                "start": str(s.get("start", "")),
                "end": str(s.get("end", "")),
                "rrule": str(s.get("rrule") or ""),
            }
            for s in schedules
        ],
        "emergency_groups": [
            {
                "id": e["id"],
                "name": str(e.get("name", "")),
                "state": str(e.get("state", "active")),
                "enabled": bool(e.get("enabled")),
            }
            for e in emergencies
        ],
    }


def _member_id(member: dict[str, Any]) -> str:
    user = member.get("user")
    if isinstance(user, dict) and isinstance(user.get("id"), str):
        return user["id"]
    found = member.get("id")
    return found if isinstance(found, str) else ""


def _stated(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entity["id"],
        "name": str(entity.get("name", "")),
        "state": str(entity.get("state", "active")),
    }


def render(document: dict[str, Any]) -> str:
    """The snapshot as it is written: one entity per line, each list sorted by name then id, so
    that an org's change reads as a small diff."""
    lines = ["{"]
    scalars = [k for k in document if k not in LISTS]
    for key in scalars:
        lines.append(f"  {json.dumps(key)}: {json.dumps(document[key], ensure_ascii=False)},")
    for index, key in enumerate(LISTS):
        items = sorted(
            document.get(key, []), key=lambda e: (str(e.get("name", "")).casefold(), e["id"])
        )
        last = index == len(LISTS) - 1
        if not items:
            lines.append(f"  {json.dumps(key)}: []{'' if last else ','}")
            continue
        lines.append(f"  {json.dumps(key)}: [")
        for position, item in enumerate(items):
            text = json.dumps(item, ensure_ascii=False, sort_keys=False, separators=(", ", ": "))
            lines.append(f"    {text}{'' if position == len(items) - 1 else ','}")
        lines.append(f"  ]{'' if last else ','}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_snapshot(document: dict[str, Any], path: str | Path) -> None:
    """Writes beside the target, flushed to disk, then renamed over it: a reader (the service
    watching it) sees the old snapshot or the new one, never part of one. It holds every user's
    name and email: a new file is for its owner alone (0600, as the umask lets through), a
    replaced one keeps the mode it was given (an operator who shares it says so once).
    SnapshotError, and nothing written, when the service could not read it back (an org
    beyond the bounds of `read_snapshot_text` and `over_bounds`): the last snapshot stays."""
    text = render(document)
    size = len(text.encode("utf-8"))
    if size > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            f"{path}: not written: the org's snapshot would be {size / 2**20:.1f} MiB, and the "
            f"service reads at most {MAX_SNAPSHOT_BYTES // 2**20} MiB"
        )
    over = over_bounds(text)
    if over is not None:
        count, what, most = over
        raise SnapshotError(
            f"{path}: not written: the org's snapshot would hold {count:,} {what}, and the "
            f"service reads at most {most:,}"
        )
    target = Path(os.path.realpath(path))
    try:
        kept: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        kept = None
    staging = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed before the rename)
        "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
    )
    try:
        with staging:
            staging.write(text)
            staging.flush()
            os.fsync(staging.fileno())
        if kept is not None:  # a new one stays as tempfile made it: 0600 less the umask
            os.chmod(staging.name, kept)
        os.replace(staging.name, target)
    except BaseException:
        Path(staging.name).unlink(missing_ok=True)
        raise


# An org of 100,000 users is about 15 MB, and reading a snapshot takes about ten times its size
# for a moment: 24 MiB fits the decision pod's 512 MiB beside the rules and caches (64 MiB took
# a reload to 738 MB). Objects and arrays are bounded too: 64 MiB of `{}` (a document that
# size of nothing but empty objects) took 3.4 GB to read.
MAX_SNAPSHOT_BYTES = 24 * 1024 * 1024
# A snapshot has a few per entity: about 175,000 in a realistic 24 MiB one; 990,000 one-key
# objects with short 4-byte-character strings still took a reload past 512 MiB.
MAX_SNAPSHOT_CONTAINERS = 400_000
# Values, counted by their separators (`,` and `:`): a real snapshot has about one per 15 bytes
# (1.7 million in 24 MiB); 24 MiB of small numbers or distinct keys under 1,000,000 containers
# took `check` to 700 MB and a reload past the pod's 512 MiB.
MAX_SNAPSHOT_VALUES = 3_000_000


def read_snapshot_text(path: str | Path) -> str:
    """A snapshot file's text; only a regular file, read without blocking (a FIFO in its place
    would hold the reader forever)."""
    try:
        data = read_regular_file(path, MAX_SNAPSHOT_BYTES)
    except (NotRegularFile, IsADirectoryError):
        raise SnapshotError(f"{path}: cannot read: not a regular file") from None
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"{path}: larger than {MAX_SNAPSHOT_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SnapshotError(f"{path}: not UTF-8 text") from None


def digest(text: str, document: Any = None) -> str:
    """What the rules version covers of a snapshot: the org, not the moment it was pulled (a
    refresh of an unchanged org is the same version). `document`: the text already parsed (a
    second parse doubled a reload's peak)."""
    if document is None:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
    if isinstance(document, dict):
        document = {k: v for k, v in document.items() if k != "pulled_at"}
        text = json.dumps(document, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def over_bounds(text: str) -> tuple[int, str, int] | None:
    """(count, what, most) when `text` has more objects and arrays, or more values, than a
    snapshot the service reads may have; None when it is within both. Counted on the text (a
    brace inside a string counts too: a little stricter, never looser), so that a document of
    nothing but tiny objects is never built."""
    containers = text.count("{") + text.count("[")
    if containers > MAX_SNAPSHOT_CONTAINERS:
        return containers, "objects and arrays", MAX_SNAPSHOT_CONTAINERS
    values = text.count(",") + text.count(":")
    if values > MAX_SNAPSHOT_VALUES:
        return values, "values", MAX_SNAPSHOT_VALUES
    return None


def parse_snapshot(text: str, source: str) -> dict[str, Any]:
    """A snapshot's document, checked for its bounds, format and version; SnapshotError
    otherwise."""
    over = over_bounds(text)
    if over is not None:
        count, what, most = over
        raise SnapshotError(
            f"{source}: not a snapshot ({count:,} {what}; a snapshot has a few per queue, user "
            f"or schedule, at most {most:,})"
        )
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SnapshotError(f"{source}: not a snapshot (not JSON: {error})") from None
    except RecursionError:  # e.g. 200,000 brackets deep: a traceback in `check` before
        raise SnapshotError(f"{source}: not a snapshot (nested too deeply)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError(f"{source}: not a callback-router Genesys org snapshot")
    version = document.get("version")
    if version != VERSION:
        raise SnapshotError(
            f"{source}: snapshot format version {version!r}; this code reads version {VERSION} "
            "(pull it again with this version)"
        )
    for key in LISTS:
        items = document.get(key, [])
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in items
        ):
            raise SnapshotError(f"{source}: {key}: expected a list of entities with ids")
    return document


def pulled_at(document: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(document.get("pulled_at", "")))
    except ValueError:
        return None

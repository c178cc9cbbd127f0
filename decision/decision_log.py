"""The decision log: every decision as one JSON line (file or stdout), for audit and replay.

The request path only hands a finished response to a bounded queue; a writer thread turns it
into JSON and writes it. When the queue is full the entry is dropped and counted, never waited
for: a slow disk must not slow routing."""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from typing import IO, Any

from google.protobuf.json_format import MessageToDict
from prometheus_client import Counter

from decision.engine import Contact
from decision.v1 import decision_pb2
from plumbing.logs import mask_number

log = logging.getLogger("decision.log")
WRITTEN = Counter("decision_log_written_total", "Decision log entries written")
DROPPED = Counter("decision_log_dropped_total", "Decision log entries dropped: buffer full")
_STOP = object()


def log_entry(
    request: decision_pb2.DecideRequest,
    response: decision_pb2.DecideResponse,
    at: str,
    contact: Contact | None,
    latency_ms: float,
    full_numbers: bool,
) -> dict[str, Any]:
    """One decision as the log stores it. Numbers are masked unless the operator allows them
    whole; replay is exact only with whole numbers (see `decision replay`)."""
    logged_request = MessageToDict(request, preserving_proto_field_name=True)
    facts = MessageToDict(response.facts, preserving_proto_field_name=True)
    patch = MessageToDict(response.patch)
    if not full_numbers:
        if "phone_number" in logged_request:
            logged_request["phone_number"] = mask_number(logged_request["phone_number"])
        if "e164" in facts:
            facts["e164"] = mask_number(facts["e164"])
        if "callbackNumbers" in patch:
            patch["callbackNumbers"] = [mask_number(n) for n in patch["callbackNumbers"]]
    entry: dict[str, Any] = {
        "decision_id": response.decision_id,
        "request_id": response.request_id,
        "at": at,
        "request": logged_request,
        "facts": facts,
        "contact": None,
        "matched_rules": list(response.matched_rules),
        "patch": patch,
        "notes": list(response.notes),
        "rules_version": response.rules_version,
        "latency_ms": round(latency_ms, 3),
    }
    if contact is not None:
        entry["contact"] = {
            "name": contact.name if full_numbers else "",
            "tier": contact.tier,
            "language": contact.language,
            "preferred_agents": list(contact.preferred_agents),
            "skills": list(contact.skills),
            "attributes": dict(contact.attributes),
        }
    return entry


class DecisionLog:
    """`target` "-" is stdout; anything else is a file appended to."""

    def __init__(self, target: str, full_numbers: bool = False, capacity: int = 10_000) -> None:
        self.target = target
        self.full_numbers = full_numbers
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._stream: IO[str] = (
            sys.stdout if target == "-" else open(target, "a", encoding="utf-8")  # noqa: SIM115
        )
        self._thread = threading.Thread(target=self._drain, name="decision-log", daemon=True)
        self._thread.start()

    def record(
        self,
        request: decision_pb2.DecideRequest,
        response: decision_pb2.DecideResponse,
        at: str,
        contact: Contact | None,
        latency_ms: float,
    ) -> None:
        """Never blocks: the messages are finished and not touched again by the caller."""
        try:
            self._queue.put_nowait((request, response, at, contact, latency_ms))
        except queue.Full:
            DROPPED.inc()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            try:
                entry = log_entry(*item, full_numbers=self.full_numbers)  # type: ignore[misc]
                self._stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
                if self._queue.empty():
                    self._stream.flush()
                WRITTEN.inc()
            except Exception:
                log.exception("decision log entry not written")
        self._stream.flush()

    def close(self) -> None:
        """Writes what is queued, then stops the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
        if self._stream is not sys.stdout:
            self._stream.close()

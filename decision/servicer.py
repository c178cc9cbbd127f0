"""decision.v1.DecisionService over gRPC: a thin adapter from proto messages to the engine."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import grpc

from decision.engine import CallbackRequest, Decision
from decision.rules_file import LiveRules
from decision.v1 import decision_pb2, decision_pb2_grpc

log = logging.getLogger("decision.service")


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_from_proto(message: decision_pb2.DecideRequest) -> CallbackRequest:
    return CallbackRequest(
        phone_number=message.phone_number,
        country_code=message.country_code,
        script_id=message.script_id,
        queue_id=message.queue_id,
        schedule_group_id=message.schedule_group_id,
        widget_id=message.widget_id,
        attributes=dict(message.attributes),
    )


def facts_to_proto(decision: Decision) -> decision_pb2.CallerFacts:
    number = decision.number
    return decision_pb2.CallerFacts(
        e164=number.e164,
        region=number.region,
        country_calling_code=number.calling_code,
        number_type=number.number_type,
        valid=number.valid,
        time_zone=decision.time_zone,
        time_zone_source=decision.time_zone_source,
        number_time_zones=number.time_zones,
        local_time=decision.local_time.isoformat(),
    )


class DecisionServicer(decision_pb2_grpc.DecisionServiceServicer):
    def __init__(self, rules: LiveRules, clock: Callable[[], datetime] = utc_now) -> None:
        self.rules = rules
        self.clock = clock

    async def Decide(
        self, request: decision_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decision_pb2.DecideResponse:
        now = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else self.clock()
        rules = self.rules.current  # read once: a reload mid-request cannot mix two versions
        try:
            decision = rules.decide(request_from_proto(request), now)
        except Exception:
            log.exception("decision failed (rules version %s)", rules.version)
            await context.abort(grpc.StatusCode.INTERNAL, "decision failed; see the service log")
        return decision_pb2.DecideResponse(
            patch=decision.patch,
            matched_rules=decision.matched_rules,
            facts=facts_to_proto(decision),
            rules_version=decision.rules_version,
            decision_id=uuid.uuid4().hex,
            request_id=request.request_id or uuid.uuid4().hex,
            notes=decision.notes,
        )

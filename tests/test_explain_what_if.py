"""Explain's what-if over real gRPC: a queue by its name, a pretended contact in place of the
directory; Decide takes neither pretence."""

from __future__ import annotations

import grpc
import pytest

from contract.v1 import decision_pb2
from tests.test_console_rpcs import with_service

UK_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"


def vip(known: bool = True) -> decision_pb2.DecideRequest:
    request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
    request.pretend_contact.known = known
    if known:
        request.pretend_contact.contact.tier = "VIP"
        request.pretend_contact.contact.name = "Ada Lovelace"
    return request


def test_explain_decides_with_the_pretended_contact(services):
    async def scenario(stub, servicer):
        explained = await stub.Explain(vip(), timeout=5)
        assert explained.decision.matched_rules == ["known-vip", "uk-mobile"]
        assert explained.decision.facts.contact_known
        assert explained.decision.patch.callback_user_name == "Ada Lovelace"
        unknown = await stub.Explain(vip(known=False), timeout=5)
        assert unknown.decision.matched_rules == ["uk-mobile"]
        assert not unknown.decision.facts.contact_known

    with_service(services, scenario)


def test_explain_takes_a_queue_by_its_name_and_refuses_an_unknown_one(services):
    async def scenario(stub, servicer):
        named = decision_pb2.DecideRequest(phone_number="07400123456", queue_id="support-uk")
        explained = await stub.Explain(named, timeout=5)
        assert f"queue 'support-uk' is {UK_QUEUE}" in explained.decision.notes
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Explain(decision_pb2.DecideRequest(queue_id="Sales"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == (
            "queue_id: unknown queue name 'Sales' (not in [names.queues])"
        )

    with_service(services, scenario)


def test_decide_refuses_a_pretended_contact(services):
    async def scenario(stub, servicer):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Decide(vip(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "pretend_contact is for Explain only" in refused.value.details()
        assert servicer.recent.total == 0

    with_service(services, scenario)

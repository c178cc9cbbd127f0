"""Per-rule counts say what they count: the rule that decided (one per decision, so the counts
and their shares add up) apart from the rules that contributed (`continue = true`)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from contract.v1 import decision_pb2
from decision.service import metrics
from tests.test_console_rpcs import with_service

RULES = """version = 1
[[rules]]
name = "tag-everyone"
when = {}
then = { data = { seen = "yes" } }
continue = true

[[rules]]
name = "uk"
when = { region = "GB" }
then = { priority = 5 }
"""
UK = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
US = decision_pb2.DecideRequest(phone_number="2025550123", country_code="+1")


def sample(name: str, rule: str) -> float:
    return REGISTRY.get_sample_value(name, {"rule": rule}) or 0.0


def test_the_deciding_rule_and_the_contributing_rules_are_counted_apart(services, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    rules = ("tag-everyone", "uk")
    decided = "decision_decisions_total"
    contributed = "decision_rule_contributions_total"
    before = {(n, r): sample(n, r) for n in (decided, contributed) for r in rules}

    async def scenario(stub, servicer):
        for request in (UK, UK, US):
            await stub.Decide(request, timeout=5)
        reply = await stub.GetRules(decision_pb2.GetRulesRequest(), timeout=5)
        counts = {c.rule: (c.decided, c.decisions) for c in reply.rule_decisions}
        # uk decided both UK callers; tag-everyone decided the US caller (its match was the
        # last), and contributed to all three.
        assert counts == {"tag-everyone": (1, 3), "uk": (2, 2)}
        assert sum(c.decided for c in reply.rule_decisions) + reply.unmatched_decisions == (
            reply.decisions
        )

    with_service(services, scenario, path)
    after = {key: sample(*key) for key in before}
    assert after[(decided, "uk")] - before[(decided, "uk")] == 2
    assert after[(decided, "tag-everyone")] - before[(decided, "tag-everyone")] == 1
    assert after[(contributed, "tag-everyone")] - before[(contributed, "tag-everyone")] == 3
    assert after[(contributed, "uk")] - before[(contributed, "uk")] == 2


def test_the_help_says_which_is_which():
    assert "the rule that decided" in metrics.DECISIONS._documentation
    assert "one count per decision" in metrics.DECISIONS._documentation
    assert "every matched rule" in metrics.CONTRIBUTIONS._documentation

"""Rules on the live Genesys state (issue 20), in the engine: `queue_load` conditions and the
`agents_on_queue_only` option decide from a `LIVE` view; unknown or stale state never matches and
keeps every agent, with a note; what a decision read is logged and replay decides from it."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from google.protobuf.json_format import MessageToDict

from contract.v1 import decision_pb2
from decision.decision_log.entry import log_entry, read_logged_facts
from decision.engine import CallbackRequest, OutsideFacts, RulesError, explain
from decision.engine.live import LIVE, AgentStatus, Learned, LiveState, LiveView, QueueLoad
from decision.rules.cases import run_cases
from tests.engine_helpers import ALICE, BOB, ENGLISH, TUESDAY_NOON, UK_MOBILE, UK_QUEUE, US_QUEUE
from tests.engine_helpers import rules as rules_of

OVERFLOW = rules_of(
    """
[[rules]]
name = "overflow"
when = { queue_load = { queue = "support-uk", waiting = { above = 5 } } }
then = { queue = "support-us" }
[[rules]]
name = "uk"
when = { region = "GB" }
then = { queue = "support-uk", skills = ["english"] }
"""
)
AGENTS = rules_of(
    """
[[rules]]
name = "account-managers"
when = { region = "GB" }
then = { skills = ["english"], preferred_agents = ["alice", "bob"], agents_on_queue_only = true }
"""
)


def load(waiting: int = 0, estimated_wait: int | None = None, read_at: float = 0.0) -> QueueLoad:
    return QueueLoad(waiting, 1, 3, 1, estimated_wait, read_at)


def view(
    queues: dict[str, QueueLoad] | None = None,
    agents: dict[str, str] | None = None,
    now: float = 5.0,
    stale_after: float = 30.0,
) -> LiveView:
    statuses = {a: AgentStatus(s, 0.0) for a, s in (agents or {}).items()}
    return LiveView(LiveState(queues or {}, statuses), now, stale_after, Learned())


def decide(ruleset, live: LiveView | None, **request):
    facts = OutsideFacts({LIVE: live})
    return ruleset.decide(CallbackRequest(**{**UK_MOBILE, **request}), TUESDAY_NOON, facts)


def test_a_busy_queue_sends_callers_to_the_overflow_queue():
    assert decide(OVERFLOW, view({UK_QUEUE: load(waiting=2)})).patch.queue_id == UK_QUEUE
    assert decide(OVERFLOW, view({UK_QUEUE: load(waiting=9)})).patch.queue_id == US_QUEUE
    assert OVERFLOW.needs == {LIVE}


@pytest.mark.parametrize(
    ("when", "matching", "not_matching"),
    [
        ("waiting = { below = 3 }", load(waiting=2), load(waiting=3)),
        ("waiting = { above = 2, below = 6 }", load(waiting=5), load(waiting=6)),
        ('estimated_wait = { above = "10m" }', load(estimated_wait=601), load(estimated_wait=600)),
        ("estimated_wait = { below = 90 }", load(estimated_wait=89), load()),  # None: unknown
        ("agents_idle = { above = 0 }, waiting = { below = 5 }", load(2), load(5)),
    ],
)
def test_measures_above_below_and_ranges(when, matching, not_matching):
    ruleset = rules_of(
        f'[[rules]]\nname = "r"\nwhen = {{ queue_load = {{ queue = "support-uk", {when} }} }}\n'
        'then = { queue = "support-us" }\n'
    )
    assert decide(ruleset, view({UK_QUEUE: matching})).matched_rules == ["r"]
    assert decide(ruleset, view({UK_QUEUE: not_matching})).matched_rules == []


def test_without_a_queue_the_request_s_queue_is_read_and_learned():
    ruleset = rules_of(
        '[[rules]]\nname = "busy"\nwhen = { queue_load = { waiting = { above = 5 } } }\n'
        "then = { priority = 5 }\n"
    )
    live = view({US_QUEUE: load(waiting=9)})
    assert decide(ruleset, live, queue_id=US_QUEUE).matched_rules == ["busy"]
    fresh = view({US_QUEUE: load(waiting=9)})
    assert decide(ruleset, fresh, queue_id=UK_QUEUE).matched_rules == []
    assert fresh.why_unknown(UK_QUEUE) == "not read yet"
    assert list(fresh._learned.queues) == [UK_QUEUE]  # read from the next poll on


def test_unknown_or_stale_state_never_matches():
    assert decide(OVERFLOW, None).patch.queue_id == UK_QUEUE  # no live state at all
    assert decide(OVERFLOW, view()).patch.queue_id == UK_QUEUE  # not read yet
    stale = view({UK_QUEUE: load(waiting=9)}, now=31.0, stale_after=30.0)
    decision = decide(OVERFLOW, stale)
    assert decision.patch.queue_id == UK_QUEUE
    assert stale.why_unknown(UK_QUEUE) == "stale: read 31 s ago (limit 30 s)"
    assert decide(OVERFLOW, view({UK_QUEUE: load(9)}, now=30.0)).patch.queue_id == US_QUEUE


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (
            '{ queue = "support-uk", depth = { above = 5 } }',
            "when.queue_load.depth: unknown measure (known: waiting, interacting, "
            "agents_on_queue, agents_idle, estimated_wait)",
        ),
        (
            '{ queue = "support-fr", waiting = { above = 5 } }',
            "when.queue_load.queue: unknown queue name 'support-fr' (not in [names.queues])",
        ),
        ("{ waiting = { above = 5, below = 5 } }", "above (5) must be less than below (5)"),
        ("{ waiting = { over = 5 } }", "expected { above = n }, { below = n } or both"),
        ("{ waiting = { above = -1 } }", "waiting.above: expected a number of at least 0"),
        ('{ estimated_wait = { above = "soon" } }', 'seconds, or like "10m", "90s"'),
        ('{ queue = "support-uk" }', "expected { queue ="),
    ],
)
def test_check_refuses_an_unknown_measure_or_queue(when, problem):
    with pytest.raises(RulesError) as refused:
        rules_of(f'[[rules]]\nname = "r"\nwhen = {{ queue_load = {when} }}\nthen = {{}}\n')
    assert problem in str(refused.value)


def test_agents_off_queue_are_left_out_with_a_note():
    decision = decide(AGENTS, view(agents={ALICE: "OFF_QUEUE", BOB: "IDLE"}), queue_id=UK_QUEUE)
    assert list(decision.patch.routing_data.preferred_agent_ids) == [BOB]
    assert decision.notes == [f"preferred_agents: alice ({ALICE}) left out: off queue"]


def test_when_no_agent_is_left_the_rest_of_the_answer_stands():
    decision = decide(
        AGENTS, view(agents={ALICE: "OFF_QUEUE", BOB: "OFF_QUEUE"}), queue_id=UK_QUEUE
    )
    patch = MessageToDict(decision.patch)
    assert patch["routingData"] == {"queueId": UK_QUEUE, "skillIds": [ENGLISH]}
    assert decision.notes[-1] == "preferred_agents: no agent of this rule is on queue"


def test_unknown_or_stale_agents_are_all_kept_each_with_a_note():
    stale = view(agents={ALICE: "OFF_QUEUE", BOB: "OFF_QUEUE"}, now=100.0)
    for live in (None, view(), stale):
        decision = decide(AGENTS, live, queue_id=UK_QUEUE)
        assert list(decision.patch.routing_data.preferred_agent_ids) == [ALICE, BOB]
        assert len(decision.notes) == 2
        assert all("kept: routing status unknown" in note for note in decision.notes)


def test_an_owner_off_queue_frees_agent_owned_for_a_later_rule():
    ruleset = rules_of(
        """
[[rules]]
name = "owner"
when = { region = "GB" }
then = { agent_owned = "alice", agents_on_queue_only = true }
continue = true
[[rules]]
name = "backup"
when = { region = "GB" }
then = { agent_owned = "bob", queue = "support-uk" }
"""
    )
    owned = decide(ruleset, view(agents={ALICE: "IDLE"}))
    assert owned.patch.routing_data.scored_agents[0].agent.id == ALICE
    away = decide(ruleset, view(agents={ALICE: "OFF_QUEUE"}))
    assert away.patch.routing_data.scored_agents[0].agent.id == BOB
    assert "agent_owned: alice" in away.notes[0]


@pytest.mark.parametrize(
    ("then", "problem"),
    [
        ('{ queue = "support-uk", agents_on_queue_only = true }', "needs preferred_agents"),
        (
            '{ preferred_agents = ["alice"], agents_on_queue_only = "yes" }',
            "expected true or false",
        ),
    ],
)
def test_the_option_goes_beside_agents(then, problem):
    with pytest.raises(RulesError) as refused:
        rules_of(f'[[rules]]\nname = "r"\nthen = {then}\n')
    assert f"then.agents_on_queue_only: {problem}" in str(refused.value)


def test_the_decision_log_keeps_what_was_read_and_replay_decides_from_it():
    ruleset = rules_of(
        """
[[rules]]
name = "overflow"
when = { queue_load = { queue = "support-uk", waiting = { above = 5 } } }
then = { queue = "support-us", preferred_agents = ["alice", "bob"], agents_on_queue_only = true }
"""
    )
    live = view({UK_QUEUE: load(waiting=9, read_at=2.0)}, agents={ALICE: "OFF_QUEUE"})
    decision = decide(ruleset, live)
    response = decision_pb2.DecideResponse(patch=decision.patch, notes=decision.notes)
    request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
    entry = json.loads(
        json.dumps(log_entry(request, response, TUESDAY_NOON, OutsideFacts({LIVE: live}), 1, True))
    )
    assert entry["live"] == {
        "queues": {
            UK_QUEUE: {
                "waiting": 9,
                "interacting": 1,
                "agents_on_queue": 3,
                "agents_idle": 1,
                "estimated_wait": None,
                "age_seconds": 3.0,
            }
        },
        "agents": {
            ALICE: {"routing_status": "OFF_QUEUE", "age_seconds": 5.0},
            BOB: {"unknown": "not read yet"},
        },
    }
    replayed = ruleset.decide(CallbackRequest(**UK_MOBILE), TUESDAY_NOON, read_logged_facts(entry))
    assert replayed.patch == decision.patch
    assert replayed.notes == decision.notes
    # A candidate reading what the decision did not read finds it unknown.
    later = read_logged_facts(entry).get(LIVE)
    assert later is not None
    assert later.queue(US_QUEUE) is None
    assert later.why_unknown(US_QUEUE) == "not in the logged state"
    assert math.isinf(later.stale_after)


def test_cases_give_the_live_state(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        f"""
[[cases]]
name = "busy"
request = {{ phoneNumber = "07400123456", countryCode = "+44" }}
live = {{ queues = {{ "{UK_QUEUE}" = {{ waiting = 9 }} }} }}
expect = {{ rules = ["overflow"], patch = {{ queueId = "{US_QUEUE}" }} }}
[[cases]]
name = "quiet"
request = {{ phoneNumber = "07400123456", countryCode = "+44" }}
live = {{ queues = {{ "{UK_QUEUE}" = {{ waiting = 1 }} }} }}
expect = {{ rules = ["uk"] }}
[[cases]]
name = "unknown"
request = {{ phoneNumber = "07400123456", countryCode = "+44" }}
expect = {{ rules = ["uk"] }}
"""
    )
    assert [list(r.failures) for r in run_cases(OVERFLOW, cases)] == [[], [], []]


def test_the_kept_patch_parts_follow_the_live_state_and_agree_with_explain():
    """The rule set keeps one patch part per agents' standing: a change of routing status
    between two decisions changes the answer at once, and a traced decision (which keeps
    nothing) agrees every time."""
    request = CallbackRequest(**UK_MOBILE, queue_id=UK_QUEUE)
    seen = []
    for alice in ("OFF_QUEUE", "IDLE", "OFF_QUEUE", None, "IDLE"):
        agents = {BOB: "IDLE"} | ({ALICE: alice} if alice else {})
        facts = OutsideFacts({LIVE: view(agents=agents)})
        kept = AGENTS.decide(request, TUESDAY_NOON, facts)
        traced = explain(AGENTS, request, TUESDAY_NOON, OutsideFacts({LIVE: view(agents=agents)}))
        assert MessageToDict(kept.patch) == traced.patch
        assert kept.notes == traced.notes
        seen.append(list(kept.patch.routing_data.preferred_agent_ids))
    assert seen == [[BOB], [ALICE, BOB], [BOB], [ALICE, BOB], [ALICE, BOB]]


def test_explain_pretends_a_live_state_and_says_what_the_rules_read(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "version = 1\n[names.queues]\n"
        f'support-uk = "{UK_QUEUE}"\nsupport-us = "{US_QUEUE}"\n'
        '[[rules]]\nname = "overflow"\n'
        'when = { queue_load = { queue = "support-uk", waiting = { above = 5 } } }\n'
        'then = { queue = "support-us" }\n'
    )
    live = json.dumps({"queues": {UK_QUEUE: {"waiting": 9}}})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "explain",
            str(rules),
            "--phone",
            "07400123456",
            "--country-code",
            "+44",
            "--live",
            live,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "  overflow  MATCHED" in done.stdout
    read = json.loads(done.stdout.split("live state read: ", 1)[1])
    assert read["queues"][UK_QUEUE]["waiting"] == 9


@pytest.mark.parametrize(
    "raw",
    [
        {"queues": [1, 2]},
        {"queues": {UK_QUEUE: 9}},
        {"queues": {UK_QUEUE: {"waiting": "nine"}}, "agents": {ALICE: 3}},
        {"agents": "OFF_QUEUE"},
    ],
)
def test_a_malformed_live_table_reads_as_unknown_never_a_traceback(raw):
    assert decide(OVERFLOW, LIVE.read(raw)).matched_rules == ["uk"]
    assert decide(AGENTS, LIVE.read(raw), queue_id=UK_QUEUE).matched_rules == ["account-managers"]


IDLE_AGENTS = rules_of(
    """
[[rules]]
name = "nobody-idle"
when = { queue_load = { queue = "support-uk", agents_idle = { below = 1 } } }
then = { queue = "support-us" }
[[rules]]
name = "uk"
when = { region = "GB" }
then = { queue = "support-uk" }
"""
)


def test_a_measure_a_hand_written_state_leaves_out_is_unknown_not_zero():
    """A case giving only `waiting = 9` matched `agents_idle < 1`: the others read as 0."""
    only_waiting = LIVE.read({"queues": {UK_QUEUE: {"waiting": 9}}})
    assert decide(IDLE_AGENTS, only_waiting).matched_rules == ["uk"]
    with_idle = LIVE.read({"queues": {UK_QUEUE: {"waiting": 9, "agents_idle": 0}}})
    assert decide(IDLE_AGENTS, with_idle).matched_rules == ["nobody-idle"]
    assert decide(OVERFLOW, only_waiting).matched_rules == ["overflow"]

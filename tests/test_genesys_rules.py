"""The org snapshot in the rules: names people use resolve to the org's ids, every id is checked
against the org, and `check` says precisely what is wrong (file, rule, key, value, all at once),
what is only doubtful (warnings), and when the snapshot is old. The service reloads when the
snapshot changes, and refuses one that makes the rules invalid, the old rules staying live."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from decision.engine import RulesError
from decision.genesys.snapshot import FORMAT, VERSION, write_snapshot
from decision.rules.live import LiveRules, read_rules
from tests.engine_helpers import answer

SUPPORT_UK = "0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d10"
SUPPORT_UK_OTHER = "0b5c9a52-5c4e-4b0e-9d0e-3b7a6f1c2d11"  # same name, another division
SALES = "6f2e8d41-7a3b-4c5d-8e9f-0a1b2c3d4e5f"
ENGLISH = "c0ffee00-1111-4222-8333-444455556666"
SPANISH_DELETED = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
OLD_SKILL = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1e"
ANA = "3f1c2b4a-9d8e-4f7a-b6c5-1a2b3c4d5e6f"
BO = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"
GONE = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5969"
CAL = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5970"


def org(**changes: object) -> dict:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "pulled_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "mypurecloud.ie",
        "client_id": "client-1",
        "queues": [
            {
                "id": SALES,
                "name": "Sales",
                "division": "Home",
                "agent_owned_callbacks": False,
                "members": [{"id": ANA, "joined": True}],
            },
            {
                "id": SUPPORT_UK,
                "name": "Support UK",
                "division": "Home",
                "agent_owned_callbacks": True,
                "members": [{"id": ANA, "joined": True}, {"id": BO, "joined": False}],
            },
        ],
        "skills": [
            {"id": ENGLISH, "name": "English", "state": "active"},
            {"id": SPANISH_DELETED, "name": "Spanish", "state": "deleted"},
            {"id": OLD_SKILL, "name": "Old", "state": "inactive"},
        ],
        "languages": [],
        "users": [
            {"id": ANA, "name": "Ana Agent", "email": "ana@example.com", "state": "active"},
            {"id": BO, "name": "Bo Backup", "email": "bo@example.com", "state": "active"},
            {"id": CAL, "name": "Cal Gone", "email": "cal@example.com", "state": "inactive"},
        ],
        "scripts": [],
        "schedule_groups": [],
        "schedules": [],
        "emergency_groups": [],
    }
    document.update(changes)
    return document


def rules_with(tmp_path: Path, then: str, document: dict | None = None, when: str = "") -> Path:
    write_snapshot(document or org(), tmp_path / "org.json")
    path = tmp_path / "rules.toml"
    condition = when or 'widget_id = "1"'
    path.write_text(
        'version = 1\n[genesys]\nsnapshot = "org.json"\n'
        f'[[rules]]\nname = "uk"\nwhen = {{ {condition} }}\nthen = {{ {then} }}\n'
    )
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RulesError) as refused:
        read_rules(path)
    return refused.value.problems


def test_names_from_the_org_resolve_to_its_ids(tmp_path):
    path = rules_with(
        tmp_path,
        'queue = "support uk", skills = ["English"], preferred_agents = ["ana@example.com"]',
    )
    (tmp_path / "org.json").write_text((tmp_path / "org.json").read_text())
    rules = read_rules(path)
    assert rules.warnings == ()
    patch = answer(rules, widget_id="1")
    assert patch["queueId"] == SUPPORT_UK
    assert patch["routingData"]["skillIds"] == [ENGLISH]
    assert patch["routingData"]["preferredAgentIds"] == [ANA]


def test_every_problem_names_rule_key_and_value_with_the_closest_names(tmp_path):
    doc = org(
        queues=[
            *org()["queues"],
            {"id": SUPPORT_UK_OTHER, "name": "Support UK", "division": "Other", "members": []},
        ]
    )
    path = rules_with(
        tmp_path,
        'queue = "Suport UK", skills = ["Spanish", "Englsh"], agent_owned = "' + GONE + '"',
        doc,
        when='queue_id = "Support UK"',
    )
    found = problems(path)
    assert (
        f"rule 'uk': when.queue_id: 'Support UK' names 2 queues in the org snapshot ({SUPPORT_UK} in Home, {SUPPORT_UK_OTHER} in Other): give the id, or a [names.queues] alias"
        in found
    )
    assert (
        "rule 'uk': then.queue: unknown queue 'Suport UK' (not in [names.queues] nor the org snapshot); did you mean 'Support UK'?"
        in found
    )
    assert "rule 'uk': then.skills: skill 'Spanish' is deleted in the org snapshot" in found
    assert (
        "rule 'uk': then.skills: unknown skill 'Englsh' (not in [names.skills] nor the org snapshot); did you mean 'English'?"
        in found
    )
    assert f"rule 'uk': then.agent_owned: user id {GONE} is not in the org snapshot" in found


def test_warnings_for_what_is_inactive_or_not_a_member_of_the_queue(tmp_path):
    path = rules_with(
        tmp_path,
        f'queue = "Support UK", skills = ["{OLD_SKILL}"], preferred_agents = ["Bo Backup", "{CAL}"]',
    )
    warnings = read_rules(path).warnings
    assert "rule 'uk': then.skills: skill 'Old' is inactive in the org" in warnings
    assert (
        f"rule 'uk': then.preferred_agents: agent 'Bo Backup' ({BO}) is a member of queue 'Support UK' ({SUPPORT_UK}), which the rule decides, but has not joined it"
        in warnings
    )
    assert (
        f"rule 'uk': then.preferred_agents: agent 'Cal Gone' ({CAL}) is not a member of queue 'Support UK' ({SUPPORT_UK}), which the rule decides; Genesys offers callbacks only to members"
        in warnings
    )


def test_the_version_covers_the_snapshot_and_the_file_s_own_names_come_first(tmp_path):
    path = rules_with(tmp_path, 'queue = "Support UK"')
    first = read_rules(path).version
    # A refresh of an unchanged org (a new pull time only) is the same version.
    write_snapshot(org(pulled_at="2026-01-01T00:00:00Z"), tmp_path / "org.json")
    assert read_rules(path).version == first
    write_snapshot(org(client_id="client-2"), tmp_path / "org.json")
    assert read_rules(path).version != first
    path.write_text(
        path.read_text().replace(
            "[[rules]]", f'[names.queues]\n"Support UK" = "{SALES}"\n[[rules]]'
        )
    )
    assert answer(read_rules(path), widget_id="1")["queueId"] == SALES


def test_check_warns_of_an_old_snapshot_and_refuses_a_broken_one(tmp_path):
    old = (datetime.now(UTC) - timedelta(days=9, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = rules_with(tmp_path, 'queue = "Support UK"', org(pulled_at=old))

    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "decision", "check", str(path), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    done = check()
    assert done.returncode == 0
    assert (
        "genesys snapshot org.json was pulled 9 days 3 hours ago (older than --max-age 7d)"
        in done.stdout
    )
    assert "older than" not in check("--max-age", "10d").stdout
    (tmp_path / "org.json").write_text("{not json")
    done = check()
    assert done.returncode == 1
    assert "genesys.snapshot:" in done.stderr
    assert "not a snapshot" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "org.json").write_text('{"x": [' + "{}," * 400_001 + "{}]}")  # 3.4 GB before
    done = check()
    assert done.returncode == 1
    assert "not a snapshot (400,004 objects and arrays" in done.stderr
    (tmp_path / "org.json").write_text('{"x": [' + "1," * 3_000_000 + "1]}")  # 700 MB before
    done = check()
    assert done.returncode == 1
    assert "not a snapshot (3,000,001 values" in done.stderr
    (tmp_path / "org.json").write_text("[" * 200_000 + "]" * 200_000)  # N9: a RecursionError
    done = check()
    assert done.returncode == 1
    assert "not a snapshot (nested too deeply)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_service_reloads_a_new_snapshot_and_keeps_the_old_one_live_for_a_bad_one(tmp_path):
    path = rules_with(tmp_path, 'queue = "Support UK"')

    async def scenario() -> None:
        live = LiveRules(path, settle=0)
        before = live.current.version
        renamed = org()
        renamed["queues"] = [
            {**q, "id": SALES if q["name"] == "Support UK" else SUPPORT_UK}
            for q in renamed["queues"]
        ]
        write_snapshot(renamed, tmp_path / "org.json")
        assert live.changed()  # the snapshot alone changed
        assert await live.reload() is True
        assert answer(live.current, widget_id="1")["queueId"] == SALES
        # The queue deleted (or renamed) in Genesys: refused with the reason, old rules live.
        write_snapshot(org(queues=[]), tmp_path / "org.json")
        assert await live.reload() is False
        assert any("unknown queue 'Support UK'" in p for p in live.last_refused.problems)
        assert answer(live.current, widget_id="1")["queueId"] == SALES
        assert live.current.version != before

    asyncio.run(scenario())


def test_explain_and_replay_show_names_beside_ids(tmp_path):
    from contract.v1 import decision_pb2
    from decision.decision_log.entry import log_entry
    from decision.engine import NO_FACTS, CallbackRequest, explain
    from decision.rules.rendering import format_explanation
    from decision.rules.replay import replay

    path = rules_with(tmp_path, 'queue = "Support UK", preferred_agents = ["ana@example.com"]')
    rules = read_rules(path)
    explained = explain(rules, CallbackRequest(widget_id="1"), datetime.now(UTC))
    assert explained.names == {SUPPORT_UK: "Support UK", ANA: "Ana Agent"}
    assert f"  {SUPPORT_UK}  Support UK" in format_explanation(explained)
    # A logged decision that went to Sales, replayed with rules that send it to Support UK.
    request = decision_pb2.DecideRequest(widget_id="1", phone_number="+447400123456")
    response = decision_pb2.DecideResponse(matched_rules=["uk"])
    response.patch.queue_id = SALES
    log = tmp_path / "decisions.jsonl"
    import json as json_module

    entry = log_entry(request, response, datetime.now(UTC), NO_FACTS, 1.0, True)
    log.write_text(json_module.dumps(entry) + "\n")
    report = replay(log, rules)
    (example,) = report.changes[("uk", "uk")]
    assert f"queueId: {SALES} (Sales) -> {SUPPORT_UK} (Support UK)" in example["differences"]


def test_the_rules_view_names_every_id_the_rules_use(tmp_path):
    from decision.rules.rule_names import rules_names

    path = rules_with(
        tmp_path,
        f'queue = "Support UK", preferred_agents = ["ana@example.com", "{BO}"]',
        when=f'queue_id = "{SALES}"',
    )
    rules = read_rules(path)
    # Ids the file writes, and ids it gives by name.
    assert rules_names(rules, path.read_text()) == {
        SALES: "Sales",
        BO: "Bo Backup",
        SUPPORT_UK: "Support UK",
        ANA: "Ana Agent",
    }


def test_an_alias_may_hold_a_name_of_the_org_and_a_wrong_one_is_told_as_such(tmp_path):
    path = rules_with(tmp_path, 'queue = "uk", agent_owned = "ana"')
    path.write_text(
        path.read_text().replace(
            "[[rules]]",
            '[names.agents]\nana = "Ana Agent"\n[names.queues]\nuk = "support uk"\n[[rules]]',
        )
    )
    patch = answer(read_rules(path), widget_id="1")
    assert patch["queueId"] == SUPPORT_UK
    assert patch["routingData"]["scoredAgents"][0]["agent"]["id"] == ANA
    # A value that is neither an id nor a name of the org: said where it is written, and a
    # rule using the alias is told the alias is wrong (not that "Ann Agent" is an id).
    path.write_text(path.read_text().replace('ana = "Ana Agent"', 'ana = "Ann Agent"'))
    found = problems(path)
    assert found == [
        "names.agents.ana: expected a Genesys id or a name in the org snapshot: unknown user "
        "'Ann Agent' (not in [names.agents] nor the org snapshot); did you mean 'Ana Agent'?",
        "rule 'uk': then.agent_owned: the [names.agents] alias 'ana' cannot be used: its value "
        "is not a Genesys id nor a name in the org snapshot (names.agents.ana)",
    ]


def test_a_snapshot_that_cannot_be_read_does_not_make_every_name_look_wrong(tmp_path):
    path = rules_with(tmp_path, f'queue = "Support UK", preferred_agents = ["{ANA}"]')
    (tmp_path / "org.json").write_text("{not json")
    found = problems(path)
    assert found[0].startswith("genesys.snapshot: ")
    assert found[1:] == [
        "rule 'uk': then.queue: queue 'Support UK' cannot be looked up: the org snapshot "
        "could not be read (see genesys.snapshot)"
    ]


def two_rules(tmp_path: Path, first: str, second: str, defaults: str = "") -> Path:
    write_snapshot(org(), tmp_path / "org.json")
    path = tmp_path / "rules.toml"
    path.write_text(
        f'version = 1\n[genesys]\nsnapshot = "org.json"\n[defaults]\n{defaults}\n'
        f'[[rules]]\nname = "vip"\nwhen = {{ widget_id = "1" }}\n{first}\n'
        f'[[rules]]\nname = "sales"\nwhen = {{ widget_id = "1" }}\n{second}\n'
    )
    return path


def test_agents_of_a_continue_rule_are_checked_against_the_queue_a_later_rule_decides(tmp_path):
    path = two_rules(
        tmp_path,
        'then = { preferred_agents = ["Bo Backup", "Ana Agent"] }\ncontinue = true',
        'then = { queue = "Sales" }',
    )
    assert read_rules(path).warnings == (
        f"rule 'vip': then.preferred_agents: agent 'Bo Backup' ({BO}) is not a member of queue "
        f"'Sales' ({SALES}), which rule 'sales' may decide when this rule matches; Genesys "
        "offers callbacks only to members",
    )
    # And the other way round: a continue rule's queue wins over a later rule's own.
    path = two_rules(
        tmp_path,
        'then = { queue = "Sales" }\ncontinue = true',
        'then = { queue = "Support UK", preferred_agents = ["Bo Backup"] }',
    )
    warnings = read_rules(path).warnings
    assert (
        f"rule 'sales': then.preferred_agents: agent 'Bo Backup' ({BO}) is not a member of queue "
        f"'Sales' ({SALES}), which rule 'vip' may decide when this rule matches; Genesys offers "
        "callbacks only to members"
    ) in warnings
    assert len(warnings) == 2  # and not joined to its own queue
    # Without continue, a later rule's queue is not the rule's: the defaults' queue may be.
    path = two_rules(
        tmp_path,
        'then = { preferred_agents = ["Bo Backup"] }',
        'then = { queue = "Sales" }',
        defaults='queue = "Sales"',
    )
    assert read_rules(path).warnings == (
        f"rule 'vip': then.preferred_agents: agent 'Bo Backup' ({BO}) is not a member of queue "
        f"'Sales' ({SALES}), which [defaults] may decide when this rule matches; Genesys "
        "offers callbacks only to members",
    )


def test_an_agent_owned_callback_on_a_queue_that_does_not_enable_them_is_warned(tmp_path):
    path = rules_with(tmp_path, 'queue = "Sales", agent_owned = "Ana Agent"')
    assert read_rules(path).warnings == (
        f"rule 'uk': then.agent_owned: queue 'Sales' ({SALES}), which the rule decides, does not "
        "enable agent-owned callbacks in the org snapshot "
        "(agentOwnedRouting.enableAgentOwnedCallbacks); Genesys creates them only on a queue "
        "that does",
    )
    assert (
        read_rules(rules_with(tmp_path, 'queue = "Support UK", agent_owned = "Ana Agent"')).warnings
        == ()
    )
    # An owning agent from the contact: the queue is still checked.
    path = two_rules(
        tmp_path,
        'then = { agent_owned = "@contact" }\ncontinue = true',
        'then = { queue = "Sales" }',
    )
    (warning,) = read_rules(path).warnings
    assert "which rule 'sales' may decide when this rule matches, does not enable" in warning


def test_the_service_says_which_snapshot_went_live_and_when_it_was_pulled(tmp_path, caplog):
    path = rules_with(tmp_path, 'queue = "Support UK"', org(pulled_at="2026-03-04T05:06:07Z"))
    with caplog.at_level("INFO", logger="decision.rules"):
        live = LiveRules(path, settle=0)
    assert (
        f"rules version {live.current.version} is live (1 rules; genesys snapshot org.json "
        "pulled 2026-03-04 05:06 UTC)"
    ) in caplog.messages


def test_an_inactive_entity_by_name_is_a_warning_as_by_id(tmp_path):
    """The issue: "warning: a skill, language or user that is not active"; by name it was an
    error ("skill 'Old' is inactive in the org snapshot", exit 1) while by id a warning."""
    path = rules_with(
        tmp_path, 'queue = "Support UK", skills = ["Old"], preferred_agents = ["cal@example.com"]'
    )
    rules = read_rules(path)
    assert "rule 'uk': then.skills: skill 'Old' is inactive in the org" in rules.warnings
    assert any("'Cal Gone' is inactive in the org" in w for w in rules.warnings), rules.warnings
    patch = answer(rules, widget_id="1")
    assert patch["routingData"]["skillIds"] == [OLD_SKILL]
    assert patch["routingData"]["preferredAgentIds"] == [CAL]

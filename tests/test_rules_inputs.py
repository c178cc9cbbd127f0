"""The seam for what besides the rules file changes decisions: names from another source (as a
Genesys org snapshot gives them) resolve after `[names.*]`, and the rules version covers every
input, while a file compiled alone keeps the version it always had (a hash of its text)."""

from __future__ import annotations

import hashlib

import pytest

from decision.engine import RulesError, RulesInput, parse_rules
from tests.engine_helpers import answer

QUEUE_ORG = "5a9d0c4e-1b2f-4c3d-8e5f-00000000000a"
QUEUE_ALIAS = "5a9d0c4e-1b2f-4c3d-8e5f-00000000000b"
RULES = """
version = 1
[names.queues]
alias = "5a9d0c4e-1b2f-4c3d-8e5f-00000000000b"
[[rules]]
name = "by-org-name"
when = { widget_id = "1" }
then = { queue = "Support UK" }
[[rules]]
name = "alias-first"
when = { widget_id = "2" }
then = { queue = "alias" }
"""


class Org:
    def __init__(self, queues: dict[str, str]) -> None:
        self.queues = queues

    def resolve(self, kind: str, value: str) -> str | None:
        return self.queues.get(value) if kind == "queues" else None

    def unknown(self, kind: str, value: str) -> str:
        return f"unknown {kind[:-1]} name {value!r} (not in the org)"

    def id_problem(self, kind: str, entity_id: str) -> str | None:
        return None

    def warnings(self, kind: str, entity_id: str) -> list[str]:
        return []

    def members(self, queue_id: str) -> dict[str, bool] | None:
        return None

    def name_of(self, kind: str, entity_id: str) -> str | None:
        return next((n for n, i in self.queues.items() if i == entity_id), None)

    def owned_callbacks(self, queue_id: str) -> bool | None:
        return None


def test_a_name_from_another_source_resolves_and_the_file_s_own_names_come_first():
    org = Org({"Support UK": QUEUE_ORG, "alias": QUEUE_ORG})
    rules = parse_rules(RULES, "r.toml", [RulesInput("org", "d1", org)])
    assert answer(rules, widget_id="1")["queueId"] == QUEUE_ORG
    assert answer(rules, widget_id="2")["queueId"] == QUEUE_ALIAS


def test_without_the_source_the_name_is_unknown():
    with pytest.raises(RulesError, match="unknown queue name 'Support UK'"):
        parse_rules(RULES, "r.toml")


def test_the_version_covers_every_input_and_is_unchanged_without_one():
    text = RULES.replace('"Support UK"', '"alias"')
    alone = parse_rules(text, "r.toml")
    assert alone.version == hashlib.sha256(text.encode()).hexdigest()[:16]
    org = Org({})
    one = parse_rules(text, "r.toml", [RulesInput("org", "d1", org)])
    other = parse_rules(text, "r.toml", [RulesInput("org", "d2", org)])
    assert len({alone.version, one.version, other.version}) == 3

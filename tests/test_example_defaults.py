"""The example rules say what [defaults] do, and the engine does what they say: defaults fill
what no matched rule set, so a rule's own value wins over the default's."""

from __future__ import annotations

from tests.conftest import EXAMPLE_RULES
from tests.engine_helpers import answer, rules


def test_the_examples_comment_says_defaults_fill_what_no_rule_set():
    text = EXAMPLE_RULES.read_text()
    comment = text[: text.index("[defaults]")].rstrip().splitlines()[-2:]
    assert " ".join(comment) == (
        "# Fill what no matched rule set (scalars and data keys); their skills and agents are "
        "added # after the matched rules' own."
    )
    assert "before the rules" not in text


def test_and_the_engine_agrees():
    ruleset = rules(
        '[defaults]\npriority = 1\ndata = { routed_by = "defaults", tier = "standard" }\n'
        '[[rules]]\nname = "r"\nwhen = {}\n'
        'then = { priority = 5, data = { tier = "gold" }, queue = "support-uk" }\n'
    )
    body = answer(ruleset, phone_number="07400123456", country_code="+44")
    assert body["routingData"]["priority"] == 5
    assert body["data"] == {"tier": "gold", "routed_by": "defaults"}

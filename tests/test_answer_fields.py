"""The answer-field table (`contract.callback.ANSWER_FIELDS`) is the one statement of what an
answer may carry: it matches the proto's CallbackPatch field for field, every `then` key in it
has a compiler, and the README's actions table lists every key, so a new Genesys answer field
really is the proto plus one entry."""

from __future__ import annotations

import re
from pathlib import Path

from contract.callback import ANSWER_FIELDS, CALLBACK_PATCH, ROUTING_DATA
from contract.v1.decision_pb2 import CallbackPatch, RoutingData
from decision.engine.action_compilers import ACTION_FIELDS, VALUE_COMPILERS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_proto_field_has_one_answer_field_and_back():
    proto = {f.json_name for f in CallbackPatch.DESCRIPTOR.fields if f.json_name != "routingData"}
    proto |= {f"routingData.{f.json_name}" for f in RoutingData.DESCRIPTOR.fields}
    paths = [field.path for field in ANSWER_FIELDS]
    assert len(paths) == len(set(paths)), "a field stated twice"
    assert set(paths) == proto


def test_the_schemas_the_facade_checks_are_the_table_s():
    assert set(ROUTING_DATA) == {f.name for f in ANSWER_FIELDS if f.routing}
    assert set(CALLBACK_PATCH) == {f.path for f in ANSWER_FIELDS if not f.routing} | {"routingData"}


def test_every_then_key_has_a_compiler_and_ids_a_names_table():
    keys = [f.then for f in ANSWER_FIELDS if f.then]
    assert len(keys) == len(set(keys)), "a then key for two fields"
    for field in ANSWER_FIELDS:
        assert bool(field.then) == bool(field.value), field.path
        if field.value:
            assert field.value in VALUE_COMPILERS, field.path
        if field.value in ("id", "ids", "queue", "agent_owned"):
            assert field.names, field.path


def test_every_then_key_is_in_the_readme():
    readme = README.read_text()
    table = readme.split("**Actions** (`then`):", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)`|, `([a-z_]+)`", table, re.MULTILINE))
    documented = {name for pair in documented for name in pair if name}
    assert set(ACTION_FIELDS) <= documented

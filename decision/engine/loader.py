"""Reads a rules file (TOML) into a RuleSet: the document's shape (version, names, defaults,
rules), refusing anything invalid with file, rule and key, every problem at once.

Nothing in the file is ever evaluated as code: every key maps onto a declared condition kind
(`conditions.py`) or action (`action_compilers.py`)."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers

from decision.engine.action_compilers import compile_actions
from decision.engine.compiling import Compiler, RulesError
from decision.engine.conditions import compile_conditions
from decision.engine.names import Names, NameSource, read_names
from decision.engine.rule_warnings import membership_warnings, schedule_warnings
from decision.engine.ruleset import Rule, RuleSet

DEFAULT_HORIZON_DAYS = 30
_DEFAULTS_SETTINGS = ("timezone", "region", "schedule_horizon_days")
_RULE_KEYS = ("name", "description", "when", "then", "continue")


@dataclass(frozen=True)
class RulesInput:
    """Something besides the rules file that its decisions depend on (a Genesys org snapshot):
    its name, a digest of its content, which the rules version covers, and the names it gives."""

    name: str
    digest: str
    names: NameSource | None = None
    path: str = ""  # the file it was read from, which a service watches like the rules file
    taken_at: datetime | None = None  # when its content was taken (a snapshot's pull time)


# Reads the inputs a rules file names (its `[genesys]` table): the inputs and the problems, each
# with its place. The engine reads no file: its caller (decision/rules/live.py) does.
InputsReader = Callable[[Any], tuple[list[RulesInput], list[str]]]


def rules_version(text: str, inputs: Sequence[RulesInput] = ()) -> str:
    """A hash of everything that changes decisions: the file's text (alone, when there is
    nothing else, so a version stays what it was) and each input's digest."""
    content = text if not inputs else "\0".join([text, *(f"{i.name}:{i.digest}" for i in inputs)])
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def parse_rules(
    text: str,
    source: str = "<rules>",
    inputs: Sequence[RulesInput] = (),
    read_inputs: InputsReader | None = None,
) -> RuleSet:
    """Compiles a rules file's text with its other inputs (`inputs`, and those `read_inputs`
    reads from the file's `[genesys]` table); raises RulesError listing every problem found.
    Without `read_inputs`, `[genesys]` is left unread."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(source, [f"not valid TOML: {error}"]) from None
    except RecursionError:  # tomllib recurses per nesting level; no rules file nests so deep
        raise RulesError(source, ["not valid TOML: nested too deeply"]) from None
    compiler = Compiler(Names({}))
    if doc.get("version") != 1:
        compiler.problem("version", "expected `version = 1`")
    for key in set(doc) - {"version", "names", "defaults", "rules", "genesys"}:
        compiler.problem(
            key, "unknown top-level key (known: version, names, defaults, rules, genesys)"
        )
    if "genesys" in doc and read_inputs is not None:
        read, problems = read_inputs(doc["genesys"])
        inputs = [*inputs, *read]
        for problem in problems:
            compiler.problems.append(problem)
    name_sources = [i.names for i in inputs if i.names is not None]
    compiler.names = read_names(doc.get("names", {}), compiler.problem, name_sources)

    raw_defaults = doc.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        compiler.problem("defaults", "expected a table")
        raw_defaults = {}
    zone_name = raw_defaults.get("timezone", "UTC")
    compiler.zone("defaults.timezone", zone_name)
    region = raw_defaults.get("region", "")
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        compiler.problem("defaults.region", f"unknown region {region!r}")
    horizon = raw_defaults.get("schedule_horizon_days", DEFAULT_HORIZON_DAYS)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= 366:
        compiler.problem(
            "defaults.schedule_horizon_days", "expected a whole number of days, 1..366"
        )
        horizon = DEFAULT_HORIZON_DAYS
    compiler.horizon = timedelta(days=horizon)
    defaults = compile_actions(compiler, "defaults", raw_defaults, skip=_DEFAULTS_SETTINGS)

    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        compiler.problem("rules", "expected [[rules]] tables")
        raw_rules = []
    rules = _rules(compiler, raw_rules)

    if compiler.problems:
        raise RulesError(source, compiler.problems)
    return RuleSet.build(
        source=source,
        version=rules_version(text, inputs),
        rules=tuple(rule for rule, _ in rules),
        defaults=tuple(defaults),
        default_zone=zone_name,
        default_region=region,
        horizon=timedelta(days=horizon),
        warnings=(
            *schedule_warnings(rules),
            *compiler.warnings,
            *membership_warnings([rule for rule, _ in rules], compiler.names, defaults),
        ),
        inputs=tuple(inputs),
        names=compiler.names,
        needs=frozenset(compiler.needs),
    )


def _rules(compiler: Compiler, raw_rules: list[Any]) -> list[tuple[Rule, set[str]]]:
    """Each `[[rules]]` table as a Rule, with the `then` keys it sets (for the warnings)."""
    rules: list[tuple[Rule, set[str]]] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_rules, start=1):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"rule {name!r}" if isinstance(name, str) and name else f"rule #{number}"
        if not isinstance(raw, dict):
            compiler.problem(where, "expected a table")
            continue
        if not isinstance(name, str) or not name:
            compiler.problem(where, "needs a non-empty `name`")
        elif name in seen:
            compiler.problem(where, "duplicate rule name")
        seen.add(str(name))
        for key in set(raw) - set(_RULE_KEYS):
            compiler.problem(
                f"{where}: {key}", "unknown key (known: name, description, when, then, continue)"
            )
        if "then" not in raw:
            compiler.problem(where, "needs a `then` table of actions")
        keep_going = raw.get("continue", False)
        if not isinstance(keep_going, bool):
            compiler.problem(f"{where}: continue", "expected true or false")
        conditions = compile_conditions(compiler, f"{where}: when", raw.get("when", {}))
        actions = compile_actions(compiler, f"{where}: then", raw.get("then", {}))
        then = raw.get("then")
        then_keys: set[str] = set(then) if isinstance(then, dict) else set()
        rules.append(
            (Rule(str(name), tuple(conditions), tuple(actions), keep_going is True), then_keys)
        )
    return rules

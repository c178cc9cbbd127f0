"""`decision check|test|explain|replay|install`: the rules file, checked, tested, explained,
replayed against logged decisions and installed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract.webhook import PayloadError, request_from_document
from decision.cli.directory_source import (
    DirectorySourceError,
    add_directory_arguments,
    directory_spec,
)
from decision.directory import DirectoryError, open_directory
from decision.engine import (
    CONTACT,
    MOMENT_RANGE_TEXT,
    Contact,
    OutsideFacts,
    RulesError,
    RuleSet,
    decidable,
    explain,
    number_facts,
    parse_rules,
)
from decision.engine.live import LIVE, LiveView
from decision.rules.cases import CasesError, run_cases
from decision.rules.coverage import format_coverage, rule_coverage
from decision.rules.install import install_rules
from decision.rules.live import RulesInputs, read_rules, read_rules_text
from decision.rules.rendering import format_explanation
from decision.service.what_if import WhatIfError, with_named_queue
from plumbing.settings import parse_duration

CLI_LOOKUP_SECONDS = 5.0  # a person waits for explain; the service's deadline is its own


async def _look_up(spec: str, e164: str) -> Contact | None:
    async with await open_directory(spec, CLI_LOOKUP_SECONDS, create=False) as directory:
        try:
            return await directory.lookup(e164)
        except TimeoutError:
            raise DirectoryError(
                f"{directory.where}: no answer to the lookup within {CLI_LOOKUP_SECONDS:g} s"
            ) from None


def _rules_or_report(path: str) -> RuleSet | None:
    """The compiled rules, or None after printing every problem with its place."""
    try:
        return read_rules(path)
    except RulesError as error:
        print(error, file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    for warning in rules.warnings:
        print(f"{args.rules}: warning: {warning}")
    now = datetime.now(UTC)
    for taken in rules.inputs:
        if taken.taken_at is not None and now - taken.taken_at > args.max_age:
            age = now - taken.taken_at
            print(
                f"{args.rules}: warning: {taken.name} was pulled {age.days} days "
                f"{age.seconds // 3600} hours ago (older than --max-age {_span(args.max_age)})"
            )
    print(f"{args.rules}: ok, {_rules_count(rules)}, version {rules.version}")
    return 0


def _rules_count(rules: RuleSet) -> str:
    return f"{len(rules.rules)} rule{'s' * (len(rules.rules) != 1)}"


def _span(span: timedelta) -> str:
    return f"{span.days}d" if not span.seconds else f"{span.total_seconds() / 3600:g}h"


def _duration(text: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _test(args: argparse.Namespace) -> int:
    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    try:
        results = run_cases(rules, args.cases)
    except CasesError as error:
        print(error, file=sys.stderr)
        return 1
    for result in results:
        print(f"{'FAIL' if result.failures else 'PASS'}: {result.name}")
        print("".join(f"    {failure}\n" for failure in result.failures), end="")
    failed = sum(bool(r.failures) for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    status = 1 if failed or not results else 0
    if args.coverage or args.threshold is not None:
        coverage = rule_coverage(rules, results)
        print(format_coverage(coverage))
        if args.threshold is not None and coverage.percent < args.threshold:
            print(f"coverage below the threshold of {args.threshold}%")
            status = 1
    return status


def _explain(args: argparse.Namespace) -> int:
    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    payload = {
        "phoneNumber": args.phone,
        "countryCode": args.country_code,
        "widgetId": args.widget,
        "queueId": args.queue,
        "scriptId": args.script,
        "scheduleGroupId": args.schedule_group,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    payload.update(args.attribute)
    notes: list[str] = []
    try:
        # --queue takes what the rules take: a name of theirs, or an id.
        request = with_named_queue(request_from_document(payload), rules, notes)
    except (PayloadError, WhatIfError) as error:
        print(f"explain: {error}", file=sys.stderr)
        return 2
    contact = None
    try:
        # --contact pretends; otherwise the caller is looked up in the directory given, the
        # service's own when DECISION_CONTACTS says which.
        spec = "" if args.contact else directory_spec(args, os.environ)
        if args.contact:
            contact = CONTACT.read(dict(args.contact))
        elif spec:
            number = number_facts(request.phone_number, request.country_code, rules.default_region)
            contact = asyncio.run(_look_up(spec, number.e164))
    except (DirectorySourceError, DirectoryError) as error:
        print(error, file=sys.stderr)
        return 1
    at = args.at or datetime.now(UTC)
    facts = OutsideFacts({CONTACT: contact, LIVE: args.live})
    explained = explain(rules, request, at, facts)
    explained.notes[:0] = notes
    print(format_explanation(explained))
    if args.live is not None:  # what the rules read of it, as the decision log keeps it
        print(f"live state read: {json.dumps(LIVE.write(args.live))}")
    return 0


def _live_state(text: str) -> LiveView:
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError
        return LIVE.read(raw)
    except (ValueError, TypeError, AttributeError):
        raise argparse.ArgumentTypeError(
            'expected JSON like {"queues": {"<queue id>": {"waiting": 9}}}'
        ) from None


def _replay(args: argparse.Namespace) -> int:
    from decision.rules.replay import format_report, replay

    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    try:
        report = replay(args.log, rules)
    except OSError as error:
        print(f"{args.log}: cannot read the decision log: {error.strerror}", file=sys.stderr)
        return 1
    print(format_report(report, args.log, rules))
    if not args.fail_on_change:
        return 0
    # A gate pointed at the wrong file, or at one rotated away, must not pass for want of
    # decisions to compare (a torn last line among decisions is only reported).
    if report.total == 0:
        print(f"{args.log}: --fail-on-change: no decision in the log, so nothing was checked")
        return 1
    return 1 if report.changed else 0


def _install(args: argparse.Namespace) -> int:
    """Checks the candidate and runs its cases, then renames a copy over the live file: the
    bytes checked are the bytes installed, and the service never sees half a file."""
    try:
        text = read_rules_text(args.candidate)
        # What it names beside itself (an org snapshot) is where the live file will find it.
        rules = parse_rules(text, args.candidate, read_inputs=RulesInputs(Path(args.live)))
    except RulesError as error:
        print(error, file=sys.stderr)
        print(f"{args.live}: not changed", file=sys.stderr)
        return 1
    for warning in rules.warnings:
        print(f"{args.candidate}: warning: {warning}")
    if args.cases:
        try:
            results = run_cases(rules, args.cases)
        except CasesError as error:
            print(f"{error}\n{args.live}: not changed", file=sys.stderr)
            return 1
        failed = [r for r in results if r.failures]
        for result in failed:
            print(f"FAIL: {result.name}")
            print("".join(f"    {failure}\n" for failure in result.failures), end="")
        if failed or not results:
            print(f"{len(failed)} of {len(results)} cases failed; {args.live}: not changed")
            return 1
        print(f"{len(results)} cases passed")
    # Said of what the user named, not of the staging file beside it.
    live = Path(args.live)
    if live.is_dir():
        print(f"{args.live}: not changed: a directory, not a rules file", file=sys.stderr)
        return 1
    if not live.resolve().parent.is_dir():
        print(
            f"{args.live}: not changed: no such directory {live.resolve().parent}", file=sys.stderr
        )
        return 1
    try:
        install_rules(text, args.live)
    except OSError as error:
        print(f"{args.live}: not changed: {error.strerror or error}", file=sys.stderr)
        return 1
    print(
        f"{args.live}: installed version {rules.version} ({_rules_count(rules)}); the service "
        "loads it at its next check once it has settled, or on SIGHUP"
    )
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not (equals and key):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return key, value


def _moment(text: str) -> datetime:
    """An ISO 8601 moment; one without an offset is UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 moment such as 2026-11-24T18:00:00Z"
        ) from None
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if not decidable(at):
        raise argparse.ArgumentTypeError(f"{text!r} is outside {MOMENT_RANGE_TEXT}")
    return at


def add_commands(commands: argparse._SubParsersAction) -> None:
    check_cmd = commands.add_parser("check", help="validate a rules file")
    check_cmd.add_argument("rules")
    check_cmd.add_argument(
        "--max-age",
        type=_duration,
        default=timedelta(days=7),
        help="warn when the org snapshot is older than this (default 7d)",
    )
    check_cmd.set_defaults(run=_check)

    test_cmd = commands.add_parser("test", help="run routing test cases against a rules file")
    test_cmd.add_argument("rules")
    test_cmd.add_argument("cases")
    test_cmd.add_argument("--coverage", action="store_true", help="list rules no case matched")
    test_cmd.add_argument("--threshold", type=float, help="fail below this %% of rules covered")
    test_cmd.set_defaults(run=_test)

    explain_cmd = commands.add_parser("explain", help="show how one request would be decided")
    explain_cmd.add_argument("rules")
    explain_cmd.add_argument("--phone", required=True)
    explain_cmd.add_argument("--country-code")
    explain_cmd.add_argument("--widget")
    explain_cmd.add_argument("--queue", help="a queue id, or a name the rules know")
    explain_cmd.add_argument("--script")
    explain_cmd.add_argument("--schedule-group")
    explain_cmd.add_argument(
        "--attribute", action="append", default=[], type=_key_value, metavar="KEY=VALUE"
    )
    explain_cmd.add_argument(
        "--contact",
        action="append",
        default=[],
        type=_key_value,
        metavar="FIELD=VALUE",
        help="pretend the caller is a known contact (tier=vip, name=...)",
    )
    add_directory_arguments(explain_cmd, "look the caller up in this contact directory")
    explain_cmd.add_argument(
        "--at", type=_moment, help="ISO 8601 moment, e.g. 2026-11-24T18:00:00Z (default: now)"
    )
    explain_cmd.add_argument(
        "--live",
        type=_live_state,
        metavar="JSON",
        help="pretend the live Genesys state, as a cases file's live table: '{\"queues\": "
        '{"<queue id>": {"waiting": 9}}, "agents": {"<agent id>": "OFF_QUEUE"}}\'',
    )
    explain_cmd.set_defaults(run=_explain)

    replay_cmd = commands.add_parser(
        "replay", help="re-decide logged decisions with candidate rules and report changes"
    )
    replay_cmd.add_argument("log", help="decision log (JSON lines, --decision-log)")
    replay_cmd.add_argument("--rules", required=True, help="candidate rules file")
    replay_cmd.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when any decision would change, or when the log holds none (for CI)",
    )
    replay_cmd.set_defaults(run=_replay)

    install_cmd = commands.add_parser(
        "install",
        help="check a candidate rules file, run its cases, then put it over the live file "
        "in one rename",
    )
    install_cmd.add_argument("candidate", help="the new rules file")
    install_cmd.add_argument("live", help="the rules file the service watches (--rules)")
    install_cmd.add_argument("--cases", help="routing test cases that must all pass first")
    install_cmd.set_defaults(run=_install)

"""`python -m decision`: serve the rules, check them, test them, explain one decision."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict

from decision.cases import contact_from_mapping, request_from_webhook, run_cases
from decision.config import DecisionSettings
from decision.contacts_csv import ContactsCsvError, read_contacts, write_contacts
from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.engine import Contact, RulesError, RuleSet, number_facts
from decision.rules_file import read_rules
from plumbing.logs import configure_logging
from plumbing.settings import SettingsError, add_arguments, resolve, settings_epilog

DIRECTORY_HELP = "contact directory: a SQLite file path"


def _serve(args: argparse.Namespace) -> int:
    from decision.server import serve

    try:
        settings = resolve(DecisionSettings, args, os.environ, "DECISION")
    except SettingsError as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings))
    except RulesError as error:
        print(f"decision: rules not loaded:\n{error}", file=sys.stderr)
        return 2
    except DirectoryError as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    return 0


async def _write_directory(spec: str, records: list[ContactRecord], replace: bool) -> int:
    async with await open_directory(spec) as directory:
        return await directory.write(records, replace)


async def _read_directory(spec: str) -> list[ContactRecord]:
    async with await open_directory(spec) as directory:
        return await directory.records()


async def _look_up(spec: str, e164: str) -> Contact | None:
    async with await open_directory(spec) as directory:
        return await directory.lookup(e164)


def _contacts_import(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        with open(args.file, newline="", encoding="utf-8") as stream:
            records = read_contacts(stream, args.file, args.default_region or "")
        count = asyncio.run(_write_directory(args.contacts, records, args.replace))
    except (ContactsCsvError, DirectoryError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    numbers = sum(len(r.numbers) for r in records)
    print(
        f"{args.contacts}: {'replaced with' if args.replace else 'upserted'} {count} contacts "
        f"({numbers} numbers) in {time.perf_counter() - started:.1f}s"
    )
    return 0


def _contacts_export(args: argparse.Namespace) -> int:
    try:
        records = asyncio.run(_read_directory(args.contacts))
    except DirectoryError as error:
        print(error, file=sys.stderr)
        return 1
    write_contacts(records, sys.stdout)
    return 0


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
    print(f"{args.rules}: ok, {len(rules.rules)} rules, version {rules.version}")
    return 0


def _test(args: argparse.Namespace) -> int:
    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    results = run_cases(rules, args.cases)
    for result in results:
        print(f"{'PASS' if result.failure is None else 'FAIL'}: {result.name}")
        if result.failure:
            print(f"    {result.failure}")
    failed = sum(r.failure is not None for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    status = 1 if failed or not results else 0
    if args.coverage or args.threshold is not None:
        matched = {name for r in results for name in r.matched_rules}
        uncovered = [rule.name for rule in rules.rules if rule.name not in matched]
        covered = 100.0 * (len(rules.rules) - len(uncovered)) / max(len(rules.rules), 1)
        print(f"coverage: {covered:.1f}% of rules matched by some case")
        for name in uncovered:
            print(f"    never matched: {name}")
        if args.threshold is not None and covered < args.threshold:
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
    payload.update(dict(item.split("=", 1) for item in args.attribute))
    request = request_from_webhook(payload)
    contact = None
    if args.contact:
        contact = contact_from_mapping(dict(item.split("=", 1) for item in args.contact))
    elif args.contacts:
        number = number_facts(request.phone_number, request.country_code, rules.default_region)
        try:
            contact = asyncio.run(_look_up(args.contacts, number.e164))
        except DirectoryError as error:
            print(error, file=sys.stderr)
            return 1
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    decision, traces = rules.explain(request, at, contact)
    number = decision.number
    print(f"rules {rules.source} version {rules.version}")
    print("facts")
    facts = {
        "e164": number.e164 or "(not parsed)",
        "region": number.region or "(unknown)",
        "calling code": number.calling_code or "(unknown)",
        "number type": number.number_type,
        "valid": number.valid,
        "time zone": f"{decision.time_zone} ({decision.time_zone_source})",
        "local time": decision.local_time.isoformat(),
        "contact": "known" if contact else "unknown",
    }
    for key, value in facts.items():
        print(f"  {key:<13} {value}")
    print("rules")
    width = max((len(t.name) for t in traces), default=0)
    for trace in traces:
        if trace.skipped:
            fate = "not tried: an earlier rule decided"
        elif trace.matched:
            fate = "MATCHED"
        else:
            fate = f"not matched: {trace.failed} failed"
        print(f"  {trace.name:<{width}}  {fate}")
    print("patch")
    print(json.dumps(MessageToDict(decision.patch), indent=2))
    for note in decision.notes:
        print(f"note: {note}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from decision.replay import format_report, replay

    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    report = replay(args.log, rules)
    print(format_report(report, args.log, rules))
    return 1 if args.fail_on_change and report.changed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m decision",
        description=__doc__,
        epilog=settings_epilog(DecisionSettings, "DECISION", "python -m decision serve"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve",
        help="run the gRPC decision service",
        description="Settings: flags beat DECISION_* variables beat the --config file.",
    )
    add_arguments(serve_cmd, DecisionSettings, "DECISION")
    serve_cmd.set_defaults(run=_serve)

    check_cmd = commands.add_parser("check", help="validate a rules file")
    check_cmd.add_argument("rules")
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
    explain_cmd.add_argument("--queue")
    explain_cmd.add_argument("--script")
    explain_cmd.add_argument("--schedule-group")
    explain_cmd.add_argument("--attribute", action="append", default=[], metavar="KEY=VALUE")
    explain_cmd.add_argument(
        "--contact",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="pretend the caller is a known contact (tier=vip, name=...)",
    )
    explain_cmd.add_argument("--contacts", help="look the caller up in this contact directory")
    explain_cmd.add_argument("--at", help="ISO 8601 moment, e.g. 2026-11-24T18:00:00Z")
    explain_cmd.set_defaults(run=_explain)

    replay_cmd = commands.add_parser(
        "replay", help="re-decide logged decisions with candidate rules and report changes"
    )
    replay_cmd.add_argument("log", help="decision log (JSON lines, --decision-log)")
    replay_cmd.add_argument("--rules", required=True, help="candidate rules file")
    replay_cmd.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when any decision would change (for CI)",
    )
    replay_cmd.set_defaults(run=_replay)

    contacts_cmd = commands.add_parser("contacts", help="import or export the contact directory")
    contacts_sub = contacts_cmd.add_subparsers(dest="contacts_command", required=True)
    import_cmd = contacts_sub.add_parser("import", help="upsert contacts from a CSV file")
    import_cmd.add_argument("--contacts", required=True, help=DIRECTORY_HELP)
    import_cmd.add_argument(
        "--replace",
        action="store_true",
        help="swap the whole directory for the file, in one transaction",
    )
    import_cmd.add_argument(
        "--default-region", help="region of national numbers without a country cell, e.g. GB"
    )
    import_cmd.add_argument("file")
    import_cmd.set_defaults(run=_contacts_import)
    export_cmd = contacts_sub.add_parser("export", help="write the directory as CSV to stdout")
    export_cmd.add_argument("--contacts", required=True, help=DIRECTORY_HELP)
    export_cmd.set_defaults(run=_contacts_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        configure_logging("decision")
    return args.run(args)

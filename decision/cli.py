"""`python -m decision`: serve the rules, check them, test them, explain one decision."""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import sys
import time
from datetime import UTC, datetime

from decision.cases import CasesError, contact_from_mapping, run_cases
from decision.config import DecisionSettings
from decision.contacts_csv import ContactsCsvError, read_contacts, write_contacts
from decision.coverage import format_coverage, rule_coverage
from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.engine import (
    MOMENT_RANGE_TEXT,
    Contact,
    RulesError,
    RuleSet,
    decidable,
    explain,
    number_facts,
    parse_rules,
)
from decision.explain import format_explanation
from decision.rules_file import install_rules, read_rules, read_rules_text
from decision.webhook import PayloadError, request_from_document
from plumbing.graceful import hold_exit_signals
from plumbing.logs import configure_logging
from plumbing.settings import (
    SettingsError,
    add_arguments,
    listen_problem,
    out_of_range,
    resolve,
    settings_epilog,
)

DIRECTORY_HELP = "contact directory: a SQLite file path or a postgresql:// URL"
CLI_LOOKUP_SECONDS = 5.0  # a person waits for explain; the service's deadline is its own


# Values that would not fail at start but cost every call: a watch interval of 0 or less polls
# the rules file in a loop that takes a whole core from the event loop; no lookup time makes
# every caller unknown; no room in the decision log drops every entry.
_SERVE_RANGES = (
    ("watch_interval", 0.01, None),
    ("contacts_timeout_ms", 1, None),
    ("decision_log_buffer", 1, None),
    ("decision_log_buffer_bytes", 1, None),
)


def _serve(args: argparse.Namespace) -> int:
    from decision.server import serve

    try:
        settings = resolve(DecisionSettings, args, os.environ, "DECISION")
    except SettingsError as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    problem = (
        listen_problem("--listen", settings.listen)
        or listen_problem("--metrics-listen", settings.metrics_listen)
        or out_of_range(settings, _SERVE_RANGES)
    )
    if problem:
        print(f"decision: {problem}", file=sys.stderr)
        return 2
    hold_exit_signals()
    try:
        asyncio.run(serve(settings))
    except RulesError as error:
        print(f"decision: rules not loaded:\n{error}", file=sys.stderr)
        return 2
    except DirectoryError as error:
        print(f"decision: {error}", file=sys.stderr)
        return 2
    return 0


async def _write_directory(
    spec: str, records: list[ContactRecord], replace: bool
) -> tuple[str, int]:
    """The directory's name (never its password) and how many contacts were written."""
    async with await open_directory(spec) as directory:
        return directory.where, await directory.write(records, replace)


async def _read_directory(spec: str) -> list[ContactRecord]:
    # Reading never creates: a missing directory is an error, not a new empty one.
    async with await open_directory(spec, create=False) as directory:
        return await directory.records()


async def _look_up(spec: str, e164: str) -> Contact | None:
    async with await open_directory(spec, CLI_LOOKUP_SECONDS, create=False) as directory:
        try:
            return await directory.lookup(e164)
        except TimeoutError:
            raise DirectoryError(
                f"{directory.where}: no answer to the lookup within {CLI_LOOKUP_SECONDS:g} s"
            ) from None


def _contacts_import(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        with open(args.file, newline="", encoding="utf-8-sig") as stream:  # Excel writes a BOM
            records = read_contacts(stream, args.file, args.default_region or "")
        if args.replace and not records and not args.allow_empty:
            # A failed upstream export often leaves just a header: replacing with it would
            # forget every VIP on every replica at once.
            print(
                f"{args.file}: no contacts; --replace would empty the directory "
                "(add --allow-empty if that is what you mean)",
                file=sys.stderr,
            )
            return 1
        where, count = asyncio.run(_write_directory(args.contacts, records, args.replace))
    except (ContactsCsvError, DirectoryError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"{args.file}: not UTF-8 text", file=sys.stderr)
        return 1
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        print(f"{args.file}: not a readable CSV file ({error})", file=sys.stderr)
        return 1
    numbers = sum(len(r.numbers) for r in records)
    print(
        f"{where}: {'replaced with' if args.replace else 'upserted'} {count} contacts "
        f"({numbers} numbers) in {time.perf_counter() - started:.1f}s"
    )
    return 0


def _contacts_export(args: argparse.Namespace) -> int:
    try:
        records = asyncio.run(_read_directory(args.contacts))
    except DirectoryError as error:
        print(error, file=sys.stderr)
        return 1
    try:
        write_contacts(records, sys.stdout)
        sys.stdout.flush()
    except OSError as error:  # a full disk, a reader gone (`| head`)
        # What stays buffered would fail again, with a traceback, as the interpreter exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"contacts export: cannot write the CSV: {error.strerror}", file=sys.stderr)
        return 1
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
    try:
        request = request_from_document(payload)
    except PayloadError as error:
        print(f"explain: {error}", file=sys.stderr)
        return 2
    contact = None
    if args.contact:
        contact = contact_from_mapping(dict(args.contact))
    elif args.contacts:
        number = number_facts(request.phone_number, request.country_code, rules.default_region)
        try:
            contact = asyncio.run(_look_up(args.contacts, number.e164))
        except DirectoryError as error:
            print(error, file=sys.stderr)
            return 1
    at = args.at or datetime.now(UTC)
    print(format_explanation(explain(rules, request, at, contact)))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from decision.replay import format_report, replay

    rules = _rules_or_report(args.rules)
    if rules is None:
        return 1
    try:
        report = replay(args.log, rules)
    except OSError as error:
        print(f"{args.log}: cannot read the decision log: {error.strerror}", file=sys.stderr)
        return 1
    print(format_report(report, args.log, rules))
    return 1 if args.fail_on_change and report.changed else 0


def _install(args: argparse.Namespace) -> int:
    """Checks the candidate and runs its cases, then renames a copy over the live file: the
    bytes checked are the bytes installed, and the service never sees half a file."""
    try:
        text = read_rules_text(args.candidate)
        rules = parse_rules(text, args.candidate)
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
    try:
        install_rules(text, args.live)
    except OSError as error:
        print(f"{args.live}: not changed: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.live}: installed version {rules.version} ({len(rules.rules)} rules); the service "
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
    explain_cmd.add_argument("--contacts", help="look the caller up in this contact directory")
    explain_cmd.add_argument(
        "--at", type=_moment, help="ISO 8601 moment, e.g. 2026-11-24T18:00:00Z (default: now)"
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
        help="exit 1 when any decision would change (for CI)",
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
        "--allow-empty",
        action="store_true",
        help="let --replace with a file of no contacts empty the directory",
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
    else:
        # A one-shot command reports by its own one line: a library's passing warning (a
        # directory's listener losing its connection as the command ends) is not for stderr.
        logging.getLogger().addHandler(logging.NullHandler())
    return args.run(args)

"""`decision contacts import|export`: the contact directory to and from CSV."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time

from decision.cli.contacts_source import (
    CA_FILE_VARIABLE,
    TOKEN_FILE_VARIABLE,
    TOKEN_VARIABLE,
    ContactsSourceError,
    open_contacts_source,
    shown,
)
from decision.cli.directory_source import (
    FROM_THE_ENVIRONMENT,
    DirectorySourceError,
    add_directory_arguments,
    directory_spec,
)
from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.csv_format import ContactsCsvError, read_contacts, write_contacts


def _given_directory(args: argparse.Namespace) -> str:
    spec = directory_spec(args, os.environ)
    if not spec:
        raise DirectorySourceError(
            "no contact directory given: --contacts with a SQLite file path; "
            + FROM_THE_ENVIRONMENT
        )
    return spec


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


def _contacts_import(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    source = shown(args.file)
    try:
        spec = _given_directory(args)
        # Read as it arrives (a file, stdin or an export over HTTPS), checked whole before
        # anything is written.
        with open_contacts_source(args.file, os.environ, args.ca_file or "") as stream:
            records = read_contacts(stream, source, args.default_region or "")
        if args.replace and not records and not args.allow_empty:
            # A failed upstream export often leaves just a header: replacing with it would
            # forget every VIP on every replica at once.
            print(
                f"{source}: no contacts; --replace would empty the directory "
                "(add --allow-empty if that is what you mean)",
                file=sys.stderr,
            )
            return 1
        where, count = asyncio.run(_write_directory(spec, records, args.replace))
    except (ContactsCsvError, ContactsSourceError, DirectorySourceError, DirectoryError) as error:
        print(error, file=sys.stderr)
        return 1
    except OSError as error:  # a file that cannot be opened, a connection lost mid-export
        print(f"{source}: {error.strerror or error}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"{source}: not UTF-8 text", file=sys.stderr)
        return 1
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        print(f"{source}: not a readable CSV file ({error})", file=sys.stderr)
        return 1
    numbers = sum(len(r.numbers) for r in records)
    print(
        f"{where}: {'replaced with' if args.replace else 'upserted'} {count} "
        f"contact{'s' * (count != 1)} ({numbers} number{'s' * (numbers != 1)}) in "
        f"{time.perf_counter() - started:.1f}s"
    )
    return 0


def _contacts_export(args: argparse.Namespace) -> int:
    try:
        records = asyncio.run(_read_directory(_given_directory(args)))
    except (DirectorySourceError, DirectoryError) as error:
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    contacts_cmd = commands.add_parser("contacts", help="import or export the contact directory")
    contacts_sub = contacts_cmd.add_subparsers(dest="contacts_command", required=True)
    import_cmd = contacts_sub.add_parser(
        "import",
        help="upsert contacts from a CSV file, standard input (-) or an https:// URL",
        description=(
            "Reads the CSV from a file, '-' (standard input) or an https:// URL, as it "
            f"arrives. The URL's bearer token: {TOKEN_VARIABLE} or {TOKEN_FILE_VARIABLE} "
            "(never an argument)."
        ),
    )
    add_directory_arguments(import_cmd, "the directory to write")
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
    import_cmd.add_argument(
        "--ca-file",
        help=f"PEM CA that signed the URL's server certificate (or {CA_FILE_VARIABLE})",
    )
    import_cmd.add_argument("file", help="a CSV file, - (standard input) or an https:// URL")
    import_cmd.set_defaults(run=_contacts_import)
    export_cmd = contacts_sub.add_parser("export", help="write the directory as CSV to stdout")
    add_directory_arguments(export_cmd, "the directory to read")
    export_cmd.set_defaults(run=_contacts_export)

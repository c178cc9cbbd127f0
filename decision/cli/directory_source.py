"""Where a command finds its contact directory: `--contacts` (a SQLite path, or a URL without a
password), `--contacts-file` (a file holding either, such as a mounted Secret), or the same from
DECISION_CONTACTS and DECISION_CONTACTS_FILE. A flag beats a variable.

A password never has to be on the command line, and may not be: every user of the machine sees
a process's arguments (`ps`, /proc/<pid>/cmdline), while its environment and files are its
owner's alone."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from decision.directory import carries_password
from plumbing.files import NotRegularFile, read_regular_file

CONTACTS_VARIABLE = "DECISION_CONTACTS"
CONTACTS_FILE_VARIABLE = "DECISION_CONTACTS_FILE"
MAX_FILE_BYTES = 64 * 1024  # a URL or a path; anything longer is not what the file is for
FROM_THE_ENVIRONMENT = (
    f"a postgresql:// URL with a password goes in {CONTACTS_VARIABLE} or a file "
    f"(--contacts-file, {CONTACTS_FILE_VARIABLE})"
)


class DirectorySourceError(ValueError):
    """The directory cannot be taken from where it was given; the message is one line."""


def add_directory_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """`--contacts` and `--contacts-file`; `what` says what the command does with the
    directory."""
    parser.add_argument(
        "--contacts",
        help=f"{what}: a SQLite file path, or a postgresql:// URL without a password "
        f"[{CONTACTS_VARIABLE}: either, with a password]",
    )
    add_file_argument(parser)


def add_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contacts-file",
        metavar="FILE",
        help="a file holding the contact directory (a postgresql:// URL with its password, "
        f"or a SQLite path), such as a mounted Secret [{CONTACTS_FILE_VARIABLE}]",
    )


def directory_spec(args: argparse.Namespace, env: Mapping[str, str], default: str = "") -> str:
    """The directory the command was given ("" for none and no `default`): `--contacts` or
    `--contacts-file`, else DECISION_CONTACTS or DECISION_CONTACTS_FILE. Giving both of a pair
    is an error, and so is a password in `--contacts`."""
    flag, flag_file = args.contacts, args.contacts_file
    if flag is not None and flag_file is not None:
        raise DirectorySourceError("give --contacts or --contacts-file, not both")
    if flag is not None:
        if carries_password(flag):
            # Refused even though it is too late to hide it from this run: the next one, and
            # the script or manifest that wrote it, must not do it again.
            raise DirectorySourceError(
                "--contacts: a password on the command line is visible to every user of this "
                f"machine (ps); {FROM_THE_ENVIRONMENT}"
            )
        return flag
    if flag_file is not None:
        return read_directory_file(flag_file)
    variable, variable_file = env.get(CONTACTS_VARIABLE), env.get(CONTACTS_FILE_VARIABLE)
    if variable and variable_file:
        raise DirectorySourceError(f"set {CONTACTS_VARIABLE} or {CONTACTS_FILE_VARIABLE}, not both")
    if variable:
        return variable
    if variable_file:
        return read_directory_file(variable_file)
    return default


def read_directory_file(path: str) -> str:
    """The file's one line (surrounding whitespace, a Secret's final newline, dropped). Read
    only if it is a regular file: a FIFO put in its place would hold the command forever."""
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except NotRegularFile:
        raise DirectorySourceError(f"{path}: not a regular file") from None
    except OSError as error:
        raise DirectorySourceError(f"{path}: cannot read: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise DirectorySourceError(f"{path}: over {MAX_FILE_BYTES} bytes; not a directory's name")
    try:
        spec = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise DirectorySourceError(f"{path}: not UTF-8 text") from None
    if not spec or "\n" in spec:
        raise DirectorySourceError(
            f"{path}: should hold one line, a SQLite file path or a postgresql:// URL"
        )
    return spec

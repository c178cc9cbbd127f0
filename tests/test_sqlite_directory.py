"""What only the SQLite backend does, beside the contract every backend keeps
(test_directory_conformance.py): what it says of a file that is not a directory, a reader that
leaves a file without one untouched, and WAL mode, which keeps lookups from waiting on an import.
A file replaced at the same path is picked up by the service: test_directory_faults.py."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest

from decision.directory import ContactRecord, DirectoryError, open_directory
from decision.directory.sqlite import SqliteDirectory
from decision.engine import Contact

ADA = "+447400654321"


def open_error(spec: str, create: bool = True) -> str:
    with pytest.raises(DirectoryError) as caught:
        asyncio.run(open_directory(spec, create=create))
    return str(caught.value)


def test_what_is_not_a_directory_file_says_so(tmp_path):
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database, just some text that is long enough" * 100)
    for create in (True, False):
        assert open_error(str(not_sqlite), create).startswith(
            f"{not_sqlite}: not a contact directory ("
        )
        assert open_error(str(tmp_path), create) == (
            f"{tmp_path}: not a contact directory (not a file)"
        )


def test_a_reader_leaves_a_file_without_a_directory_as_it_was(tmp_path):
    """An empty file, or another program's database: a reader (create=False) took either for
    a directory and wrote the schema into it."""
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    other = tmp_path / "other.sqlite3"
    with contextlib.closing(sqlite3.connect(other)) as db, db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = other.read_bytes()
    for path in (empty, other):
        assert open_error(str(path), create=False) == (
            f"{path}: no contact directory there (no schema)"
        )
    assert empty.read_bytes() == b""
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3", "other.sqlite3"]


def test_lookups_answer_from_the_last_commit_while_an_import_holds_the_file(tmp_path):
    """WAL: another connection in the middle of a write (an import streaming in, the file
    locked exclusively) neither blocks a lookup (for the 5 s busy timeout) nor shows it half
    the import."""
    path = tmp_path / "c.sqlite3"

    async def scenario() -> None:
        directory = await SqliteDirectory.open(path)
        try:
            await directory.write([ContactRecord("ada", (ADA,), Contact(name="Ada"))])
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as importer:
                importer.execute("BEGIN EXCLUSIVE")
                importer.execute("DELETE FROM numbers")
                assert (await directory.lookup(ADA)).name == "Ada"
                importer.execute("ROLLBACK")
        finally:
            await directory.close()

    asyncio.run(scenario())

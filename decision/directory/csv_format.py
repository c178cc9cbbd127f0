"""The directory's CSV format, for `decision contacts import` and `export`.

Header: number,country,name,tier,language,preferred_agents,skills[,contact_id][,<attribute>...]
List cells are separated by ";". Rows that share a contact_id are one contact with several
numbers; without it, each number is its own contact. Any further column is a string attribute.

Export guards what a spreadsheet would run as a formula (OWASP "CSV injection": a cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return, header cells too) with a leading `'`,
and import takes that guard off again, so export -> import gives back every value as it was:
- export also guards a value that starts with apostrophes before such a character (`'=x` is
  written `''=x`), so a guard is always told from a value;
- import strips one `'` only where export would have added it: from a cell that is one or more
  apostrophes followed by such a character (`'=x` -> `=x`; `'Tis` stays). A CRM export guarded
  the same way therefore imports as the text after its guard;
- an E.164 number (`+` and digits, the `number` column and any attribute like it) is written as
  it is: a spreadsheet reads it as a number (dropping the `+` on display), nothing runs."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TextIO, TypedDict

import phonenumbers

from decision.directory import ContactRecord
from decision.engine import Contact
from decision.engine.numbers import e164_of

COLUMNS = ("number", "country", "name", "tier", "language", "preferred_agents", "skills")
CONTACT_ID = "contact_id"
MAX_PROBLEMS = 20
# The longest line read: a contact's row is a few hundred characters; the csv module refuses a
# field over 131,072 anyway.
MAX_LINE = 1024 * 1024
# What one contact may carry: attribute columns (a CRM export's extra fields), the characters of
# a column's name and of any cell. 100 contacts of 100,000 columns each took the import past
# 1 GB and the service past 1.5 GB.
MAX_ATTRIBUTE_COLUMNS = 128
MAX_COLUMN_NAME = 64
MAX_CELL = 1024
_FORMULA = re.compile(r"'*[=+\-@\t\r]")  # a formula, or one behind apostrophes
_E164 = re.compile(r"\+\d+")


def guarded(cell: str) -> str:
    """The cell as export writes it: a leading `'` where a spreadsheet would run it."""
    if _FORMULA.match(cell) and not _E164.fullmatch(cell):
        return "'" + cell
    return cell


def unguarded(cell: str) -> str:
    """The cell as export was given it: the inverse of `guarded` for every cell it wrote."""
    if cell.startswith("'") and _FORMULA.match(cell, 1):
        return cell[1:]
    return cell


class ContactsCsvError(ValueError):
    """Rows that cannot be imported, each with its line number; nothing is written."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{source}:{p}" for p in problems))


def _list(cell: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in cell.split(";") if item.strip())


def _country_code(country: str) -> str:
    """`country` may be a region ("GB") or a calling code ("+44")."""
    country = country.strip()
    if country.upper() in phonenumbers.SUPPORTED_REGIONS:
        return f"+{phonenumbers.country_code_for_region(country.upper())}"
    return country


_SHARED_TEXT_CELLS: tuple[Literal["tier", "language"], ...] = ("tier", "language")
_LIST_CELLS: tuple[Literal["preferred_agents", "skills"], ...] = ("preferred_agents", "skills")


class _ContactCells(TypedDict, total=False):
    """A contact's fields as its rows are read, the first non-empty cell of each column kept."""

    name: str
    tier: str
    language: str
    preferred_agents: tuple[str, ...]
    skills: tuple[str, ...]
    attributes: dict[str, str]


def _bounded_lines(stream: TextIO, source: str) -> Iterator[str]:
    """The stream's lines, none read past MAX_LINE characters: a file iterator reads a line
    whole, so one 1.5 GB line once took 2.98 GB before the csv module refused its field."""
    number = 0
    while line := stream.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise ContactsCsvError(
                source, [f"{number}: a line over {MAX_LINE:,} characters; is this a CSV file?"]
            )
        yield line


def read_contacts(stream: TextIO, source: str, default_region: str = "") -> list[ContactRecord]:
    """Parses and validates the whole file first; raises ContactsCsvError on any bad row."""
    reader = csv.DictReader(_bounded_lines(stream, source))
    if reader.fieldnames is not None:
        reader.fieldnames = [unguarded(name) for name in reader.fieldnames]
    if reader.fieldnames is None or "number" not in reader.fieldnames:
        raise ContactsCsvError(source, ["1: the header needs a `number` column"])
    extra = [c for c in reader.fieldnames if c not in COLUMNS and c != CONTACT_ID]
    if len(extra) > MAX_ATTRIBUTE_COLUMNS:
        raise ContactsCsvError(
            source,
            [f"1: {len(extra):,} attribute columns; at most {MAX_ATTRIBUTE_COLUMNS} are read"],
        )
    named_long = [c for c in extra if len(c) > MAX_COLUMN_NAME]
    if named_long:
        shown = f"{named_long[0][:20]!r}..."
        raise ContactsCsvError(
            source, [f"1: column {shown}: longer than {MAX_COLUMN_NAME} characters"]
        )
    problems: list[str] = []
    # Tiers, languages and lists repeat from row to row: each distinct one is held once (a
    # million contacts took 1.6 GB to import).
    shared: dict[Any, Any] = {}
    grouped: dict[str, tuple[list[str], _ContactCells]] = {}
    owners: dict[str, tuple[str, int]] = {}  # number -> (contact key, line): one owner each
    for cells in reader:
        if len(problems) >= MAX_PROBLEMS:
            break
        line = reader.line_num
        # Cells beyond the header are kept as a list under None (and found bad below, if NUL).
        row = {k: unguarded(v) if isinstance(v, str) else v for k, v in cells.items()}
        if any("\0" in (cell or "") for cell in row.values() if isinstance(cell, str)):
            problems.append(f"{line}: a NUL character; it cannot be stored")
            continue
        too_long = next(
            (k for k, v in row.items() if isinstance(v, str) and len(v) > MAX_CELL), None
        )
        if too_long is not None:
            problems.append(f"{line}: {too_long}: longer than {MAX_CELL:,} characters")
            continue
        number = (row.get("number") or "").strip()
        country = (row.get("country") or "").strip()
        if country and not _country_code(country).lstrip("+").isdigit():
            problems.append(f"{line}: country {country!r} is neither a region nor a calling code")
            continue
        e164 = e164_of(number, _country_code(country), default_region)
        if not e164:
            why = (
                "no country column or default region"
                if not (country or default_region) and not number.startswith("+")
                else "cannot be parsed"
            )
            problems.append(f"{line}: number {number!r} {why}")
            continue
        key = (row.get(CONTACT_ID) or "").strip() or e164
        owner, owner_line = owners.setdefault(e164, (key, line))
        if owner != key:
            problems.append(
                f"{line}: number {e164} is already contact {owner!r} (line {owner_line}); "
                "a number belongs to one contact"
            )
            continue
        numbers, fields = grouped.setdefault(key, ([], {}))
        numbers.append(e164)
        if not fields.get("name"):
            fields["name"] = (row.get("name") or "").strip()
        for text in _SHARED_TEXT_CELLS:
            if not fields.get(text):
                value = (row.get(text) or "").strip()
                fields[text] = shared.setdefault(value, value)
        for listed in _LIST_CELLS:
            if not fields.get(listed):
                items = _list(row.get(listed) or "")
                fields[listed] = shared.setdefault(items, items)
        attributes = fields.setdefault("attributes", {})
        for column in extra:
            value = (row.get(column) or "").strip()
            if value and column not in attributes:
                attributes[column] = value
    if problems:
        raise ContactsCsvError(source, problems)
    del owners, shared
    records = []
    for key in list(grouped):  # each contact's cells let go of as its record is made
        numbers, fields = grouped.pop(key)
        records.append(ContactRecord(key, tuple(dict.fromkeys(numbers)), Contact(**fields)))
    return records


def write_contacts(records: Iterable[ContactRecord], stream: TextIO) -> int:
    """One row per number, in the format read_contacts reads back."""
    records = list(records)
    extra = sorted({k for r in records for k in r.contact.attributes})
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([guarded(name) for name in (*COLUMNS, CONTACT_ID, *extra)])
    rows = 0
    for record in records:
        c = record.contact
        for number in record.numbers:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
            cells = [
                number,
                region,
                c.name,
                c.tier,
                c.language,
                ";".join(c.preferred_agents),
                ";".join(c.skills),
                record.key,
                *(c.attributes.get(k, "") for k in extra),
            ]
            writer.writerow([guarded(cell) for cell in cells])
            rows += 1
    return rows

"""The directory's CSV format, for `decision contacts import` and `export`.

Header: number,country,name,tier,language,preferred_agents,skills[,contact_id][,<attribute>...]
List cells are separated by ";". Rows that share a contact_id are one contact with several
numbers; without it, each number is its own contact. Any further column is a string attribute."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Literal, TextIO, TypedDict

import phonenumbers

from decision.directory import ContactRecord
from decision.engine import Contact
from decision.engine.numbers import e164_of

COLUMNS = ("number", "country", "name", "tier", "language", "preferred_agents", "skills")
CONTACT_ID = "contact_id"
MAX_PROBLEMS = 20


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


_TEXT_CELLS: tuple[Literal["name", "tier", "language"], ...] = ("name", "tier", "language")
_LIST_CELLS: tuple[Literal["preferred_agents", "skills"], ...] = ("preferred_agents", "skills")


class _ContactCells(TypedDict, total=False):
    """A contact's fields as its rows are read, the first non-empty cell of each column kept."""

    name: str
    tier: str
    language: str
    preferred_agents: tuple[str, ...]
    skills: tuple[str, ...]
    attributes: dict[str, str]


def read_contacts(stream: TextIO, source: str, default_region: str = "") -> list[ContactRecord]:
    """Parses and validates the whole file first; raises ContactsCsvError on any bad row."""
    reader = csv.DictReader(stream)
    if reader.fieldnames is None or "number" not in reader.fieldnames:
        raise ContactsCsvError(source, ["1: the header needs a `number` column"])
    extra = [c for c in reader.fieldnames if c not in COLUMNS and c != CONTACT_ID]
    problems: list[str] = []
    grouped: dict[str, tuple[list[str], _ContactCells]] = {}
    owners: dict[str, tuple[str, int]] = {}  # number -> (contact key, line): one owner each
    for row in reader:
        if len(problems) >= MAX_PROBLEMS:
            break
        line = reader.line_num
        if any("\0" in (cell or "") for cell in row.values() if isinstance(cell, str)):
            problems.append(f"{line}: a NUL character; it cannot be stored")
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
        for text in _TEXT_CELLS:
            if not fields.get(text):
                fields[text] = (row.get(text) or "").strip()
        for listed in _LIST_CELLS:
            if not fields.get(listed):
                fields[listed] = _list(row.get(listed) or "")
        attributes = fields.setdefault("attributes", {})
        for column in extra:
            value = (row.get(column) or "").strip()
            if value and column not in attributes:
                attributes[column] = value
    if problems:
        raise ContactsCsvError(source, problems)
    return [
        ContactRecord(key, tuple(dict.fromkeys(numbers)), Contact(**fields))
        for key, (numbers, fields) in grouped.items()
    ]


def write_contacts(records: Iterable[ContactRecord], stream: TextIO) -> int:
    """One row per number, in the format read_contacts reads back."""
    records = list(records)
    extra = sorted({k for r in records for k in r.contact.attributes})
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*COLUMNS, CONTACT_ID, *extra])
    rows = 0
    for record in records:
        c = record.contact
        for number in record.numbers:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
            writer.writerow(
                [
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
            )
            rows += 1
    return rows

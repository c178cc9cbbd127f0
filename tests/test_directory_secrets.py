"""The contact directory's password: taken from the environment or a file, never needed on the
command line (and refused there), never in a message or a log line; the commands and the
service, with the real PostgreSQL the suite starts."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys

import psycopg
import pytest

from contract.client import BlockingDecisionClient
from decision.directory import DirectoryError, open_directory
from plumbing.service_process import ServiceProcess
from tests.conftest import EXAMPLE_RULES

CSV_HEADER = "number,country,name,tier,contact_id\n"
PASSWORD = "S3cretPW"


def with_password(url: str, password: str = PASSWORD) -> str:
    """`url` (the suite's trust-auth cluster: any password is let in) carrying `password`."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def decision_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m decision ...` with `env` added to (and DECISION_CONTACTS* taken out of) this
    process's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DECISION_CONTACTS")}
    return subprocess.run(
        [sys.executable, "-m", "decision", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        check=False,
    )


@pytest.fixture
def ada_csv(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    return csv


def test_every_command_takes_the_url_from_the_environment(postgres_url, ada_csv):
    """`contacts import` required --contacts, so the README and the CronJob put the password
    on the command line, where `ps` shows it to every user of the machine."""
    env = {"DECISION_CONTACTS": with_password(postgres_url)}
    imported = decision_cli("contacts", "import", str(ada_csv), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "upserted 1 contact " in imported.stdout
    exported = decision_cli("contacts", "export", env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[1].startswith("+447400111111,GB,Ada,vip,")
    explained = decision_cli("explain", str(EXAMPLE_RULES), "--phone", "+447400111111", env=env)
    assert explained.returncode == 0, explained.stderr
    assert re.search(r"contact\s+known", explained.stdout), explained.stdout
    for result in (imported, exported, explained):
        assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_every_command_takes_the_url_from_a_file(how, postgres_url, ada_csv, tmp_path):
    """A mounted Secret: the file ends with a newline, which is not part of the URL."""
    secret = tmp_path / "url"
    secret.write_text(with_password(postgres_url) + "\n")
    flag = ["--contacts-file", str(secret)] if how == "flag" else []
    env = {"DECISION_CONTACTS_FILE": str(secret)} if how == "variable" else {}
    imported = decision_cli("contacts", "import", *flag, str(ada_csv), env=env)
    assert imported.returncode == 0, imported.stderr
    exported = decision_cli("contacts", "export", *flag, env=env)
    assert exported.returncode == 0, exported.stderr
    assert "+447400111111" in exported.stdout
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM contacts").fetchone() == (1,)


def test_a_password_on_the_command_line_is_refused_unechoed(postgres_url, ada_csv, tmp_path):
    """Too late to hide it from this run, but the script that wrote it learns at once, and
    nothing is written."""
    url = with_password(postgres_url)
    rules = str(EXAMPLE_RULES)
    for args in (
        ("contacts", "import", "--contacts", url, str(ada_csv)),
        ("contacts", "export", "--contacts", url),
        ("explain", rules, "--phone", "+447400111111", "--contacts", url),
        ("serve", "--rules", rules, "--listen", "127.0.0.1:0", "--contacts", url),
    ):
        result = decision_cli(*args)
        assert result.returncode in (1, 2), result.stdout
        assert result.stderr.count("\n") == 1, result.stderr
        assert "visible to every user of this machine" in result.stderr
        assert "DECISION_CONTACTS" in result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    with psycopg.connect(postgres_url) as connection:
        schema = connection.execute("SELECT to_regclass('contacts')").fetchone()
    assert schema == (None,)


def test_the_service_takes_the_url_from_a_file(postgres_url, ada_csv, tmp_path):
    secret = tmp_path / "url"
    secret.write_text(with_password(postgres_url) + "\n")
    imported = decision_cli("contacts", "import", "--contacts-file", str(secret), str(ada_csv))
    assert imported.returncode == 0, imported.stderr
    with (tmp_path / "decision.log").open("w") as log:
        service = ServiceProcess(
            "decision",
            ["serve", "--listen", "127.0.0.1:0", "--rules", str(EXAMPLE_RULES), "--grace", "2"],
            env={"DECISION_CONTACTS_FILE": str(secret)},
            stderr=log,
        )
        try:
            with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
                found = client.lookup_contact("+447400111111")
                assert found.found
                assert found.contact.name == "Ada"
        finally:
            service.stop()
    assert PASSWORD not in (tmp_path / "decision.log").read_text()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda path: os.mkfifo(path), "not a regular file"),
        (lambda path: path.mkdir(), "cannot read: Is a directory"),
        (lambda path: path.write_text("\n"), "should hold one line"),
        (lambda path: None, "cannot read: No such file or directory"),
    ],
)
def test_a_directory_file_that_cannot_be_read_is_one_line(setup, expected, tmp_path, ada_csv):
    """A FIFO in place of the Secret would hold the command forever."""
    path = tmp_path / "url"
    setup(path)
    for args in (("import", str(ada_csv)), ("export",)):
        result = decision_cli("contacts", *args, env={"DECISION_CONTACTS_FILE": str(path)})
        assert result.returncode == 1
        assert result.stderr.startswith(f"{path}: {expected}")
        assert result.stderr.count("\n") == 1


def test_no_directory_given_says_where_to_give_one(ada_csv):
    result = decision_cli("contacts", "import", str(ada_csv))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "DECISION_CONTACTS" in result.stderr


def test_redaction_is_exact_ordinary_words_stay_whole():
    """The password was blotted out piece by piece (split at `@/#?:`), so a password holding
    `nn` turned libpq's "connection" into "co***ection"."""
    url = "postgresql://router:S3c:nn@127.0.0.1:1/contacts"  # nothing listens on port 1
    result = decision_cli("contacts", "export", env={"DECISION_CONTACTS": url})
    assert result.returncode == 1
    assert result.stderr.startswith(
        "postgresql://router@127.0.0.1:1/contacts: connection failed: connection to server at "
        '"127.0.0.1", port 1 failed: Connection refused'
    ), result.stderr
    assert "S3c:nn" not in result.stderr


@pytest.mark.parametrize("password", ["Xq7@Zr9", "Xq7/Zr9", "Xq@7?Zr9"])
def test_a_password_libpq_would_split_is_refused_before_connecting(password, caplog):
    """libpq ends the userinfo at the first `@` (or finds none before a `/`) and takes the rest
    of the password for the host: the service started degraded, and psycopg.pool logged
    `failed to resolve host 'Zr9@127.0.0.1'` every second, unredacted."""
    url = f"postgresql://router:{password}@127.0.0.1:1/contacts"

    async def open_as_the_service_does() -> None:
        directory = await open_directory(url, start_unreachable=True)
        await directory.close()  # reached only before the fix

    with caplog.at_level("DEBUG"), pytest.raises(DirectoryError) as refused:
        asyncio.run(open_as_the_service_does())
    assert "%40" in str(refused.value)
    assert "\n" not in str(refused.value)
    for piece in ("Xq", "Zr9"):
        assert piece not in str(refused.value) + caplog.text
    result = decision_cli("contacts", "export", env={"DECISION_CONTACTS": url})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Write `@` as %40 and `/` as %2F" in result.stderr


def test_psycopg_and_its_pool_log_no_password(caplog):
    """psycopg_pool logs each failed attempt through `psycopg.pool`, with libpq's message: a
    filter on those loggers, installed when a PostgreSQL directory opens, blots out the
    password wherever it shows, and only the password."""

    async def open_unreachable() -> None:
        directory = await open_directory(
            "postgresql://router:S3c%40retPW@127.0.0.1:1/contacts", start_unreachable=True
        )
        await directory.close()

    asyncio.run(open_unreachable())
    with caplog.at_level("INFO"):
        for name in ("psycopg.pool", "psycopg"):
            logging.getLogger(name).warning("user %s, password %s", "router", "S3c@retPW")
            logging.getLogger(name).warning("as written: S3c%40retPW, missing separator")
    assert caplog.text.count("user router, password ***") == 2
    assert caplog.text.count("as written: ***, missing separator") == 2
    assert "S3c" not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://router@db/contacts?pass%77ord=S3cretPW",
        "postgresql://router@db/contacts?%70assword=S3cretPW",
        "postgresql://router@db/contacts?sslmode=require&sslpassword=S3cretPW",
        "host=db sslpassword=S3cretPW",
    ],
)
def test_a_password_under_another_spelling_is_seen_on_argv_and_redacted(url):
    """libpq decodes a URL's query keywords (`pass%77ord` is `password`), and `sslpassword` is
    the client key's: both were taken on argv."""
    from decision.directory import carries_password
    from decision.directory.postgres_url import read_url

    assert carries_password(url)
    if url.startswith("postgresql://"):
        assert read_url(url).redact("failed for S3cretPW") == "failed for ***"
    assert not carries_password("postgresql://router@db/contacts?sslmode=require")

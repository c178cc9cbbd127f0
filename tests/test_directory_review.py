"""Adversarial review of the contact directory: an operator's mistakes and a failing database
against the contacts commands and the service, with the real PostgreSQL the suite starts."""

from __future__ import annotations

import psycopg

from tests.conftest import contacts_cli

CSV_HEADER = "number,country,name,tier,contact_id\n"


def with_password(url: str, password: str) -> str:
    """`url` (the suite's trust-auth cluster: any password is let in) carrying `password`."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def test_a_successful_import_does_not_print_the_password(postgres_url, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(CSV_HEADER + "+447400111111,,Ada,vip,a\n")
    url = with_password(postgres_url, "S3c%40ret") + "?sslmode=disable"
    imported = contacts_cli("import", "--contacts", url, str(csv))
    assert imported.returncode == 0, imported.stderr
    assert "upserted 1 contacts" in imported.stdout
    for piece in ("S3c", "40ret", "ret"):
        assert piece not in imported.stdout + imported.stderr
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM contacts").fetchone() == (1,)

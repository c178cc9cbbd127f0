"""`decision contacts import` from where contacts live: standard input (`-`) and an export over
HTTPS from a loopback server with a certificate of a private CA (trustme), the bearer token
from the environment. The server is real (http.server over TLS on a free port) and records
what it was sent."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from tests.conftest import contacts_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN = "crm-export-token-7f3a9c"
CSV = (EXAMPLES / "contacts.csv").read_bytes()


@dataclass
class Export:
    """A CRM's export endpoint: `/contacts.csv` for the right bearer token."""

    url: str
    ca: Path
    body: bytes = CSV
    redirect_to: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def export(tmp_path: Path) -> Iterator[Export]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    state = Export("", ca_file)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append({"path": self.path, **dict(self.headers.items())})
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.end_headers()
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_error(401)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.url = f"https://127.0.0.1:{server.server_address[1]}/contacts.csv"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_imports_an_export_over_https_with_the_token_from_the_environment(export, tmp_path):
    directory = tmp_path / "contacts.sqlite"
    done = contacts_cli(
        *("import", "--replace", "--contacts", str(directory), "--ca-file", str(export.ca)),
        export.url,
        env={"DECISION_CONTACTS_IMPORT_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert "replaced with 2 contacts (3 numbers)" in done.stdout
    assert export.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    exported = contacts_cli("export", "--contacts", str(directory)).stdout
    assert "Ada Lovelace" in exported


def test_the_token_may_be_a_file_and_the_ca_a_variable(export, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # a Secret's final newline
    done = contacts_cli(
        *("import", "--contacts", str(tmp_path / "c.sqlite"), export.url),
        env={
            "DECISION_CONTACTS_IMPORT_TOKEN_FILE": str(token_file),
            "DECISION_CONTACTS_IMPORT_CA_FILE": str(export.ca),
        },
    )
    assert done.returncode == 0, done.stderr
    assert "upserted 2 contacts" in done.stdout


def test_a_wrong_token_is_one_line_that_never_shows_a_token(export, tmp_path):
    done = contacts_cli(
        *("import", "--contacts", str(tmp_path / "c.sqlite"), "--ca-file", str(export.ca)),
        export.url + "?signature=s3cr3t",
        env={"DECISION_CONTACTS_IMPORT_TOKEN": "wrong-token-value"},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"{export.url}: HTTP 401 Unauthorized (check the token)"
    assert "wrong-token-value" not in done.stdout + done.stderr
    assert "s3cr3t" not in done.stdout + done.stderr  # a signed URL's query is a credential
    assert (
        not (tmp_path / "c.sqlite").exists()
        or "Ada" not in contacts_cli("export", "--contacts", str(tmp_path / "c.sqlite")).stdout
    )


def test_an_untrusted_certificate_names_the_ca_option(export, tmp_path):
    done = contacts_cli(
        *("import", "--contacts", str(tmp_path / "c.sqlite"), export.url),
        env={"DECISION_CONTACTS_IMPORT_TOKEN": TOKEN},
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert "certificate is not trusted" in line
    assert "--ca-file" in line
    assert export.seen == []  # the token never left before the server was trusted


def test_plain_http_is_refused(tmp_path):
    done = contacts_cli(
        "import", "--contacts", str(tmp_path / "c.sqlite"), "http://127.0.0.1:9/contacts.csv"
    )
    assert done.returncode == 1
    assert "only https:// URLs" in done.stderr


def test_a_redirect_to_another_host_is_refused_before_anything_is_sent_there(export, tmp_path):
    export.redirect_to = "https://localhost:1/elsewhere.csv"
    done = contacts_cli(
        *("import", "--contacts", str(tmp_path / "c.sqlite"), "--ca-file", str(export.ca)),
        export.url,
        env={"DECISION_CONTACTS_IMPORT_TOKEN": TOKEN},
    )
    assert done.returncode == 1
    assert "redirected to another host (localhost)" in done.stderr


def test_a_header_only_export_does_not_empty_the_directory(export, tmp_path):
    directory = tmp_path / "c.sqlite"
    first = contacts_cli("import", "--contacts", str(directory), str(EXAMPLES / "contacts.csv"))
    assert first.returncode == 0, first.stderr
    export.body = CSV.splitlines(keepends=True)[0]
    done = contacts_cli(
        *("import", "--replace", "--contacts", str(directory), "--ca-file", str(export.ca)),
        export.url,
        env={"DECISION_CONTACTS_IMPORT_TOKEN": TOKEN},
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"{export.url}: no contacts; --replace would empty")
    assert "Ada Lovelace" in contacts_cli("export", "--contacts", str(directory)).stdout


def test_imports_from_standard_input(tmp_path):
    directory = tmp_path / "contacts.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "decision", "contacts", "import", "--contacts", str(directory), "-"],
        input=b"\xef\xbb\xbf" + CSV,  # Excel's BOM, dropped as from a file
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"upserted 2 contacts (3 numbers)" in done.stdout
    assert "Ada Lovelace" in contacts_cli("export", "--contacts", str(directory)).stdout


def test_bad_rows_from_standard_input_name_it_and_their_lines(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "contacts",
            "import",
            "--contacts",
            str(tmp_path / "c"),
            "-",
        ],
        input=b"number,country\nnot-a-number,GB\n",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.decode().strip() == "-:2: number 'not-a-number' cannot be parsed"


def test_there_is_no_token_flag():
    """The token is never an argument: argparse refuses one without echoing its value."""
    done = contacts_cli("import", "--token", "abc123secret", "-")
    assert done.returncode == 2
    assert "abc123secret" not in done.stderr

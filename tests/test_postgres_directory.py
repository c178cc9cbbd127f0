"""What only the shared PostgreSQL directory does, against a real server the suite starts: a
missed notification caught by the periodic check, and the database killed and restarted under
load without one webhook failing. The contract it keeps with every backend (imports, lookups,
another replica's import reaching the cache, errors without the password) is
test_directory_conformance.py; its outages and an operator's mistakes, test_directory_outages.py."""

from __future__ import annotations

import asyncio
import itertools
import threading
from pathlib import Path

import psycopg

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.directory.postgres import PostgresDirectory
from plumbing.service_process import ServiceProcess
from tests.conftest import EXAMPLE_RULES, Webhook, contacts_cli, start_facade, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def late_arrival_csv(tmp_path: Path) -> Path:
    path = tmp_path / "late.csv"
    path.write_text("number,country,name,tier\n07400 999999,GB,Late Arrival,vip\n")
    return path


def test_a_missed_notification_is_caught_by_the_periodic_check(postgres_url):
    async def scenario() -> None:
        backend = await PostgresDirectory.open(postgres_url, check_interval=0.2)
        changes = asyncio.create_task(backend.wait_for_change())
        await changes  # the first check always reports (nothing seen yet)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            # A write that does not notify: as if the notification were lost with a connection.
            connection.execute("UPDATE contact_generation SET generation = generation + 1")
        await asyncio.wait_for(backend.wait_for_change(), timeout=30)
        await backend.close()

    asyncio.run(scenario())


def test_database_killed_and_restarted_under_load_loses_no_webhook(
    postgres, postgres_url, tmp_path
):
    assert (
        contacts_cli(
            "import", "--contacts", postgres_url, str(EXAMPLES / "contacts.csv")
        ).returncode
        == 0
    )
    logs = [(tmp_path / f"replica-{n}.log").open("w") for n in range(2)]
    replicas = [
        ServiceProcess(
            "decision",
            ["serve", "--listen", "127.0.0.1:0", "--rules", str(EXAMPLE_RULES), "--grace", "1"],
            env={"DECISION_CONTACTS": postgres_url},
            stderr=log,
        )
        for log in logs
    ]
    target = "ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas)
    facade = start_facade(target, 2000)
    webhook = Webhook(facade.port)
    statuses: list[int] = []
    numbers = itertools.count(100_000)
    stop = threading.Event()

    def load() -> None:
        # A new number every time: no cache can answer, every lookup goes to the database.
        while not stop.is_set():
            caller = {"phoneNumber": f"07400{next(numbers)}", "countryCode": "+44"}
            statuses.append(webhook.post(caller).status)

    senders = [threading.Thread(target=load) for _ in range(3)]
    try:
        # Both replicas know Ada through the shared directory.
        for replica in replicas:
            with BlockingDecisionClient(f"127.0.0.1:{replica.port}", timeout=5) as client:
                request = decision_pb2.DecideRequest(phone_number="07400654321", country_code="+44")
                assert client.decide(request).patch.callback_user_name == "Ada Lovelace"
        for sender in senders:
            sender.start()
        wait_until(lambda: len(statuses) > 50, "load is flowing")
        postgres.kill()
        seen = len(statuses)
        wait_until(lambda: len(statuses) > seen + 50, "answers go on without the database")
        postgres.start()
        # A new contact: only a directory that is back (and told of the import) can know her.
        late = contacts_cli("import", "--contacts", postgres_url, str(late_arrival_csv(tmp_path)))
        assert late.returncode == 0, late.stderr
        for replica in replicas:
            with BlockingDecisionClient(f"127.0.0.1:{replica.port}", timeout=5) as client:
                request = decision_pb2.DecideRequest(phone_number="07400999999", country_code="+44")
                wait_until(
                    lambda client=client, request=request: (
                        client.decide(request).patch.callback_user_name == "Late Arrival"
                    ),
                    "each replica reads the directory again",
                    timeout=30,
                )
    finally:
        stop.set()
        for sender in senders:
            sender.join()
        facade.stop()
        for replica in replicas:
            replica.stop()
        for log in logs:
            log.close()
    assert set(statuses) == {200}  # every webhook answered, none failed
    # While the database was down the callers were unknown, and routed all the same.
    replica_logs = "".join(path.read_text() for path in tmp_path.glob("replica-*.log"))
    assert "caller treated as unknown" in replica_logs

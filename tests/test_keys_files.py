"""Keys files someone else may have put in place (issue 24, round two: the adversary's F15 and
F14): a FIFO or a link to a device where the keys file was, a file saved with a byte-order
mark, a key no header can carry."""

from __future__ import annotations

import json
import os
import signal

from tests.conftest import SEED, Webhook, start_facade, wait_until

OLD_KEY = "key-one-0123456789abcdef"


def test_a_fifo_or_a_device_in_the_keys_files_place_keeps_the_old_keys(scripted, tmp_path):
    """SIGHUP with a FIFO where the keys file was: the facade's loop blocked in open() until
    someone wrote to the FIFO, answering nothing meanwhile (ten minutes in the adversary's
    run); a link to /dev/zero would have been read without end."""
    keys = tmp_path / "keys.txt"
    keys.write_text(OLD_KEY + "\n")
    stderr = tmp_path / "facade.log"
    with stderr.open("w") as log:
        facade = start_facade(
            f"127.0.0.1:{scripted.port}",
            300,
            "--api-keys-file",
            str(keys),
            env={"FACADE_API_KEYS": ""},
            stderr=log,
        )
        try:
            webhook = Webhook(facade.port, OLD_KEY)
            assert webhook.post(SEED).status == 200  # serving: SIGHUP is handled from now on
            for refused, replacement in enumerate(("fifo", "/dev/zero"), 1):
                keys.unlink()
                if replacement == "fifo":
                    os.mkfifo(keys)
                else:
                    keys.symlink_to(replacement)
                facade.process.send_signal(signal.SIGHUP)
                wait_until(
                    lambda n=refused: stderr.read_text().count("API keys not reloaded") == n,
                    f"the reload refused ({replacement})",
                )
                assert webhook.post(SEED, timeout=5).status == 200
        finally:
            facade.stop()
    refusals = [line for line in stderr.read_text().splitlines() if "not reloaded" in line]
    assert len(refusals) == 2
    assert all("not a regular file" in json.loads(line)["msg"] for line in refusals)


def test_a_byte_order_mark_is_not_part_of_a_key(scripted, facade_in_process, tmp_path):
    """Notepad's UTF-8 starts with a BOM: the first key was refused, silently."""
    keys = tmp_path / "keys.txt"
    keys.write_bytes(b"\xef\xbb\xbf" + OLD_KEY.encode() + b"\r\nkey-two-0123456789abcdef\r\n")
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", api_keys=(), api_keys_file=str(keys))
    assert Webhook(facade.port, OLD_KEY).post(SEED).status == 200
    assert Webhook(facade.port, "key-two-0123456789abcdef").post(SEED).status == 200


def test_a_key_no_header_can_carry_is_warned_about_without_showing_it(
    scripted, facade_in_process, tmp_path, captured_logs
):
    unusable = "key-bell-0123456789\x07abc"
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{OLD_KEY}\n# a comment\n{unusable}\nkey-é-0123456789abcdef\n")
    facade_in_process(f"127.0.0.1:{scripted.port}", api_keys=(), api_keys_file=str(keys))
    lines = captured_logs.getvalue().splitlines()
    warned = [json.loads(line)["msg"] for line in lines if "no header can carry" in line]
    assert len(warned) == 2
    assert "key 2 of the file" in warned[0]
    assert "key 3 of the file" in warned[1]
    assert not [line for line in lines if "0123456789" in line]


def test_failed_authentications_spend_one_budget_per_ipv6_64(scripted, facade_in_process):
    """As the connection caps count: a host holding a /64 got a fresh burst from every address
    in it."""
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}",
        trusted_proxies=("127.0.0.1/32",),
        auth_failure_rate=0.001,
        auth_failure_burst=2,
    )
    webhook = Webhook(facade.port)
    statuses = [
        webhook.post(
            SEED, key="wrong-key-000000", **{"X-Forwarded-For": f"2001:db8:1:2::{n}"}
        ).status
        for n in range(1, 4)
    ]
    assert statuses == [401, 401, 429]
    other_64 = webhook.post(SEED, key="wrong-key-000000", **{"X-Forwarded-For": "2001:db8:1:3::1"})
    assert other_64.status == 401

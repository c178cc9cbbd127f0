"""`python -m decision install`: a candidate goes live only whole, checked and with its cases
passing; anything else leaves the live file as it was."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from facade.devstack import ServiceProcess

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RULES = (EXAMPLES / "rules.toml").read_text()
US_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"
# The example rules with UK mobiles sent to the US queue: compiles, but breaks the first case.
MOVED = RULES.replace('then = { queue = "support-uk"', 'then = { queue = "support-us"')


def install(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "decision", "install", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_puts_a_checked_candidate_in_place_in_one_rename(tmp_path):
    live = tmp_path / "rules.toml"
    live.write_text(RULES)
    live.chmod(0o640)
    old_inode = live.stat().st_ino
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(RULES.replace("routed_by", "routed_via"))
    result = install(candidate, live, "--cases", EXAMPLES / "cases.toml")
    assert result.returncode == 1  # the cases expect data.routed_by
    assert live.read_text() == RULES
    candidate.write_text(RULES.replace("Europe/London", "Europe/Dublin"))
    result = install(candidate, live, "--cases", EXAMPLES / "cases.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 cases passed" in result.stdout
    assert f"{live}: installed version " in result.stdout
    assert live.read_text() == candidate.read_text()
    assert live.stat().st_ino != old_inode  # renamed into place, not written in place
    assert live.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate.toml", "rules.toml"]


def test_install_refuses_a_candidate_that_does_not_compile_or_fails_a_case(tmp_path):
    live = tmp_path / "rules.toml"
    live.write_text(RULES)
    broken = tmp_path / "broken.toml"
    broken.write_text('version = 1\n[[rules]]\nname = "x"\nthen = { queue = "nope" }\n')
    result = install(broken, live)
    assert result.returncode == 1
    assert "then.queue: unknown queue name 'nope'" in result.stderr
    assert f"{live}: not changed" in result.stderr
    moved = tmp_path / "moved.toml"
    moved.write_text(MOVED)
    result = install(moved, live, "--cases", EXAMPLES / "cases.toml")
    assert result.returncode == 1
    assert "FAIL: UK mobile goes to the UK queue" in result.stdout
    assert f"{live}: not changed" in result.stdout
    assert live.read_text() == RULES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.toml", "moved.toml", "rules.toml"]


def test_install_keeps_a_symlinked_live_file_a_symlink(tmp_path):
    (tmp_path / "v1").mkdir()
    target = tmp_path / "v1" / "rules.toml"
    target.write_text(RULES)
    live = tmp_path / "rules.toml"
    live.symlink_to(target)
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(MOVED)
    assert install(candidate, live).returncode == 0
    assert live.is_symlink()
    assert target.read_text() == MOVED


def test_a_running_service_serves_the_installed_rules(tmp_path):
    live = tmp_path / "rules.toml"
    live.write_text(RULES)
    service = ServiceProcess(
        "decision",
        ["serve", "--listen", "127.0.0.1:0", "--rules", str(live), "--watch-interval", "0.1"],
    )
    try:
        candidate = tmp_path / "candidate.toml"
        candidate.write_text(MOVED)
        assert install(candidate, live).returncode == 0
        request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
        with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
            deadline = time.monotonic() + 20
            while client.decide(request).patch.queue_id != US_QUEUE:
                assert time.monotonic() < deadline, "the installed rules never went live"
                time.sleep(0.05)
    finally:
        assert service.stop() == 0

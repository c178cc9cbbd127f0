"""`decision gate`: the one step a rules change passes before it merges (a CI job on the
GitOps repository that holds the rules): `check`, `test --threshold` and `replay
--fail-on-change` against a recent decision log, each run as its own command, and one
reviewable report (Markdown, for a pull request comment) on stdout. Exit 0 when every step
passes, 1 when one fails."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# A step is a whole command; none of them should take long (a 10,000-rule file replays a day's
# log in seconds), so one that hangs fails the gate rather than the CI job's own timeout.
STEP_TIMEOUT = 600.0
MAX_OUTPUT_LINES = 200  # per step, in the report; the rest is counted, not shown


@dataclass
class Step:
    name: str
    argv: list[str]
    returncode: int = 0
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def _run(step: Step) -> Step:
    command = [sys.executable, "-m", "decision", *step.argv]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        step.returncode, step.output = 1, f"did not finish within {STEP_TIMEOUT:.0f} s"
        return step
    step.returncode = done.returncode
    step.output = (done.stdout + done.stderr).rstrip()
    return step


def _shown(output: str) -> str:
    lines = output.splitlines() or ["(no output)"]
    if len(lines) > MAX_OUTPUT_LINES:
        left = len(lines) - MAX_OUTPUT_LINES
        lines = [*lines[:MAX_OUTPUT_LINES], f"... {left} more lines"]
    return "\n".join(lines)


def report(rules: str, steps: list[Step]) -> str:
    failed = [step.name for step in steps if not step.passed]
    verdict = f"FAIL ({', '.join(failed)})" if failed else "PASS"
    parts = [f"# Rules gate: {rules}: {verdict}", ""]
    for step in steps:
        parts += [
            f"## {'PASS' if step.passed else 'FAIL'}: callback-decision {' '.join(step.argv)}",
            "",
            "```",
            _shown(step.output),
            "```",
            "",
        ]
    parts.append(f"gate: {verdict}")
    return "\n".join(parts)


def _gate(args: argparse.Namespace) -> int:
    for path, what in ((args.rules, "rules"), (args.cases, "cases"), (args.log, "decision log")):
        if not Path(path).is_file():
            print(f"gate: {path}: no such {what} file", file=sys.stderr)
            return 2
    steps = [
        Step("check", ["check", args.rules]),
        Step(
            "test",
            ["test", "--coverage", "--threshold", f"{args.threshold:g}", args.rules, args.cases],
        ),
        Step("replay", ["replay", "--rules", args.rules, "--fail-on-change", args.log]),
    ]
    # Every step runs, whatever the one before said: the report shows everything to fix.
    print(report(args.rules, [_run(step) for step in steps]))
    return 0 if all(step.passed for step in steps) else 1


def add_commands(commands: argparse._SubParsersAction) -> None:
    gate = commands.add_parser(
        "gate",
        help="check, test and replay a candidate rules file: one report, exit 1 on failure",
        description=__doc__,
    )
    gate.add_argument("rules", help="the candidate rules file")
    gate.add_argument("--cases", required=True, help="its routing test cases (TOML)")
    gate.add_argument(
        "--threshold",
        type=float,
        default=100.0,
        help="fail below this %% of rules covered by the cases (default 100)",
    )
    gate.add_argument(
        "--log",
        required=True,
        help="a recent decision log (JSON lines) to replay: any decision that would change fails",
    )
    gate.set_defaults(run=_gate)

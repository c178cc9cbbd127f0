"""A facade-only install (`pip install '.[facade]'`, the image's `facade` target) runs without
the decision service's packages: every facade module imports, and a facade built as `serve`
builds it answers the webhook (`{}`: no decision service either), while the `decision` package
and the distributions only the `decision` extra brings cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import SEED

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def distributions(requirements: list[str]) -> set[str]:
    names = set()
    for line in requirements:
        requirement = Requirement(line)
        names.add(requirement.name.lower())
        if requirement.name == "psycopg" and "binary" in requirement.extras:
            names.add("psycopg-binary")  # what the extra installs, imported as psycopg_binary
    return names


def decision_only_imports() -> set[str]:
    """Top-level import names of what the `decision` extra adds to the base and the facade's."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    shared = distributions(PYPROJECT["project"]["dependencies"] + extras["facade"])
    only = distributions(extras["decision"]) - shared
    return {
        name
        for name, dists in packages_distributions().items()
        if {d.lower().replace("_", "-") for d in dists} & only
    } | {"decision"}


def facade_modules() -> list[str]:
    """Every module of the facade's install: facade/, contract/ and plumbing/ (generated stubs
    included), found on disk so that a new module is covered without a change here."""
    modules = []
    for package in ("facade", "contract", "plumbing"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # runs the CLI; facade.cli is imported instead
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


# Runs in a fresh interpreter: a finder ahead of all others refuses the blocked names, as an
# install without them would. Then the facade is built and asked what TrueEngage asks.
SCRIPT = """
import asyncio, importlib, json, sys

BLOCKED = set(json.loads(sys.argv[1]))
MODULES = json.loads(sys.argv[2])
SEED = sys.argv[3]


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name}: not part of a facade-only install")
        return None


sys.meta_path.insert(0, NotInstalled())
for name in BLOCKED:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} imported despite the block")
for module in MODULES:
    importlib.import_module(module)

import tornado.httpclient, tornado.netutil
from facade.app import FacadeServer
from facade.config import FacadeSettings
from facade.openapi import render_openapi


async def main():
    settings = FacadeSettings(
        listen="127.0.0.1:0", decision="127.0.0.1:1", deadline_ms=200, drain_seconds=0,
        api_keys=("facade-alone-key",), admin_listen="127.0.0.1:0", admin_keys=("admin-key",),
        access_log=False,
    )
    server = FacadeServer(settings)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.http.add_sockets(sockets)
    url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    client = tornado.httpclient.AsyncHTTPClient()
    headers = {"X-API-Key": "facade-alone-key", "Content-Type": "application/json"}
    answer = await client.fetch(url + "/trueengage/callback", method="POST", body=SEED,
                                headers=headers, raise_error=False)
    ready = await client.fetch(url + "/readyz", raise_error=False)
    await server.stop()
    json.loads(render_openapi())
    print(json.dumps([answer.code, json.loads(answer.body), ready.code]))


asyncio.run(main())
"""


def run_facade_alone(modules: list[str]) -> subprocess.CompletedProcess[str]:
    blocked = sorted(decision_only_imports())
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(blocked), json.dumps(modules), json.dumps(SEED)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_blocked_names_are_the_decision_services_own():
    blocked = decision_only_imports()
    assert {"decision", "psycopg", "psycopg_pool", "phonenumbers", "grpc_reflection"} <= blocked
    assert not {"grpc", "grpc_health", "google", "tornado", "jsonschema_rs"} & blocked


def test_the_facade_runs_without_the_decision_services_packages():
    modules = facade_modules()
    assert {"facade.app", "facade.cli", "facade.admin", "facade.openapi"} <= set(modules)
    assert {"facade.devstack", "contract.client", "contract.v1.decision_pb2"} <= set(modules)
    done = run_facade_alone(modules)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [200, {}, 200]


@pytest.mark.parametrize("module", ["decision.cli", "psycopg"])
def test_a_facade_module_importing_them_would_fail(module):
    """The check itself: one import of the decision side among the facade's modules fails it."""
    done = run_facade_alone([*facade_modules(), module])
    assert done.returncode != 0
    assert f"{module.partition('.')[0]}: not part of a facade-only install" in done.stderr

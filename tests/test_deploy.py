"""deploy/ stays true to the code. The manifests are valid Kubernetes objects (a real validator)
whose probes hit endpoints that exist, whose variables are settings the services read, whose
selectors match, and whose images are the Dockerfile's targets. The Dockerfile's wheel is built
from exactly what its COPY lines take (tests/image_build.py) and holds every module, stub and
data file, importable with nothing else of the repository on sys.path."""

from __future__ import annotations

import json
import re
import tomllib
import zipfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from decision.service.settings import DecisionSettings
from facade.config import FacadeSettings
from facade.openapi import render_openapi
from tests.image_build import (
    DOCKERFILE,
    ROOT,
    THIRD_PARTY,
    Stage,
    build_wheel,
    lineage,
    parse_dockerfile,
    run_installed,
    tracked_files,
    unpack,
    wheel_stage,
)

DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETTINGS = {"FACADE": FacadeSettings, "DECISION": DecisionSettings}


def documents() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def of_kind(kind: str) -> list[dict]:
    return [d for d in documents() if d["kind"] == kind]


def pod_specs() -> list[tuple[dict, dict]]:
    """Every pod template: Deployments' and the CronJob's (the contacts import)."""
    specs = [(d, d["spec"]["template"]["spec"]) for d in of_kind("Deployment")]
    specs += [(d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"]) for d in of_kind("CronJob")]
    return specs


def containers() -> list[tuple[dict, dict]]:
    return [(d, c) for d, spec in pod_specs() for c in spec["containers"]]


def test_manifests_parse_and_have_both_services():
    names = {d["metadata"]["name"] for d in of_kind("Deployment")}
    assert names == {"callback-facade", "callback-decision"}


# Read by `decision genesys pull` and `--genesys-refresh` (decision/genesys/connect.py).
GENESYS_VARIABLES = {"GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET", "GENESYS_REGION"}


def test_environment_variables_are_real_settings():
    connect = (DEPLOY.parent / "decision" / "genesys" / "connect.py").read_text()
    for _, container in containers():
        for variable in container.get("env", []):
            if variable["name"] in GENESYS_VARIABLES:
                assert f'"{variable["name"]}"' in connect
                continue
            prefix, _, name = variable["name"].partition("_")
            assert name.lower() in SETTINGS[prefix].__dataclass_fields__, variable["name"]


def test_http_probes_point_at_endpoints_that_answer(webhook):
    probes = [
        c[kind]["httpGet"]["path"]
        for _, c in containers()
        for kind in ("readinessProbe", "livenessProbe")
        if "httpGet" in c.get(kind, {})
    ]
    assert sorted(probes) == ["/healthz", "/readyz"]
    for path in probes:
        assert webhook.request("GET", path).status == 200


def test_no_probe_depends_on_the_decision_service():
    """A facade probe that failed with the decision service would take every facade out of its
    Service in an outage: TrueEngage would get connection errors instead of `{}`."""
    for _, container in containers():
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            path = container.get(kind, {}).get("httpGet", {}).get("path", "")
            assert "decision" not in path, (container["name"], kind, path)


def test_grpc_probes_use_the_listening_port():
    _, decision = next((d, c) for d, c in containers() if c["name"] == "decision")
    listen = next(v["value"] for v in decision["env"] if v["name"] == "DECISION_LISTEN")
    port = int(listen.rpartition(":")[2])
    for kind in ("readinessProbe", "livenessProbe"):
        assert decision[kind]["grpc"]["port"] == port


def test_services_select_their_pods_and_decision_is_headless():
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment")
    }
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    for name, labels in pods.items():
        assert services[name]["spec"]["selector"].items() <= labels.items()
    assert services["callback-decision"]["spec"]["clusterIP"] == "None"
    _, facade = next((d, c) for d, c in containers() if c["name"] == "facade")
    target = next(v["value"] for v in facade["env"] if v["name"] == "FACADE_DECISION")
    assert target == "dns:///callback-decision:50051"


def test_only_the_webhook_is_public():
    (ingress,) = of_kind("Ingress")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/trueengage/callback"]


def test_manifests_are_valid_kubernetes_objects():
    """Against the API schemas kubernetes-validate ships (offline), strict: a misspelt or
    misplaced field is an error, not a field Kubernetes drops without a word."""
    version = kubernetes_validate.latest_version()
    for document in documents():
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_misspelt_field():
    (deployment, *_) = of_kind("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


# -- The images: deploy/Dockerfile's targets, built as far as can be without a Docker engine --

TARGETS = ("facade", "decision")


def stages() -> dict[str, Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def dev_pin(name: str) -> str:
    """The version pyproject.toml's dev extra pins `name` to."""
    (pin,) = [d for d in PYPROJECT["project"]["optional-dependencies"]["dev"] if d.startswith(name)]
    return pin


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(DOCKERFILE.read_text(), tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def installed(image_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked, as pip would lay it out in the image's site-packages."""
    return unpack(image_wheel, tmp_path_factory.mktemp("site-packages"))


def wheel_problems(wheel: Path) -> list[str]:
    """What the wheel lacks of the repository's packages, their data and the generated stubs."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    tracked = tracked_files()
    found = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in found}
    assert packages == {"contract", "decision", "facade", "plumbing"}
    wanted = {p for p in tracked if p.split("/")[0] in packages and p.endswith(".py")}
    wanted |= {"facade/openapi.json"}
    wanted |= {p for p in tracked if str(Path(p).parent) == "facade/console"}
    for proto in sorted((ROOT / "protos" / "decision" / "v1").glob("*.proto")):
        stem = f"contract/v1/{proto.stem}"
        wanted |= {f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"}
    return sorted(wanted - names)


def test_the_wheel_holds_every_package_its_data_and_the_stubs(image_wheel):
    assert wheel_problems(image_wheel) == []


# A Dockerfile that forgets a COPY, or the stubs, must fail the check above.
BROKEN = {
    "no contract/": ("COPY contract/ contract/\n", ""),
    "no facade/": ("COPY facade/ facade/\n", ""),
    "no stubs": (" && protos/generate /opt/tools/bin/python \\\n", ""),
}


@pytest.mark.parametrize("change", BROKEN.values(), ids=BROKEN.keys())
def test_a_dockerfile_missing_a_part_fails_the_check(change, tmp_path):
    text = DOCKERFILE.read_text()
    assert change[0] in text
    broken = text.replace(change[0], change[1])
    with pytest.raises(AssertionError):
        assert wheel_problems(build_wheel(broken, tmp_path)) == []


IMPORT_ALL = """
import importlib, json, pathlib, sys
site, repo = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
third_party = set(json.loads(sys.argv[4]))  # the venv's site-packages, inside the repo here
problems = [
    p for p in sys.path
    if p and p not in third_party and pathlib.Path(p).resolve().is_relative_to(repo)
]
modules = []
for path in sorted(site.rglob("*.py")):
    parts = path.relative_to(site).with_suffix("").parts
    if parts[-1] != "__main__" and not parts[0].endswith(".dist-info"):
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
for name in modules:
    module = importlib.import_module(name)
    if not pathlib.Path(module.__file__).resolve().is_relative_to(site):
        problems.append(f"{name} from {module.__file__}")
for group, target in json.loads(sys.argv[3]):
    module, _, function = target.partition(":")
    if not callable(getattr(importlib.import_module(module), function, None)):
        problems.append(f"{group} {target}: not a function")
print(json.dumps({"modules": len(modules), "problems": problems}))
"""


def entry_points(site: Path) -> list[tuple[str, str]]:
    (info,) = site.glob("*.dist-info/entry_points.txt")
    found = []
    for line in info.read_text().splitlines():
        name, _, target = line.partition("=")
        if target:
            found.append((name.strip(), target.strip()))
    return found


def test_every_module_imports_from_the_installed_wheel_alone(installed, tmp_path):
    """Nothing of the repository on sys.path: a module or stub the wheel lacks fails here."""
    scripts = entry_points(installed)
    assert {name for name, _ in scripts} == {"callback-facade", "callback-decision"}
    arguments = (str(installed), str(ROOT), json.dumps(scripts), json.dumps(THIRD_PARTY))
    done = run_installed(installed, "-c", IMPORT_ALL, *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["problems"] == []
    assert report["modules"] > 50


@pytest.mark.parametrize("service", TARGETS)
def test_both_services_start_their_cli_from_the_installed_wheel(installed, tmp_path, service):
    done = run_installed(installed, "-m", service, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_openapi_command_works_installed(installed, tmp_path):
    """`python -m facade openapi` where the package is installed, far from examples/."""
    done = run_installed(installed, "-m", "facade", "openapi", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == render_openapi() == (ROOT / "facade" / "openapi.json").read_text()


def test_the_wheel_stage_pins_the_tools_the_venv_pins():
    (run,) = wheel_stage(stages()).runs
    for tool in ("grpcio-tools", "setuptools"):
        assert dev_pin(tool) in run.split(), tool


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_installs_only_its_own_extra_and_runs_non_root(target):
    all_stages = stages()
    chain = lineage(all_stages, target)
    assert all_stages[chain[-1].name].base == "python:3.11-slim"
    (venv_copy,) = [c for c in chain[0].copies if c.from_stage is not None]
    assert (venv_copy.sources, venv_copy.dest) == (["/opt/venv"], "/opt/venv")
    venv_stage = all_stages[venv_copy.from_stage]
    assert [c.from_stage for c in venv_stage.copies] == [wheel_stage(all_stages).name]
    (install,) = venv_stage.runs
    assert re.findall(r"\.whl\)?\[(\w+)\]", install) == [target]
    user = next(s.user for s in chain if s.user)
    assert user == "10001"  # the manifests' runAsUser; never root
    assert chain[0].cmd[:3] == ["python", "-m", target]
    for argument in chain[0].cmd:  # a file the command names is one the stage copies in
        if argument.startswith("/etc/"):
            copied = [
                ROOT / c.sources[0] / Path(argument).relative_to(c.dest)
                for c in chain[0].copies
                if c.from_stage is None and Path(argument).is_relative_to(c.dest)
            ]
            assert any(path.is_file() for path in copied), argument


def test_every_container_runs_the_image_of_its_service():
    """callback-router-<target> is built with `--target <target>` and runs `python -m <target>`."""
    all_stages = stages()
    for _, container in containers():
        image = container["image"].rpartition(":")[0]
        target = image.removeprefix("callback-router-")
        assert target in TARGETS, image
        assert target in all_stages, image
        assert container["command"][:3] == ["python", "-m", target]


def test_facade_pod_outlives_its_drain():
    """The preStop hook delays SIGTERM while the endpoint is removed; the pod is given time for
    the hook, the facade's drain and its grace before Kubernetes kills it."""
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "callback-facade"]
    pod = deployment["spec"]["template"]["spec"]
    (facade,) = pod["containers"]
    command = facade["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    env = {v["name"]: v["value"] for v in facade["env"]}
    defaults = FacadeSettings()
    drain = float(env.get("FACADE_DRAIN_SECONDS", defaults.drain_seconds))
    grace = float(env.get("FACADE_GRACE", defaults.grace))
    assert drain > 0
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + drain + grace


def test_every_replica_and_the_import_job_share_one_directory_url():
    def contacts_source(container: dict) -> dict:
        (variable,) = [v for v in container["env"] if v["name"] == "DECISION_CONTACTS"]
        return variable["valueFrom"]["secretKeyRef"]

    decision = next(c for _, c in containers() if c["name"] == "decision")
    (job,) = of_kind("CronJob")
    (importer,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert contacts_source(decision) == contacts_source(importer)
    assert importer["command"][:5] == ["python", "-m", "decision", "contacts", "import"]
    # From the environment, not the command line, where every user of the node sees it.
    assert not any("DECISION_CONTACTS" in arg or "--contacts" in arg for arg in importer["command"])

"""deploy/ stays true to the code. The manifests are valid Kubernetes objects (a real validator)
whose probes hit endpoints that exist, whose variables are settings the services read, whose
selectors match, and whose images are the Dockerfile's targets. The Dockerfile's wheel is built
from exactly what its COPY lines take (tests/image_build.py) and holds every module, stub and
data file, importable with nothing else of the repository on sys.path."""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from decision.service.settings import DecisionSettings
from facade.config import FacadeSettings
from facade.openapi import render_openapi
from plumbing.service_process import ServiceProcess
from tests.conftest import API_KEY, SEED, Webhook
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
OVERLAYS = ("dev", "production", "postgres")
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"


@functools.cache
def rendered_text(overlay: str) -> str:
    """`kubectl kustomize deploy/overlays/<overlay>`: what `kubectl apply -k` would apply (one
    render per overlay for the whole module)."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@functools.cache
def rendered(overlay: str = "production") -> list[dict]:
    """The overlay's resources, parsed once: tests that change one change a deep copy."""
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def of_kind(kind: str, overlay: str = "production") -> list[dict]:
    return [d for d in rendered(overlay) if d["kind"] == kind]


def named(kind: str, name: str, overlay: str = "production") -> dict:
    (found,) = [d for d in of_kind(kind, overlay) if d["metadata"]["name"] == name]
    return found


def pod_specs(overlay: str = "production") -> list[tuple[dict, dict]]:
    """Every pod template: Deployments', StatefulSets' and the CronJob's (the contacts import)."""
    specs = [
        (d, d["spec"]["template"]["spec"])
        for kind in ("Deployment", "StatefulSet")
        for d in of_kind(kind, overlay)
    ]
    specs += [
        (d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for d in of_kind("CronJob", overlay)
    ]
    return specs


def containers(overlay: str = "production") -> list[tuple[dict, dict]]:
    return [(d, c) for d, spec in pod_specs(overlay) for c in spec["containers"]]


def ours(overlay: str = "production") -> list[tuple[dict, dict]]:
    """Our containers (not the optional PostgreSQL's)."""
    return [(d, c) for d, c in containers(overlay) if "callback-router-" in c["image"]]


def container(name: str, overlay: str = "production") -> dict:
    (found,) = [c for _, c in containers(overlay) if c["name"] == name]
    return found


def env_of(found: dict) -> dict[str, str]:
    return {v["name"]: v.get("value", "") for v in found.get("env", [])}


def test_each_overlay_renders_both_services():
    for overlay in OVERLAYS:
        names = {d["metadata"]["name"] for d in of_kind("Deployment", overlay)}
        assert names == {"callback-facade", "callback-decision"}, overlay
        (namespace,) = of_kind("Namespace", overlay)
        for document in rendered(overlay):
            if document["kind"] != "Namespace":
                assert document["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_dev_runs_one_replica_each_on_sqlite_and_production_three_on_postgresql():
    for name in ("callback-facade", "callback-decision"):
        assert named("Deployment", name, "dev")["spec"]["replicas"] == 1
        assert named("Deployment", name)["spec"]["replicas"] == 3
    assert env_of(container("decision", "dev"))["DECISION_CONTACTS"].endswith(".sqlite")
    production = env_of(container("decision"))
    assert "DECISION_CONTACTS" not in production
    assert production["DECISION_CONTACTS_FILE"] == "/etc/callback-router/postgres/url"
    assert not of_kind("CronJob", "dev")  # one pod's SQLite file: imported with `exec ... -`


# Read by `decision genesys pull` and `--genesys-refresh` (decision/genesys/connect.py), and by
# `decision contacts import` (decision/cli/contacts_source.py).
OTHER_VARIABLES = {
    "GENESYS_CLIENT_ID": "decision/genesys/connect.py",
    "GENESYS_REGION": "decision/genesys/connect.py",
    "GENESYS_CLIENT_SECRET_FILE": "decision/genesys/connect.py",
    "DECISION_CONTACTS_FILE": "decision/cli/directory_source.py",
    "DECISION_CONTACTS_IMPORT_TOKEN_FILE": "decision/cli/contacts_source.py",
}


def test_environment_variables_are_real_settings():
    for overlay in OVERLAYS:
        for _, found in ours(overlay):
            for variable in found.get("env", []):
                if variable["name"] in OTHER_VARIABLES:
                    source = (ROOT / OTHER_VARIABLES[variable["name"]]).read_text()
                    assert f'"{variable["name"]}"' in source, variable["name"]
                    continue
                prefix, _, name = variable["name"].partition("_")
                assert name.lower() in SETTINGS[prefix].__dataclass_fields__, variable["name"]


def test_secrets_are_files_never_variables_or_arguments():
    """API keys, admin keys, the directory's URL, the Genesys client secret and the export's
    token: each a file from a Secret volume. A variable shows in `kubectl describe` and the
    process' environment; an argument in `ps` on the node."""
    for overlay in OVERLAYS:
        for document, found in containers(overlay):
            for variable in found.get("env", []):
                assert "secretKeyRef" not in variable.get("valueFrom", {}), variable["name"]
            for argument in found.get("command", []):
                assert "postgresql://" not in argument
                assert "--contacts" not in argument
                assert "token" not in argument.lower(), argument
            mounts = {m["name"]: m["mountPath"] for m in found.get("volumeMounts", [])}
            volumes = {
                v["name"]: v
                for spec in [s for d, s in pod_specs(overlay) if d is document]
                for v in spec.get("volumes", [])
            }
            for name, value in env_of(found).items():
                if name.endswith("_FILE"):
                    (mount,) = [m for m in mounts if value.startswith(mounts[m] + "/")]
                    assert "secret" in volumes[mount], name
                    key = value.rpartition("/")[2]
                    assert key in {
                        "api-keys",
                        "admin-keys",
                        "url",
                        "client-secret",
                        "token",
                        "password",
                    }


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
    for overlay in OVERLAYS:
        for _, found in containers(overlay):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                path = found.get(kind, {}).get("httpGet", {}).get("path", "")
                assert "decision" not in path, (found["name"], kind, path)


def test_grpc_probes_ask_the_facades_listener():
    """What another client holds on the shared port (every connection) must not fail the probes
    and take the pod out of the facades' DNS."""
    decision = container("decision")
    port = int(env_of(decision)["DECISION_FACADE_LISTEN"].rpartition(":")[2])
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
    assert env_of(container("facade"))["FACADE_DECISION"] == "dns:///callback-decision:50052"
    assert env_of(container("decision"))["DECISION_FACADE_LISTEN"].endswith(":50052")


def test_only_the_webhook_is_public_over_tls_and_the_console_never():
    (ingress,) = of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert [p["path"] for p in rule["http"]["paths"]] == ["/trueengage/callback"]
    backends = {p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert backends == {"callback-facade"}
    (tls,) = ingress["spec"]["tls"]
    # The two settings of ingress-settings.yaml, and nothing of it applied to the cluster.
    assert tls["hosts"] == [rule["host"]] == ["callbacks.example.com"]
    assert tls["secretName"] == "callback-router-tls"
    assert not [d for d in rendered() if d["metadata"]["name"] == "ingress-settings"]
    # The console listens on its own port, behind its own Service, which no Ingress names.
    console = named("Service", "callback-console")
    (port,) = console["spec"]["ports"]
    facade_env = env_of(container("facade"))
    assert facade_env["FACADE_ADMIN_LISTEN"].endswith(f":{container_port('facade', 'console')}")
    assert port["targetPort"] == "console"
    assert console["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert container_port("facade", "console") != container_port("facade", "http")


def container_port(name: str, port: str) -> int:
    (found,) = [p["containerPort"] for p in container(name)["ports"] if p["name"] == port]
    return found


def test_production_spreads_and_budgets_every_service():
    for name in ("callback-facade", "callback-decision"):
        deployment = named("Deployment", name)
        labels = deployment["spec"]["selector"]["matchLabels"]
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        keys = {c["topologyKey"]: c for c in spread}
        assert set(keys) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in spread:
            assert constraint["labelSelector"]["matchLabels"] == labels
            assert constraint["maxSkew"] == 1
        budget = named("PodDisruptionBudget", name)
        assert budget["spec"]["selector"]["matchLabels"] == labels
        assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"] - 1


def test_every_container_has_a_read_only_root_and_its_writable_places():
    for overlay in OVERLAYS:
        for _, found in containers(overlay):
            assert found["securityContext"]["readOnlyRootFilesystem"] is True
            assert found["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"limits", "requests"} <= set(found["resources"])
    decision = container("decision")
    mounts = {m["mountPath"]: m for m in decision["volumeMounts"]}
    log_dir = str(Path(env_of(decision)["DECISION_DECISION_LOG"]).parent)
    snapshot_dir = str(Path(env_of(decision)["DECISION_GENESYS_SNAPSHOT"]).parent)
    for writable in (log_dir, snapshot_dir, "/tmp"):
        assert not mounts[writable].get("readOnly"), writable
    (spec,) = [s for d, s in pod_specs() if d["metadata"]["name"] == "callback-decision"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[log_dir]["name"]]


def test_rules_configmap_keeps_its_name_so_a_change_restarts_nothing():
    """A hashed name would roll every pod on each rules change; the watcher reloads instead."""
    (spec,) = [s for d, s in pod_specs() if d["metadata"]["name"] == "callback-decision"]
    (rules_volume,) = [v for v in spec["volumes"] if "configMap" in v]
    configmap = named("ConfigMap", rules_volume["configMap"]["name"])
    assert configmap["metadata"]["name"] == "callback-router-rules"
    assert set(configmap["data"]) == {"rules.toml", "cases.toml"}
    mount = next(
        m for m in container("decision")["volumeMounts"] if m["name"] == rules_volume["name"]
    )
    assert env_of(container("decision"))["DECISION_RULES"] == mount["mountPath"] + "/rules.toml"


def test_the_shipped_rules_pass_their_own_gate(tmp_path):
    rules = DEPLOY / "base" / "rules" / "rules.toml"
    cases = DEPLOY / "base" / "rules" / "cases.toml"
    done = subprocess.run(
        [sys.executable, "-m", "decision", "test", str(rules), str(cases)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- NetworkPolicy, read as Kubernetes reads it (ingress rules; ports by name or number) --


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "matchExpressions: extend this reader"
    return selector.get("matchLabels", {}).items() <= labels.items()


def reaches(source: dict, target: str, port: str, overlay: str = "production") -> bool:
    """Whether a pod (`labels`, `namespace`, `namespace_labels`) may open `port` (a named
    container port) on the Deployment or StatefulSet `target`, by the overlay's policies."""
    (document,) = [d for d, _ in pod_specs(overlay) if d["metadata"]["name"] == target]
    namespace = document["metadata"]["namespace"]
    labels = document["spec"]["template"]["metadata"]["labels"]
    numbers = {
        p["name"]: p["containerPort"]
        for c in document["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    }
    policies = [
        p
        for p in of_kind("NetworkPolicy", overlay)
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
    ]
    assert policies, f"{target}: no policy selects it (everything could reach it)"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports is not None and not any(p["port"] in (port, numbers[port]) for p in ports):
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                if "namespaceSelector" in peer:
                    in_namespace = _selects(peer["namespaceSelector"], source["namespace_labels"])
                else:
                    in_namespace = source["namespace"] == namespace
                pods = peer.get("podSelector", {})
                if in_namespace and _selects(pods, source["labels"]):
                    return True
    return False


def pod(namespace: str, **labels: str) -> dict:
    return {
        "namespace": namespace,
        "labels": labels,
        "namespace_labels": {"kubernetes.io/metadata.name": namespace},
    }


FACADE_POD = pod("callback-router", app="callback-facade")
NAMED_APP = pod("crm", **{"callback-router.io/decision-client": "true"})
STRANGER_HERE = pod("callback-router", app="something-else")
STRANGER = pod("crm", app="crm")
PROMETHEUS = pod("monitoring", app="prometheus")


def test_only_facades_reach_their_listener_and_only_named_apps_the_shared_port():
    assert reaches(FACADE_POD, "callback-decision", "grpc-facades")
    assert reaches(NAMED_APP, "callback-decision", "grpc")
    assert not reaches(NAMED_APP, "callback-decision", "grpc-facades")
    for stranger in (STRANGER_HERE, STRANGER, PROMETHEUS):
        for port in ("grpc", "grpc-facades"):
            assert not reaches(stranger, "callback-decision", port)


def test_metrics_are_scraped_from_the_monitoring_namespace_only():
    assert reaches(PROMETHEUS, "callback-decision", "metrics")
    assert not reaches(STRANGER, "callback-decision", "metrics")
    assert not reaches(FACADE_POD, "callback-decision", "metrics")
    assert reaches(PROMETHEUS, "callback-facade", "http")  # /metrics beside the webhook


def test_the_console_port_is_for_named_clients_and_the_database_for_the_decision_side():
    console_client = pod("ops", **{"callback-router.io/console-client": "true"})
    assert reaches(console_client, "callback-facade", "console")
    assert not reaches(STRANGER, "callback-facade", "console")
    assert reaches(STRANGER, "callback-facade", "http")  # the Ingress controller, wherever it is
    importer = pod("callback-router", app="callback-contacts-import")
    decision = pod("callback-router", app="callback-decision")
    assert reaches(importer, "callback-postgres", "postgres", "postgres")
    assert reaches(decision, "callback-postgres", "postgres", "postgres")
    assert not reaches(FACADE_POD, "callback-postgres", "postgres", "postgres")


def test_every_pod_is_behind_a_policy_that_denies_by_default():
    """Nothing is open by omission: every pod template (the import job and the optional
    PostgreSQL included) is selected by an Ingress policy, and the namespace-wide one lets
    nothing in."""
    for overlay in ("production", "postgres"):
        policies = [
            p for p in of_kind("NetworkPolicy", overlay) if "Ingress" in p["spec"]["policyTypes"]
        ]
        (deny,) = [p for p in policies if p["spec"]["podSelector"] == {}]
        assert "ingress" not in deny["spec"]
        for document, _ in pod_specs(overlay):
            labels = (
                document["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
                if document["kind"] == "CronJob"
                else document["spec"]["template"]["metadata"]["labels"]
            )
            assert any(_selects(p["spec"]["podSelector"], labels) for p in policies)


# -- What a validator and a security scanner say of every rendered resource --


def test_manifests_are_valid_kubernetes_objects():
    """Against the API schemas kubernetes-validate ships (offline), strict: a misspelt or
    misplaced field is an error, not a field Kubernetes drops without a word."""
    version = kubernetes_validate.latest_version()
    for overlay in OVERLAYS:
        for document in rendered(overlay):
            kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_misspelt_field():
    deployment = copy.deepcopy(named("Deployment", "callback-facade"))
    found = deployment["spec"]["template"]["spec"]["containers"][0]
    found["readinesProbe"] = found.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def checkov(folder: Path) -> dict:
    assert CHECKOV.exists(), "checkov is installed by `make tools` (make test runs it)"
    done = subprocess.run(
        [
            str(CHECKOV),
            *("--config-file", str(DEPLOY / "checks" / "checkov.yaml")),
            *("--directory", str(folder), "--output", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    return report if isinstance(report, dict) else {"reports": report, "rc": done.returncode}


def failed_checks(report: dict) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} ({c['check_name']})"
        for c in report.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_passes_every_rendered_resource(tmp_path):
    """One checkov run over every overlay's render; the skipped checks are in
    deploy/checks/checkov.yaml, each with its reason."""
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(rendered_text(overlay))
    # A resource checkov would flag, beside them: the run must see and report it.
    flagged = copy.deepcopy(named("Deployment", "callback-facade"))
    flagged["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {}
    (tmp_path / "flagged").mkdir()
    (tmp_path / "flagged" / "flagged.yaml").write_text(yaml.safe_dump(flagged))
    report = checkov(tmp_path)
    assert report.get("check_type") == "kubernetes", report
    failures = failed_checks(report)
    flagged_checks = {
        c["check_id"]
        for c in report["results"]["failed_checks"]
        if c["file_path"] == "/flagged/flagged.yaml"
    }
    # allowPrivilegeEscalation, readOnlyRootFilesystem, capabilities: what was taken away.
    assert {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_37"} <= flagged_checks, failures
    ours = [
        c for c in report["results"]["failed_checks"] if not c["file_path"].startswith("/flagged/")
    ]
    assert ours == [], failed_checks({"results": {"failed_checks": ours}})
    resources = sum(len(rendered(o)) for o in OVERLAYS)
    assert report["summary"]["resource_count"] >= resources - 3  # less the Namespaces


def test_every_skipped_check_says_why():
    lines = (DEPLOY / "checks" / "checkov.yaml").read_text().splitlines()
    settings = yaml.safe_load("\n".join(lines))
    assert settings["skip-check"]
    for check in settings["skip-check"]:
        (at,) = [i for i, line in enumerate(lines) if line.strip() == f"- {check}"]
        assert lines[at - 1].strip().startswith("#"), f"{check}: no reason above it"


def test_checkov_is_pinned_where_pyproject_says():
    (pin,) = PYPROJECT["project"]["optional-dependencies"]["scan"]
    locked = (DEPLOY / "checks" / "checkov-requirements.txt").read_text().splitlines()
    assert pin in locked
    assert all("==" in line for line in locked if line and not line.startswith("#"))


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
    """callback-router-<target> is built with `--target <target>` and runs `python -m <target>`;
    the overlays say where it was pushed and which tag."""
    all_stages = stages()
    for overlay in OVERLAYS:
        for _, found in ours(overlay):
            repository, _, tag = found["image"].rpartition("/")[2].partition(":")
            assert tag, found["image"]
            target = repository.removeprefix("callback-router-")
            assert target in TARGETS, found["image"]
            assert target in all_stages, found["image"]
            assert found["command"][:3] == ["python", "-m", target]


def test_facade_pod_outlives_its_drain():
    """The preStop hook delays SIGTERM while the endpoint is removed; the pod is given time for
    the hook, the facade's drain and its grace before Kubernetes kills it."""
    pod = named("Deployment", "callback-facade")["spec"]["template"]["spec"]
    (facade,) = pod["containers"]
    command = facade["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    env = env_of(facade)
    defaults = FacadeSettings()
    drain = float(env.get("FACADE_DRAIN_SECONDS", defaults.drain_seconds))
    grace = float(env.get("FACADE_GRACE", defaults.grace))
    assert drain > 0
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + drain + grace


def test_every_replica_and_the_import_job_share_one_directory_url():
    def contacts_source(document: dict, found: dict) -> str:
        path = env_of(found)["DECISION_CONTACTS_FILE"]
        (mount,) = [m for m in found["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
        (_, spec), *_ = [(d, s) for d, s in pod_specs() if d is document]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        return f"{volume['secret']['secretName']}/{path.rpartition('/')[2]}"

    (decision,) = [(d, c) for d, c in containers() if c["name"] == "decision"]
    (importer,) = [(d, c) for d, c in containers() if d["kind"] == "CronJob"]
    assert (
        contacts_source(*decision) == contacts_source(*importer) == "callback-router-postgres/url"
    )
    assert importer[1]["command"][:5] == ["python", "-m", "decision", "contacts", "import"]


# -- The dev overlay's containers, run as processes with the overlay's own environment --


def relocated(found: dict, root: Path, addresses: dict[str, str]) -> dict[str, str]:
    """The container's variables with its paths moved under `root` (each mount made there)
    and the variables named in `addresses` set to loopback ones; what comes from an optional
    ConfigMap or Secret absent, as Kubernetes leaves it when that is not created."""
    for mount in found["volumeMounts"]:
        (root / mount["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
    env = {}
    for variable in found["env"]:
        if "valueFrom" in variable:
            continue
        value = variable["value"]
        if value.startswith("/"):
            value = str(root / value.lstrip("/"))
        env[variable["name"]] = addresses.get(variable["name"], value)
    return env


def test_the_dev_overlays_containers_start_and_answer_with_their_own_environment(tmp_path):
    """The variables configure services that start, read the mounted rules and key files, write
    the decision log and the SQLite directory on their writable volumes, and answer the webhook."""
    decision_container, facade_container = container("decision", "dev"), container("facade", "dev")
    rules = named("ConfigMap", "callback-router-rules", "dev")
    decision_env = relocated(
        decision_container,
        tmp_path,
        {
            "DECISION_LISTEN": "127.0.0.1:0",
            "DECISION_FACADE_LISTEN": "127.0.0.1:0",
            "DECISION_METRICS_LISTEN": "127.0.0.1:0",
        },
    )
    rules_dir = Path(decision_env["DECISION_RULES"]).parent
    for name, text in rules["data"].items():
        (rules_dir / name).write_text(text)
    decision = ServiceProcess("decision", decision_container["command"][3:], env=decision_env)
    try:
        facade_env = relocated(
            facade_container,
            tmp_path,
            {
                "FACADE_LISTEN": "127.0.0.1:0",
                "FACADE_ADMIN_LISTEN": "127.0.0.1:0",
                "FACADE_DECISION": decision.ready_line.rpartition(" facades on ")[2],
            },
        )
        Path(facade_env["FACADE_API_KEYS_FILE"]).write_text(API_KEY + "\n")
        Path(facade_env["FACADE_ADMIN_KEYS_FILE"]).write_text("console-key-0123456789\n")
        facade = ServiceProcess("facade", facade_container["command"][3:], env=facade_env)
        try:
            reply = Webhook(facade.port).post(SEED, API_KEY)
        finally:
            assert facade.stop() == 0
    finally:
        assert decision.stop() == 0
    assert reply.status == 200
    assert reply.body["queueId"] == "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"  # decided, not {}
    (logged,) = Path(decision_env["DECISION_DECISION_LOG"]).read_text().splitlines()
    assert json.loads(logged)["matched_rules"] == ["uk-mobile"]
    assert Path(decision_env["DECISION_CONTACTS"]).is_file()

"""deploy/ stays true to the code: probes hit endpoints that exist, variables are settings the
services read, selectors match, and the decision Service is headless for round_robin."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from decision.service.settings import DecisionSettings
from facade.config import FacadeSettings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
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


def test_environment_variables_are_real_settings():
    for _, container in containers():
        for variable in container.get("env", []):
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


@pytest.mark.parametrize(
    "needle",
    ["FROM python:3.11-slim AS build", "USER 10001", "protos/generate /opt/venv/bin/python"],
)
def test_dockerfile_is_multi_stage_non_root_and_builds_the_stubs(needle):
    assert needle in (DEPLOY / "Dockerfile").read_text()


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

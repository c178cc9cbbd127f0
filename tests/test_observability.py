"""What operators see: per-queue and scheduled/immediate counts from the real servicer, and the
shipped Prometheus alerting rules and Grafana dashboard read the way promtool and Grafana read
them, every expression naming only metrics (and labels) that the services really export,
collected from the live prometheus-client registry with every module imported."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from tests.conftest import counted

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
SUPPORT_UK = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TUESDAY_NIGHT = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 18:30 in New York


def request(number: str, code: str, at: datetime, queue: str = "") -> decision_pb2.DecideRequest:
    moment = Timestamp()
    moment.FromDatetime(at)
    return decision_pb2.DecideRequest(
        phone_number=number, country_code=code, queue_id=queue, at=moment
    )


UK_MOBILE = request("07400123456", "+44", TUESDAY_MORNING)
US_AFTER_HOURS = request("(202) 555-0123", "+1", TUESDAY_NIGHT)
UK_LANDLINE = request("020 7946 0000", "+44", TUESDAY_MORNING)


def callbacks(queue: str, when: str) -> float:
    return counted("decision_callbacks_total", queue=queue, when=when)


def test_callbacks_are_counted_by_decided_queue_and_schedule(decision_in_process):
    cases = [
        (UK_MOBILE, ("support-uk", "immediate")),
        (US_AFTER_HOURS, ("support-us", "scheduled")),
        (UK_LANDLINE, ("none", "immediate")),  # no queue decided, none in the request
        # The request's own queue, when the rules leave it: named by the rules, or 'other'.
        (request("020 7946 0000", "+44", TUESDAY_MORNING, SUPPORT_UK), ("support-uk", "immediate")),
        (
            request("020 7946 0000", "+44", TUESDAY_MORNING, str(uuid.uuid4())),
            ("other", "immediate"),
        ),
    ]
    with BlockingDecisionClient(f"127.0.0.1:{decision_in_process.port}", timeout=5) as client:
        for sent, labels in cases:
            before = callbacks(*labels)
            client.decide(sent)
            assert callbacks(*labels) == before + 1, labels


def test_no_request_can_grow_the_label_set(decision_in_process):
    def series() -> set[tuple[str, str]]:
        return {
            (s.labels["queue"], s.labels["when"])
            for family in REGISTRY.collect()
            if family.name == "decision_callbacks"
            for s in family.samples
            if s.name == "decision_callbacks_total"
        }

    sent = [str(uuid.uuid4()) for _ in range(21)]  # queues no rule names
    with BlockingDecisionClient(f"127.0.0.1:{decision_in_process.port}", timeout=5) as client:
        client.decide(request("020 7946 0000", "+44", TUESDAY_MORNING, sent[0]))
        known = series()
        for queue in sent[1:]:
            client.decide(request("020 7946 0000", "+44", TUESDAY_MORNING, queue))
    assert series() == known
    # (Other tests in this process count their own rules' queues: only ours must be absent.)
    assert not {queue for queue, _ in known} & set(sent)


# -- The shipped alerts and dashboard against what the services export --


def exported() -> dict[str, set[str]]:
    """Every series name the services can export (a counter's `_total`, a histogram's
    `_bucket`, `_sum`, `_count`), with its label names, from the registry once every module of
    both services is imported (each registers its metrics on import)."""
    for package in ("contract", "plumbing", "decision", "facade"):
        module = importlib.import_module(package)
        for found in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not found.name.endswith("__main__"):
                importlib.import_module(found.name)
    names: dict[str, set[str]] = {}
    # The registry's own list of what it collects: the metrics are MetricWrapperBase objects;
    # the process' and platform's collectors (process_*, python_*) are not ours to alert on.
    for collector in list(REGISTRY._collector_to_names):
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",),
            }.get(family.type, ("",))
            for suffix in suffixes:
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


FUNCTIONS_AND_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
    # Aggregations, which may stand before their `by (...)` and so not before a `(`.
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group",
}  # fmt: skip


def metrics_in(expression: str) -> dict[str, set[str]]:
    """The metric names a PromQL expression reads, each with the label names its selectors
    match on: strings, durations and grouping lists are left out, a name followed by `(` is a
    function."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\boffset\s+\S+", "", text)
    text = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]*\b", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, selector, call = match.groups()
        if call or name in FUNCTIONS_AND_WORDS:
            continue
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", selector or ""))
        found.setdefault(name, set()).update(labels)
    return found


def test_the_reader_finds_names_and_labels_and_skips_the_rest():
    found = metrics_in(
        'sum by (le, pod) (rate(facade_answer_seconds_bucket{status="200"}[5m])) '
        "/ ignoring(reason) group_left sum(x_total offset 5m) > 7 * 86400"
    )
    assert found == {"facade_answer_seconds_bucket": {"status"}, "x_total": set()}


def alert_rules() -> list[dict]:
    document = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def unknown_names(expression: str, names: dict[str, set[str]]) -> list[str]:
    problems = []
    for name, labels in metrics_in(expression).items():
        if name not in names:
            problems.append(f"{name}: not exported")
        elif labels - names[name]:
            problems.append(f"{name}: no label {sorted(labels - names[name])}")
    return problems


def test_every_alert_and_panel_reads_metrics_we_export():
    names = exported()
    assert "decision_callbacks_total" in names
    assert names["facade_fail_open_total"] == {"reason"}
    expressions = [(r["alert"], r["expr"]) for r in alert_rules()] + dashboard_expressions()
    problems = {where: unknown_names(expr, names) for where, expr in expressions}
    assert {where: p for where, p in problems.items() if p} == {}
    read = {name for _, expr in expressions for name in metrics_in(expr)}
    assert {"decision_callbacks_total", "facade_decision_serving"} <= read


@pytest.mark.parametrize(
    "expression",
    ["rate(facade_fail_opens_total[5m])", 'facade_fail_open_total{status="200"}'],
    ids=["misspelt metric", "a label it does not have"],
)
def test_a_wrong_name_or_label_is_reported(expression):
    assert unknown_names(expression, exported())


def test_alerts_are_whole_prometheus_rules_each_with_its_runbook_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    wanted = {"FailingOpen", "AnswerP99OverBudget", "DirectoryDegraded", "RulesReloadRefused"}
    assert {f"CallbackRouter{name}" for name in wanted | {"GenesysSnapshotStale"}} <= set(names)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["runbook"] == f"README.md#{rule['alert'].lower()}"
        # Its section in Operating: a heading GitHub anchors as the runbook link says.
        assert re.search(rf"^#+ `?{rule['alert']}`?$", readme, re.MULTILINE), rule["alert"]


def test_the_dashboard_is_one_grafana_dashboard_on_a_chosen_prometheus():
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    assert dashboard["uid"] == "callback-router"
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert {t["refId"] for t in panel["targets"]} == {
            chr(65 + i) for i in range(len(panel["targets"]))
        }
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24

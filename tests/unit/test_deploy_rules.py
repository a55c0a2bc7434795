"""The monitoring files under deploy/: alert rules, their promtool tests, Grafana dashboards.

``promtool`` (Debian package ``prometheus``) checks the rules and runs their unit tests, and
checks every dashboard query as PromQL. Every metric name used by a dashboard or an alert must
be one that a service registers (or Prometheus' own ``up``), so a renamed metric breaks
this test instead of leaving a blank panel.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from services.appeals.entrypoints.http import IntakeMetrics
from services.metrics.adapters.prometheus import build_metrics
from services.routing.entrypoints.app import RoutingMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_OWN = {"up"}
# PromQL words that look like names but are not metrics.
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "group_left", "group_right"}
# Grafana's variables, replaced by something PromQL accepts so promtool can parse the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool not found: install the Debian package `prometheus` "
            "(apt-get install -y --no-install-recommends prometheus)"
        )
    return found


def run(*args: str | Path) -> str:
    done = subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may hold anything
    expr = re.sub(r"\{[^{}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[match.start() - 1] if match.start() else " "
        if before in "$." or before.isdigit():  # a Grafana variable, a duration, an exponent
            continue
        if expr[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue  # a function or an operator
        names.add(match.group())
    return names


def registered_names() -> set[str]:
    """Every sample name the metrics service (``build_metrics``), the appeals service
    (``IntakeMetrics``) and the routing worker (``RoutingMetrics``) can expose, suffixes
    included."""
    registry = CollectorRegistry()
    build_metrics(registry)
    IntakeMetrics(registry)
    RoutingMetrics(registry)
    names = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and variable queries."""
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", text)
        queries.append(values.group(1) if values else text)
    return queries


def rule_expressions() -> list[str]:
    return [
        rule["expr"]
        for path in RULES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def test_the_name_extractor_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le, unit) (rate(appeal_sign_seconds_bucket{le="7200.0",'
        ' street=~"$street"}[$__rate_interval]))) / on (unit) group_left bar:ratio offset 1h'
        " and up == 0 unless 1e3 > baz"
    )
    assert metric_names(expr) == {"appeal_sign_seconds_bucket", "bar:ratio", "up", "baz"}


def test_alert_rules_pass_promtool_check() -> None:
    assert RULES, "no rule files under deploy/prometheus/rules"
    out = run("check", "rules", *RULES)
    assert "SUCCESS" in out


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    assert RULE_TESTS, "no promtool tests under deploy/prometheus/tests"
    run("test", "rules", *RULE_TESTS)


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts == fired == quiet


def test_scrape_config_is_valid_and_scrapes_every_service() -> None:
    config = DEPLOY / "prometheus" / "prometheus.yml"
    run("check", "config", "--syntax-only", config)
    jobs = yaml.safe_load(config.read_text(encoding="utf-8"))["scrape_configs"]
    targets = {t for job in jobs for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"appeals:8000", "metrics:8001", "routing:8002", "notify:8003"}


def test_dashboards_and_alerts_use_only_metrics_that_exist() -> None:
    known = registered_names() | PROMETHEUS_OWN
    assert len(DASHBOARDS) >= 5
    used: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        for expr in dashboard_queries(json.loads(path.read_text(encoding="utf-8"))):
            for name in metric_names(expr):
                used.setdefault(name, set()).add(path.name)
    for expr in rule_expressions():
        for name in metric_names(expr):
            used.setdefault(name, set()).add("rules")
    unknown = {name: sorted(where) for name, where in used.items() if name not in known}
    assert not unknown, f"metric names no collector produces: {unknown}"
    assert len(used) > 15  # the extractor really read the queries


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = []
    for path in DASHBOARDS:
        for n, expr in enumerate(dashboard_queries(json.loads(path.read_text(encoding="utf-8")))):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            expr = re.sub(r"\$\w+", "x", expr)
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:{n}", "expr": expr})
    file = tmp_path / "dashboards.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    run("check", "rules", file)


def test_dashboards_are_provisioned_and_well_formed() -> None:
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )["datasources"][0]
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text(encoding="utf-8")
    )["providers"][0]
    assert provider["type"] == "file" and datasource["type"] == "prometheus"
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"], (path.name, panel["title"])
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
    assert len(uids) == len(DASHBOARDS)

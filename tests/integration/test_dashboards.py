"""Every Grafana panel query and alert rule works against the real Prometheus and real services.

Prometheus (Debian package) scrapes the session's four services every second with the repo's
alert rules loaded. The test drives an appeal through the pipeline and publishes the lifecycle
of a synthetic street's appeals (enough reviewed cases for a ranking, one return, one reopening,
one overdue appeal), then sends every panel expression of every dashboard, with its template
variables filled in, and every alert expression to Prometheus' query API: each must parse, each
panel must return data, and every metric a query names must be one a service exposes.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from shared.embedded import BrokerProcess, free_port, start_prometheus
from shared.events import (
    Actor,
    AppealClosed,
    AppealDispatched,
    AppealOverdue,
    AppealReceived,
    AppealReopened,
    AppealResolved,
    AppealResponded,
    AppealReturned,
    AppealReviewed,
    AppealSigned,
    EventEnvelope,
    encode,
    new_event,
)
from shared.kafka import make_producer
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import RunningServices, metric_value, poll

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
DISTRICT = "JA"
# A district department of JA: the synthetic street's appeals count in district JA through it.
UNIT = "JA-PCS"
APPEALS = 24  # above the ranking's minimum sample (20)
STAFF = Actor(kind="staff", id="dashboard-test")
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^{}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[match.start() - 1] if match.start() else " "
        if before in "$." or before.isdigit():
            continue
        if expr[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every target, nested rows included."""
    found = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))

    walk(dashboard["panels"])
    return found


def fill(expr: str, street: str) -> str:
    """Grafana's variables replaced by concrete values (or a match-all regex)."""
    values = {
        "$__rate_interval": "1m",
        "$__interval": "15s",
        "$__range": "1d",
        "$district": DISTRICT,
        "$street": street,
        "$unit": ".*",
    }
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a template variable the test does not know: {expr}"
    return expr


def synthetic_events(street: str) -> list[EventEnvelope]:
    """A street's month: reviewed and closed appeals, one return, one reopening, one overdue."""
    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC)
    midnight = now.astimezone(shanghai).replace(hour=0, minute=0, second=0, microsecond=0)
    # Every time falls today (Shanghai) and before now, so the day's figures see them decided.
    span = min(timedelta(minutes=30), now - midnight.astimezone(UTC) - timedelta(seconds=5))
    start = now - span
    step = span / 40
    events: list[EventEnvelope] = []

    def emit(appeal_id: str, type_: str, at: datetime, data: Any) -> None:
        events.append(
            new_event(
                type_,
                appeal_id=appeal_id,
                actor=STAFF,
                data=data,
                street=street,
                community=f"{street}-C1",
                unit=UNIT,
                occurred_at=at,
            )
        )

    def dispatch(appeal_id: str, at: datetime) -> None:
        # received first: the metrics service refuses events of an appeal it never saw received
        emit(
            appeal_id,
            "appeal.received",
            at,
            AppealReceived(channel="web", tracking_no=f"T-{appeal_id}", text="夜间施工噪声"),
        )
        deadlines = {"sign_by": at + 2 * step, "respond_by": at + 4 * step}
        deadlines["resolve_by"] = at + 8 * step
        emit(
            appeal_id,
            "appeal.dispatched",
            at,
            AppealDispatched(
                matter="public_security.noise",
                urgency="normal",
                lead_unit=UNIT,
                by="router",
                deadlines=deadlines,
            ),
        )

    for n in range(APPEALS):
        appeal_id = f"{street}-A{n:02d}"
        t = start + (n % 10) * step / 10
        dispatch(appeal_id, t)
        if n == 0:
            emit(
                appeal_id,
                "appeal.overdue",
                t + 3 * step,
                AppealOverdue(deadline="sign", due_at=t + 2 * step),
            )
            continue  # fmt: skip
        emit(appeal_id, "appeal.signed", t + step, AppealSigned())
        if n == 1:
            emit(
                appeal_id,
                "appeal.returned",
                t + step * 1.5,
                AppealReturned(reason="测试退单", returned_by=UNIT, return_count=1),
            )
            t = t + 2 * step
            dispatch(appeal_id, t)
            emit(appeal_id, "appeal.signed", t + step, AppealSigned())
        emit(appeal_id, "appeal.responded", t + 2 * step, AppealResponded(message="已联系"))
        emit(appeal_id, "appeal.resolved", t + 5 * step, AppealResolved(result="已处理"))
        satisfied = n != 2
        emit(
            appeal_id,
            "appeal.reviewed",
            t + 6 * step,
            AppealReviewed(
                satisfaction="satisfied" if satisfied else "unsatisfied", solved=satisfied
            ),
        )
        if satisfied:
            emit(appeal_id, "appeal.closed", t + 7 * step, AppealClosed())
        else:
            emit(appeal_id, "appeal.reopened", t + 7 * step, AppealReopened(reason="没修好"))
    return events


def publish(bootstrap: str, profile: str, events: list[EventEnvelope]) -> None:
    async def send() -> None:
        producer = make_producer(bootstrap, profile)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    APPEAL_EVENTS, key=event.appeal_id.encode(), value=encode(event)
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def prometheus_config(services: RunningServices, rules: list[Path]) -> str:
    """Like deploy/prometheus/prometheus.yml, with the test's targets and a 1 s interval."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rules],
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in services.ports.items()
        ],
    }
    return yaml.safe_dump(config)


def test_every_dashboard_panel_and_alert_rule_works_on_real_prometheus(
    services: RunningServices,
    broker: BrokerProcess,
    broker_profile: str,
    infra_dir: Path,
    http: httpx.Client,
) -> None:
    assert DASHBOARDS and RULES
    # One appeal through the real pipeline: intake, routing, dispatch.
    web = http.post(
        services.url("appeals", "/api/v1/appeals"),
        json={"text": "华山路120号门口的窨井盖不见了", "address": "华山路120号"},
    )
    assert web.status_code == 201, web.text
    street = f"TD{uuid.uuid4().hex[:6].upper()}"
    publish(broker.bootstrap, broker_profile, synthetic_events(street))

    def ranked() -> bool:
        text = http.get(services.url("metrics", "/metrics")).text
        return bool(metric_value(text, "appeals_rank", {"level": "unit", "street": street}))

    poll(ranked, timeout=90, what="the metrics service ranking the synthetic street's unit")

    data_dir = infra_dir / f"prometheus-{street.lower()}"
    data_dir.mkdir()
    config = data_dir / "prometheus.yml"
    config.write_text(prometheus_config(services, RULES))
    prometheus = start_prometheus(data_dir=data_dir, config_file=config, port=free_port())
    if prometheus is None:
        pytest.fail("prometheus is not installed: apt-get install -y prometheus")
    try:
        api = f"{prometheus.url}/api/v1"

        def query(expr: str) -> dict[str, Any]:
            body: dict[str, Any] = http.get(f"{api}/query", params={"query": expr}).json()
            return body

        def scraped() -> bool:
            up = query("up")["data"]["result"]
            return len(up) == 4 and all(r["value"][1] == "1" for r in up)

        poll(scraped, timeout=60, what="Prometheus scraping all four services")

        # Alert rules: each expression parses and evaluates; the rule files load.
        for path in RULES:
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
                for rule in group["rules"]:
                    answer = query(rule["expr"])
                    assert answer["status"] == "success", (rule.get("alert"), answer)
        groups = http.get(f"{api}/rules").json()["data"]["groups"]
        assert {g["name"] for g in groups} >= {"appeals-sla", "appeals-pipeline"}
        assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups

        panels = [
            (path.name, title, fill(expr, street))
            for path in DASHBOARDS
            for title, expr in panel_queries(json.loads(path.read_text(encoding="utf-8")))
        ]
        assert len(panels) > 40

        def exposed() -> set[str] | None:
            names = set(http.get(f"{api}/label/__name__/values").json()["data"])
            return names if {"appeals_rank", "appeal_sign_seconds_bucket"} <= names else None

        names = poll(exposed, timeout=60, what="the services' series in Prometheus")
        unknown = [
            (dash, title, name)
            for dash, title, expr in panels
            for name in sorted(metric_names(expr))
            if name not in names
        ]
        assert not unknown, f"queries name metrics no service exposes: {unknown}"

        empty: list[tuple[str, str, str]] = []

        def all_have_data() -> bool:
            empty.clear()
            for dash, title, expr in panels:
                answer = query(expr)
                assert answer["status"] == "success", (dash, title, expr, answer)
                if not answer["data"]["result"]:
                    empty.append((dash, title, expr))
            return not empty

        try:
            poll(all_have_data, timeout=90, what="every panel returning data")
        except AssertionError:
            raise AssertionError(
                "panels without data:\n" + "\n".join(f"  {d} | {t} | {e}" for d, t, e in empty)
            ) from None
    finally:
        prometheus.stop()

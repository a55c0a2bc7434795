"""The reports API and the printable monthly reports, served by the metrics worker's web server.

    GET /api/v1/reports/figures?level=street&period=month&key=2026-11[&district=JA][&street=..]
    GET /api/v1/reports/rankings/streets?district=JA&month=2026-11[&by=composite][&min_sample=20]
    GET /api/v1/reports/rankings/units?street=JA-JAS&month=2026-11[&by=..][&min_sample=..]
    (each also as CSV with ``&format=csv``)
    GET /reports/street/{code}/{month}     a street's units: figures, ranking, follow-up list
    GET /reports/district/{code}/{month}   a district's streets ranked

The facts come from MongoDB (``metrics_facts``, written by every metrics worker), not from the
worker's own table, so the answer is the same whichever worker serves it. Deadlines are judged
as of the request (a deadline not yet due and not yet met is left out of its rate).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.metrics.adapters.facts_store import FactsStore
from services.metrics.config import MetricsSettings
from services.metrics.domain import LEVELS, RANKABLE, RATES, aggregate
from services.metrics.domain.formulas import Period
from services.metrics.domain.reports import (
    figures_row,
    month_figures,
    overdue_follow_up,
    ranking_rows,
    to_csv,
)
from shared.city import City

__all__ = ["ReportError", "register_reports"]

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DAY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# How many of the lowest-ranked units a street report lists for follow-up.
BOTTOM = 3
RATE_TITLES = {
    "on_time_sign": "on-time sign 按时签收率",
    "response": "response 响应率",
    "resolution": "resolution 解决率",
    "satisfaction": "satisfaction 满意率",
    "closure": "closure 按期办结率",
    "return": "return 退单率",
    "reopen": "reopen 重办率",
}


class ReportError(ValueError):
    """A report request names something invalid (answered with HTTP 400)."""


def _param(query: Any, name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = query.get(name)
    if not value:
        raise ReportError(f"missing query parameter {name!r}")
    if pattern is not None and not pattern.match(value):
        raise ReportError(f"{name}={value!r} is not valid")
    return str(value)


def _optional(query: Any, name: str) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if not CODE.match(value):
        raise ReportError(f"{name}={value!r} is not a code")
    return str(value)


def _ranking_options(query: Any, settings: MetricsSettings) -> tuple[str, int]:
    by = query.get("by") or "composite"
    if by not in RANKABLE:
        raise ReportError(f"by={by!r}: expected one of {', '.join(RANKABLE)}")
    raw = query.get("min_sample") or str(settings.metrics_min_sample)
    if not raw.isdigit() or int(raw) < 1:
        raise ReportError(f"min_sample={raw!r} is not a positive integer")
    return by, int(raw)


def register_reports(
    app: faust.App,
    *,
    store: Callable[[], FactsStore],
    city: Callable[[], City],
    settings: MetricsSettings,
) -> None:
    """Add the report pages to the faust app's web server."""
    templates = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.globals.update(rate_names=RATES, rate_titles=RATE_TITLES)

    def answer(web: Any, request: Any, body: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
        if request.query.get("format") == "csv":
            return web.bytes(
                to_csv(rows).encode("utf-8"),
                headers={"Content-Type": "text/csv; charset=utf-8"},
            )
        return web.json(body)

    def failed(web: Any, exc: Exception) -> Any:
        return web.json({"error": str(exc)}, status=400)

    def names() -> dict[str, str]:
        c = city()
        found = {code: street.name for code, (_d, street) in c.streets.items()}
        found.update({code: entry[2].name for code, entry in c.units.items()})
        found.update({code: district.name for code, district in c.districts.items()})
        return found

    @app.page("/api/v1/reports/figures")
    async def figures(web: Any, request: Any) -> Any:
        """Every entity's figures at one level for one day or month."""
        q = request.query
        try:
            level = _param(q, "level")
            if level not in LEVELS:
                raise ReportError(f"level={level!r}: expected one of {', '.join(LEVELS)}")
            period: Period = "day" if q.get("period") == "day" else "month"
            if q.get("period") not in (None, "", "day", "month"):
                raise ReportError(f"period={q.get('period')!r}: expected day or month")
            key = _param(q, "key", DAY if period == "day" else MONTH)
            district, street = _optional(q, "district"), _optional(q, "street")
        except ReportError as exc:
            return failed(web, exc)
        as_of = datetime.now(UTC)
        facts = await store().find(month=key[:7], district=district, street=street)
        found = aggregate(
            facts,
            level,
            period,
            as_of=as_of,
            district=district,
            street=street,
        )
        rows = [figures_row(f) for b, f in found.items() if b.period == key]
        body = {
            "level": level,
            "period": period,
            "key": key,
            "district": district,
            "street": street,
            "as_of": as_of.isoformat(),
            "figures": rows,
        }
        return answer(web, request, body, rows)

    @app.page("/api/v1/reports/rankings/streets")
    async def street_rankings(web: Any, request: Any) -> Any:
        """The month's ranking of a district's streets."""
        q = request.query
        try:
            district = _param(q, "district", CODE)
            month = _param(q, "month", MONTH)
            by, min_sample = _ranking_options(q, settings)
        except ReportError as exc:
            return failed(web, exc)
        as_of = datetime.now(UTC)
        facts = await store().find(month=month, district=district)
        found = month_figures(facts, "street", month, as_of=as_of, district=district)
        rows = ranking_rows(found, by=by, min_sample=min_sample)
        body = {
            "district": district,
            "month": month,
            "by": by,
            "min_sample": min_sample,
            "as_of": as_of.isoformat(),
            "ranking": rows,
        }
        return answer(web, request, body, rows)

    @app.page("/api/v1/reports/rankings/units")
    async def unit_rankings(web: Any, request: Any) -> Any:
        """The month's ranking of the units that handled a street's appeals."""
        q = request.query
        try:
            street = _param(q, "street", CODE)
            month = _param(q, "month", MONTH)
            by, min_sample = _ranking_options(q, settings)
        except ReportError as exc:
            return failed(web, exc)
        as_of = datetime.now(UTC)
        facts = await store().find(month=month, street=street)
        found = month_figures(facts, "unit", month, as_of=as_of, street=street)
        rows = ranking_rows(found, by=by, min_sample=min_sample)
        body = {
            "street": street,
            "month": month,
            "by": by,
            "min_sample": min_sample,
            "as_of": as_of.isoformat(),
            "ranking": rows,
        }
        return answer(web, request, body, rows)

    @app.page("/reports/street/{code}/{month}")
    async def street_report(web: Any, request: Any, code: str, month: str) -> Any:
        """A street's monthly assessment of its units, printable."""
        if not CODE.match(code) or not MONTH.match(month):
            return web.text("not a street code and month (YYYY-MM)", status=400)
        c = city()
        district = c.streets[code][0].code if code in c.streets else "none"
        as_of = datetime.now(UTC)
        facts = await store().find(month=month, street=code)
        units = month_figures(facts, "unit", month, as_of=as_of, street=code)
        street = month_figures(facts, "street", month, as_of=as_of, street=code).get(code)
        rows = ranking_rows(units, min_sample=settings.metrics_min_sample)
        ranked = [r for r in rows if r["position"] is not None]
        bottom = [r["key"] for r in ranked[-BOTTOM:]] if ranked else []
        follow_units = bottom or [r["key"] for r in rows]
        title = (
            f"the {len(bottom)} lowest-ranked units' missed deadlines"
            if bottom
            else "no unit is ranked yet, so every unit's missed deadlines"
        )
        all_names = names()
        html = templates.get_template("street_report.html.j2").render(
            code=code,
            month=month,
            street_name=all_names.get(code, code),
            district=district,
            district_name=all_names.get(district, district),
            as_of=as_of.isoformat(timespec="seconds"),
            min_sample=settings.metrics_min_sample,
            street_figures=figures_row(street) if street else None,
            rows=rows,
            names=all_names,
            bottom_keys=set(bottom),
            chart=_chart(rows, all_names, set(bottom)),
            follow_up=overdue_follow_up(facts, street=code, month=month, units=follow_units),
            follow_up_title=title,
        )
        return web.html(html)

    @app.page("/reports/district/{code}/{month}")
    async def district_report(web: Any, request: Any, code: str, month: str) -> Any:
        """A district's streets ranked for the month, printable."""
        if not CODE.match(code) or not MONTH.match(month):
            return web.text("not a district code and month (YYYY-MM)", status=400)
        as_of = datetime.now(UTC)
        facts = await store().find(month=month, district=code)
        streets = month_figures(facts, "street", month, as_of=as_of, district=code)
        district = month_figures(facts, "district", month, as_of=as_of, district=code).get(code)
        rows = ranking_rows(streets, min_sample=settings.metrics_min_sample)
        ranked = [r for r in rows if r["position"] is not None]
        bottom = {r["key"] for r in ranked[-BOTTOM:]}
        all_names = names()
        html = templates.get_template("district_report.html.j2").render(
            code=code,
            month=month,
            district_name=all_names.get(code, code),
            as_of=as_of.isoformat(timespec="seconds"),
            min_sample=settings.metrics_min_sample,
            district_figures=figures_row(district) if district else None,
            rows=rows,
            names=all_names,
            bottom_keys=bottom,
            chart=_chart(rows, all_names, bottom),
        )
        return web.html(html)


def _chart(
    rows: list[dict[str, Any]], names: dict[str, str], bottom: set[str]
) -> list[tuple[str, float | None, bool]]:
    return [
        (
            f"{names.get(r['key'], r['key'])}",
            r["score_lower"] if r["position"] is not None else None,
            r["key"] in bottom,
        )
        for r in rows
    ]

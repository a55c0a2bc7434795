"""The scale chart's labels and drawing (matplotlib, written to a temporary file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.bench.report import SCALE_KINDS, draw_scale_chart, scale_label

REPO = Path(__file__).resolve().parents[2]


def _result(appeals: int, backlog: str | None, street: int) -> dict:
    result: dict = {
        "appeals": appeals,
        "desks": {"held": {"street": street}},
        "latency_ms": {kind: {"p95": 10.0 + i} for i, (kind, _) in enumerate(SCALE_KINDS)},
    }
    if backlog is not None:
        result["backlog"] = backlog
    return result


def test_a_run_is_named_by_its_size_backlog_busiest_street_and_queue_source() -> None:
    assert scale_label(_result(150000, "steady", 510)) == (
        "150,000 appeals, steady backlog, street 510 open; queues from database"
    )
    assert scale_label({**_result(150000, "steady", 510), "open_work": True}).endswith(
        "; queues from open work in memory"
    )
    run = {**_result(1000000, "steady", 3629), "started_at": "2026-11-26T16:07:16+00:00"}
    assert scale_label(run).endswith("queues from database (2026-11-26 16:07 UTC)")
    # Results written before the backlog option seeded the heavy mix.
    assert scale_label(_result(20000, None, 644)).startswith("20,000 appeals, heavy backlog")


def test_the_scale_chart_is_drawn(tmp_path: Path) -> None:
    out = draw_scale_chart(
        [_result(20000, None, 644), _result(150000, "steady", 510)], tmp_path / "s.png"
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rebuild_bars_project_each_run_to_1m_events() -> None:
    from services.bench.report import rebuild_bars

    experiment = {
        "events": 500_000,
        "started_at": "2026-11-26T15:51:00+00:00",
        "rebuild_single_query": {"events_per_s": 5000.0},
        "rebuild": {"events_per_s": 4000.0},
    }
    plain = {"events": 1_000_000, "started_at": "x", "rebuild": {"events_per_s": 10000.0}}
    assert rebuild_bars([experiment, plain, {"events": 10, "rebuild": None}]) == [
        ("0.50M events, 2026-11-26 15:51, one sorted query", 200.0),
        ("0.50M events, 2026-11-26 15:51, by id range (dropped)", 250.0),
        ("1.00M events, x, one sorted query", 100.0),
    ]


def test_rebuild_bars_name_each_compared_run_by_its_code_and_round() -> None:
    from services.bench.report import rebuild_bars

    compared = {
        "events": 2_000_000,
        "started_at": "2026-11-26T18:20:00+00:00",
        "rebuild_runs": [
            {"how": "before", "round": 1, "events_per_s": 8000.0},
            {"how": "after", "round": 1, "events_per_s": 10000.0},
        ],
    }
    assert rebuild_bars([compared]) == [
        ("2.00M events, 2026-11-26 18:20, before (round 1)", 125.0),
        ("2.00M events, 2026-11-26 18:20, after (round 1)", 100.0),
    ]


def test_a_checkout_is_named_label_equals_directory(tmp_path: Path) -> None:
    from services.bench.rebuild_compare import parse_code

    assert parse_code(f"after={REPO}") == ("after", REPO)
    for wrong, says in (
        ("after", "expected LABEL=DIR"),
        ("=/tmp", "expected LABEL=DIR"),
        (f"before={tmp_path}", "is not a checkout"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_code(wrong)


def test_the_rebuild_chart_is_drawn(tmp_path: Path) -> None:
    from services.bench.report import draw_rebuild_chart

    result = {"events": 1000, "rebuild": {"events_per_s": 8000.0}}
    out = draw_rebuild_chart([result], tmp_path / "rebuild.png")
    assert out.stat().st_size > 1000


def test_workers_bars_show_each_runs_capacity_and_routed_rate(tmp_path: Path) -> None:
    from services.bench.report import draw_workers_chart, workers_bars

    one = {
        "started_at": "2026-11-26T19:38:21+00:00",
        "options": {"workers": 1},
        "routing_burst": {"decisions_per_s": 71.8},
        "system": {"appeals_per_s": 10.6},
    }
    two = {"options": {"workers": 2}, "routing_burst": None, "system": {}}
    assert workers_bars([one, two]) == [
        ("1 worker, 2026-11-26 19:38", 71.8, 10.6),
        ("2 workers, ", 0.0, 0.0),
    ]
    assert draw_workers_chart([one, two], tmp_path / "workers.png").stat().st_size > 1000


def test_heldout_bars_pair_each_file_with_its_variants() -> None:
    from services.bench.report import heldout_bars

    def row(coverage: float, precision: float) -> dict[str, float]:
        return {"coverage": coverage, "precision": precision}

    report = {
        "threshold": 0.55,
        "variants": {
            "words": {"files": {"p7": row(0.56, 1.0), "pooled": row(0.7, 0.97)}},
            "second opinion": {"files": {"p7": row(0.72, 1.0), "pooled": row(0.82, 0.976)}},
        },
    }
    assert heldout_bars(report) == [
        ("p7", [("words", 0.56, 1.0), ("second opinion", 0.72, 1.0)]),
        ("pooled", [("words", 0.7, 0.97), ("second opinion", 0.82, 0.976)]),
    ]


def test_heldout_bars_in_natural_order_pooled_last() -> None:
    from services.bench.report import heldout_bars

    files = {name: {"coverage": 0.9, "precision": 1.0}
             for name in ("pooled", "probe10-appeals", "probe2-appeals", "probe-appeals",
                           "probe9-appeals")}  # fmt: skip
    report = {"variants": {"words": {"files": files}}}
    names = [name for name, _ in heldout_bars(report)]
    assert names == ["probe-appeals", "probe2-appeals", "probe9-appeals", "probe10-appeals",
                     "pooled"]  # fmt: skip

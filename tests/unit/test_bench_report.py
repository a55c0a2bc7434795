"""The scale chart's labels and drawing (matplotlib, written to a temporary file)."""

from __future__ import annotations

from pathlib import Path

from services.bench.report import SCALE_KINDS, draw_scale_chart, scale_label


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
    # Results written before the backlog option seeded the heavy mix.
    assert scale_label(_result(20000, None, 644)).startswith("20,000 appeals, heavy backlog")


def test_the_scale_chart_is_drawn(tmp_path: Path) -> None:
    out = draw_scale_chart(
        [_result(20000, None, 644), _result(150000, "steady", 510)], tmp_path / "s.png"
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

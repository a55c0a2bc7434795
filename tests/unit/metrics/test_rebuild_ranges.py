"""The appeal-id ranges a full metrics rebuild reads one after another (pure logic, no I/O)."""

from __future__ import annotations

import uuid
from typing import Any

from services.metrics.entrypoints.cli import id_ranges


def _in(query: dict[str, Any], appeal_id: str) -> bool:
    condition = query.get("appeal_id", {})
    return condition.get("$gte", "") <= appeal_id and (
        "$lt" not in condition or appeal_id < condition["$lt"]
    )


def test_every_id_falls_in_exactly_one_range_and_the_ranges_keep_id_order() -> None:
    ranges = id_ranges()
    ids = [uuid.uuid4().hex[:20] for _ in range(2000)]
    ids += ["", "0", "1", "f", "ffff", "g", "A0-3", "Z", "~", "中文", "0000", "9zz", "a"]
    placed = []
    for appeal_id in ids:
        homes = [i for i, query in enumerate(ranges) if _in(query, appeal_id)]
        assert len(homes) == 1, (appeal_id, homes)
        placed.append((homes[0], appeal_id))
    # Ranges read in order give the ids in sorted order: every appeal's events stay together.
    assert [appeal_id for _, appeal_id in sorted(placed)] == sorted(ids)


def test_hex_ids_spread_evenly() -> None:
    ranges = id_ranges()
    assert len(ranges) == 16
    counts = [0] * len(ranges)
    for _ in range(16000):
        appeal_id = uuid.uuid4().hex[:20]
        counts[next(i for i, q in enumerate(ranges) if _in(q, appeal_id))] += 1
    assert min(counts) > 800 and max(counts) < 1200, counts

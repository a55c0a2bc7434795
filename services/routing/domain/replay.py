"""What-if re-routing: which appeals would move if the catalog changed, and where to.

The pure half of ``appeals routing replay``: given the router of today's catalog and the router
of a proposed one, route the same requests with both and report the differences, grouped by
(old destination -> new destination). Reading stored appeals (MongoDB event log or a JSONL
file) is the caller's job.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .router import RouteOutcome, Router, RouteRequest

__all__ = ["ReplayReport", "compare_catalogs", "destination"]


def destination(outcome: RouteOutcome) -> str:
    """Where an outcome sends the appeal: a unit code, 'triage:<centre>' or 'transfer:<n>'."""
    if outcome.transfer:
        return f"transfer:{outcome.transfer}"
    if outcome.triage or outcome.unit is None:
        return f"triage:{outcome.dispatch_center}"
    return outcome.unit


@dataclass(frozen=True)
class ReplayReport:
    """The appeals whose destination or matter changes, and a count per move."""

    total: int
    changed: int
    moves: tuple[dict[str, Any], ...]
    items: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "total": self.total,
            "changed": self.changed,
            "moves": [dict(m) for m in self.moves],
            "items": [dict(i) for i in self.items],
        }


def compare_catalogs(
    old_router: Router,
    new_router: Router,
    requests: Iterable[tuple[str, RouteRequest]],
    *,
    examples_per_move: int = 5,
) -> ReplayReport:
    """Route ``(id, request)`` pairs with both routers and report what moves where."""
    total = 0
    items: list[dict[str, Any]] = []
    moves: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for appeal_id, request in requests:
        total += 1
        old, new = old_router.route(request), new_router.route(request)
        before, after = destination(old), destination(new)
        if before == after and old.matter == new.matter:
            continue
        items.append(
            {
                "id": appeal_id,
                "old": {"destination": before, "matter": old.matter, "urgency": old.urgency},
                "new": {"destination": after, "matter": new.matter, "urgency": new.urgency},
            }
        )
        if before != after:
            moves[(before, after)] += 1
            if len(examples[(before, after)]) < examples_per_move:
                examples[(before, after)].append(appeal_id)
    rows = tuple(
        {"from": a, "to": b, "count": n, "examples": examples[(a, b)]}
        for (a, b), n in moves.most_common()
    )
    return ReplayReport(total=total, changed=len(items), moves=rows, items=tuple(items))

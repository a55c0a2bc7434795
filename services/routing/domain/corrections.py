"""Labelled examples from what people decided: the router learns from its corrections.

Every manual dispatch from the triage queue (district dispatcher) and every reassignment by a
street coordinator (under the comprehensive-management authority, 综合管理权) says which matter
and unit an appeal really belonged to. The last such decision counts, and only once the unit
it named has signed the appeal without returning it — a decision that bounced again is not a
label. Pure: it reads an appeal's event list as stored by the appeals service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from services.routing.domain.router import LabelledAppeal

__all__ = ["MANUAL_DISPATCHERS", "correction_from_history", "fingerprint"]

MANUAL_DISPATCHERS = frozenset({"dispatcher", "coordinator"})


def correction_from_history(
    text: str,
    address: str | None,
    location: Mapping[str, float] | None,
    events: Iterable[Mapping[str, Any]],
) -> LabelledAppeal | None:
    """The labelled example an appeal's history gives, or None if it gives none."""
    label: tuple[str, str] | None = None
    confirmed = False
    for event in events:
        type_ = event.get("type")
        data = event.get("data") or {}
        if type_ == "appeal.dispatched":
            if data.get("by") in MANUAL_DISPATCHERS and data.get("matter"):
                label, confirmed = (data["matter"], data["lead_unit"]), False
            else:
                label = None  # the router's own choice teaches nothing
        elif type_ == "appeal.signed" and label is not None:
            confirmed = True
        elif type_ == "appeal.returned":
            label, confirmed = None, False
    if label is None or not confirmed or not text:
        return None
    point = (float(location["lon"]), float(location["lat"])) if location else None
    return LabelledAppeal(
        text=text, matter=label[0], address=address, location=point, unit=label[1]
    )


def fingerprint(examples: Iterable[LabelledAppeal]) -> str:
    """One digest of a set of labelled examples, whatever their order: the routing worker
    trains again only when the corrections it would learn from are not the ones it learnt."""
    rows = sorted(
        f"{e.text}\x1f{e.matter}\x1f{e.unit or ''}\x1f{e.address or ''}\x1f{e.location or ''}"
        for e in examples
    )
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()

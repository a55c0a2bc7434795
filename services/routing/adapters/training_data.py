"""Reading labelled appeals (JSONL) for training, evaluation and replay.

One JSON object a line, the format of the reference city's ``dev-appeals.jsonl``::

    {"id": "D0001", "text": "...", "address": "华山路120号" | null,
     "location": {"lon": .., "lat": ..} | null, "matter": "..." (optional),
     "expected": {"street", "community", "matter", "unit", "co_handlers", "urgency"} (optional)}

Stored dispatcher corrections use the same shape (``expected.matter`` is what the dispatcher
chose). A malformed line raises ``TrainingDataError`` naming the file and line number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from services.routing.domain.router import LabelledAppeal, RouteRequest

__all__ = [
    "AppealRecord",
    "TrainingDataError",
    "labelled_files",
    "read_appeals",
    "read_labelled",
    "training_examples",
]


class TrainingDataError(ValueError):
    """A labelled-appeal file is unreadable or a line is malformed."""


@dataclass(frozen=True)
class AppealRecord:
    """One stored appeal: the request the router sees and, if labelled, what was right."""

    id: str
    request: RouteRequest
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def labelled(self) -> LabelledAppeal | None:
        """The record as a training example, when it names a matter."""
        matter = self.expected.get("matter")
        if not isinstance(matter, str) or not matter:
            return None
        return LabelledAppeal(
            text=self.request.text,
            matter=matter,
            address=self.request.address,
            location=self.request.location,
            unit=self.expected.get("unit"),
        )


def read_appeals(path: str | Path) -> list[AppealRecord]:
    """All records of a JSONL file, in order."""
    return list(_iter_appeals(Path(path)))


def labelled_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, a folder standing for its ``*.jsonl`` files (in natural order: probe2
    before probe10). A path that does not exist, or a folder without one, is an error."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"), key=_natural)
            if not found:
                raise TrainingDataError(f"{path}: a folder of labelled appeals without a *.jsonl")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise TrainingDataError(f"{path}: no such file or folder of labelled appeals")
    return files


def read_labelled(paths: Iterable[str | Path]) -> list[LabelledAppeal]:
    """The training examples of every file and folder named (``labelled_files``)."""
    return [e for path in labelled_files(paths) for e in training_examples(read_appeals(path))]


def _natural(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def training_examples(records: list[AppealRecord]) -> list[LabelledAppeal]:
    """The records that carry a matter label, as training examples."""
    return [r.labelled for r in records if r.labelled is not None]


def _iter_appeals(path: Path) -> Iterator[AppealRecord]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TrainingDataError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise TrainingDataError(f"{path}:{number}: not JSON: {exc}") from None
            yield _record(obj, f"{path}:{number}")


def _record(obj: Any, where: str) -> AppealRecord:
    if not isinstance(obj, dict):
        raise TrainingDataError(f"{where}: a line must be a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise TrainingDataError(f"{where}: 'text' must be a string")
    address = obj.get("address")
    if address is not None and not isinstance(address, str):
        raise TrainingDataError(f"{where}: 'address' must be a string or null")
    location = _location(obj.get("location"), where)
    expected = obj.get("expected") or {}
    if not isinstance(expected, dict):
        raise TrainingDataError(f"{where}: 'expected' must be an object")
    if "matter" in obj and "matter" not in expected:
        expected = {**expected, "matter": obj["matter"]}
    excluded = obj.get("excluded_units") or ()
    if not isinstance(excluded, list | tuple) or not all(isinstance(u, str) for u in excluded):
        raise TrainingDataError(f"{where}: 'excluded_units' must be a list of unit codes")
    return_count = obj.get("return_count", 0)
    if not isinstance(return_count, int) or return_count < 0:
        raise TrainingDataError(f"{where}: 'return_count' must be a non-negative integer")
    hint = obj.get("matter_hint")
    if hint is not None and not isinstance(hint, str):
        raise TrainingDataError(f"{where}: 'matter_hint' must be a string or null")
    request = RouteRequest(
        text=text,
        address=address,
        location=location,
        matter_hint=hint,
        excluded_units=tuple(excluded),
        return_count=return_count,
    )
    return AppealRecord(id=str(obj.get("id", where)), request=request, expected=expected)


def _location(raw: Any, where: str) -> tuple[float, float] | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and {"lon", "lat"} <= raw.keys():
        lon, lat = raw["lon"], raw["lat"]
    elif isinstance(raw, list | tuple) and len(raw) == 2:
        lon, lat = raw
    else:
        raise TrainingDataError(f"{where}: 'location' must be {{lon, lat}} or null")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
        raise TrainingDataError(f"{where}: 'location' lon/lat must be numbers")
    return (float(lon), float(lat))

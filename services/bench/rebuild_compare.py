"""``appeals bench rebuild``: the metrics rebuild of one stored event log, by several versions.

    appeals bench rebuild --mongo-url URL --code before=/tmp/old --code after=. --rounds 2

A change meant to speed up the rebuild is judged on the same data in the same run: each round
runs ``appeals metrics rebuild`` once from every checkout given (``LABEL=DIR``, in turn, so a
drift of the machine falls on both), timed from the start of the process to its last line.
Between runs the generations the readers no longer use are dropped, untimed (SecantusDB takes
minutes to drop 150,000 facts), so every run writes into the same database state.

With ``--server-pid`` the database server's CPU seconds during each run are read from
``/proc`` as well: on two cores the rebuild is bounded by the server (a Python process), so
its CPU is the figure a change has to move.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from services.bench.scale import run_rebuild
from services.bench.stackctl import reference_city

__all__ = ["CompareOptions", "parse_code", "run_compare"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class CompareOptions:
    mongo_url: str
    database: str
    code: list[tuple[str, Path]]
    rounds: int = 2
    server_pid: int | None = None


def parse_code(value: str) -> tuple[str, Path]:
    """``LABEL=DIR`` -> (label, directory holding ``services/``); a clear error otherwise."""
    label, sep, where = value.partition("=")
    if not sep or not label or not where:
        raise ValueError(f"--code {value!r}: expected LABEL=DIR, e.g. before=/tmp/old-checkout")
    directory = Path(where).resolve()
    if not (directory / "services" / "metrics" / "entrypoints" / "cli.py").is_file():
        raise ValueError(f"--code {value!r}: {directory} is not a checkout of this project")
    return label, directory


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat, 12 and 13 after the ") " split.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drop_unused_generations(db: Any, say: Say) -> None:
    pointer = db.metrics_meta.find_one({"_id": "metrics_facts"})
    in_use = pointer["collection"] if pointer else "metrics_facts"
    for name in db.list_collection_names():
        if name.startswith("metrics_facts_") and name != in_use:
            started = time.monotonic()
            db[name].drop()
            say(f"  dropped {name} (untimed, {time.monotonic() - started:.0f} s)")


def _one_run(options: CompareOptions, label: str, directory: Path, say: Say) -> dict[str, Any]:
    server_before = _cpu_seconds(options.server_pid) if options.server_pid else None
    found = run_rebuild(
        options.mongo_url, options.database, reference_city(), say,
        label=label, code_dir=directory,
    )  # fmt: skip
    run = {"how": label, **found}
    if options.server_pid and server_before is not None:
        run["server_cpu_s"] = round(_cpu_seconds(options.server_pid) - server_before, 1)
    return run


def run_compare(options: CompareOptions, say: Say) -> dict[str, Any]:
    """Every checkout's rebuild, ``rounds`` times in turn; the result document."""
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": {label: str(directory) for label, directory in options.code},
        "rebuild_runs": [],
    }
    client: MongoClient[dict[str, Any]] = MongoClient(options.mongo_url, retryWrites=False)
    try:
        db = client[options.database]
        _drop_unused_generations(db, say)
        for round_no in range(1, options.rounds + 1):
            for label, directory in options.code:
                say(f"round {round_no}/{options.rounds}: {label} ({directory})")
                run = _one_run(options, label, directory, say)
                result["rebuild_runs"].append({**run, "round": round_no})
                # From the run, not a count: counting 1M documents takes SecantusDB ~40 s.
                result["events"] = run["events"]
                say(f"  {label}: {run['seconds']} s ({run['events_per_s']:.0f} events/s)")
                _drop_unused_generations(db, say)
    finally:
        client.close()
    return result

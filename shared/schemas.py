"""Export the JSON Schemas of every event and the routing decision (``make schemas``).

The exported files under ``shared/schemas/`` are checked in so other systems can validate what
they receive; a unit test fails when a model changes without re-exporting, which is the moment
to ask whether the change needs a new ``schema_version`` and an upcaster (shared/events.py).

Run: ``python -m shared.schemas`` (writes) or ``python -m shared.schemas --check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.events import DATA_MODELS, EventEnvelope, RoutingDecision

__all__ = ["SCHEMA_DIR", "render_schemas"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of every schema."""
    files: dict[str, Any] = {
        "envelope.json": EventEnvelope.model_json_schema(),
        "routing.decision.json": RoutingDecision.model_json_schema(),
    }
    for type_, model in DATA_MODELS.items():
        schema = model.model_json_schema()
        schema["x-event-type"] = type_
        schema["x-schema-version"] = model.SCHEMA_VERSION
        files[f"{type_}.v{model.SCHEMA_VERSION}.json"] = schema
    return {
        name: json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        for name, schema in files.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write the schemas, or with --check report files that are missing or stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a checked-in file differs")
    args = parser.parse_args(argv)
    rendered = render_schemas()
    stale = [
        name
        for name, text in rendered.items()
        if not (SCHEMA_DIR / name).is_file() or (SCHEMA_DIR / name).read_text() != text
    ]
    extra = sorted({p.name for p in SCHEMA_DIR.glob("*.json")} - set(rendered))
    if args.check:
        for name in stale:
            print(f"stale or missing: shared/schemas/{name}", file=sys.stderr)
        for name in extra:
            print(f"no longer produced: shared/schemas/{name}", file=sys.stderr)
        return 1 if stale or extra else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name in extra:
        (SCHEMA_DIR / name).unlink()
    for name, text in rendered.items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(rendered)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

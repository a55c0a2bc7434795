"""Settings of the routing service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings

__all__ = ["RoutingSettings"]


class RoutingSettings(CommonSettings):
    """Environment: APPEALS_ROUTING_PORT, APPEALS_ROUTING_THRESHOLD, ..."""

    routing_port: int = Field(default=8002, ge=1, le=65535)
    # Below this confidence the appeal goes to the district dispatch centre's triage queue.
    # Unset: the router's default for the evidence it has (0.55 on the words alone, 0.75 with
    # the second opinion; docs/routing.md step 5). A value set here applies to both.
    routing_threshold: float | None = Field(default=None, ge=0, le=1)
    # Labelled appeals (dev-appeals.jsonl format) to train on besides the catalog: files, or
    # folders whose *.jsonl files are all read, separated like PATH (a:b:c). A city keeps its
    # labelled history in parts; the router learns from all of them.
    routing_training_data: Annotated[tuple[Path, ...], NoDecode] = ()
    # Learn at start-up from the corrections stored in the appeals database (manual
    # dispatches, coordinators' reassignments), so the router improves in the city it serves.
    routing_learn_from_history: bool = False
    # With learn_from_history: how often the worker looks for new corrections and, when there
    # are, trains a new router in the background and swaps it in (0: at start-up only).
    routing_relearn_minutes: float = Field(default=30.0, ge=0)
    # A sentence encoder's second opinion for appeals the words alone are not sure of
    # (docs/routing.md, step 6): on the blind probes of session 10, coverage 0.65 -> 0.90 and
    # the widest coverage at precision >= 0.99 0.38 -> 0.875. It costs ~1 ms of CPU per
    # character of such an appeal (16 ms per appeal on dev), ~90 MB, ~6 s at the first start
    # (the catalog's texts are encoded once, then kept in routing_embedding_cache) and ~2.5 s
    # at every start (the linear read is fitted); the words alone decide until it is ready.
    routing_embeddings: bool = True
    # Default: <data_dir>/routing-embeddings.npz
    routing_embedding_cache: Path | None = None

    @field_validator("routing_training_data", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return tuple(Path(part) for part in str(value).split(os.pathsep) if part.strip())
        return value

    @property
    def embedding_cache_path(self) -> Path:
        """Where the training texts' vectors are kept (worker and CLI alike)."""
        return self.routing_embedding_cache or self.data_dir / "routing-embeddings.npz"

    data_dir: Path = Path(".appeals")

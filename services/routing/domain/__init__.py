"""Routing domain (派单): placing, classifying and assigning appeals; pure, no broker or DB.

Public interface: ``Router`` with ``RouteRequest`` -> ``RouteOutcome``; ``LabelledAppeal`` for
training; ``check_catalog_change`` and ``compare_catalogs`` for catalog owners.
"""

from .catalog_change import check_catalog_change
from .replay import ReplayReport, compare_catalogs
from .router import (
    DEFAULT_THRESHOLD,
    LabelledAppeal,
    RouteOutcome,
    Router,
    RouteRequest,
    RouterModelError,
    default_threshold,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "LabelledAppeal",
    "ReplayReport",
    "RouteOutcome",
    "RouteRequest",
    "Router",
    "RouterModelError",
    "check_catalog_change",
    "compare_catalogs",
    "default_threshold",
]

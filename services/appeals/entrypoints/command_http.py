"""What staff commands over HTTP have in common: the If-Match header and the error answers.

Shared by the generic command routes (staff_api.py) and the merge route (queues_api.py), so
every command answers the same refusal with the same status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

from services.appeals.domain.lifecycle import CommandRefused
from services.appeals.service_layer.commands import AppealNotFound, StaleVersion

__all__ = ["command_errors", "expected_version"]


def expected_version(if_match: str | None) -> int | None:
    """The appeal version an If-Match header names (``"7"``, ``W/"7"``, ``7``), or None."""
    if if_match is None:
        return None
    value = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not value.isdigit():
        raise HTTPException(
            400, detail=f"If-Match must be the appeal's version number, got {if_match!r}"
        )
    return int(value)


@contextmanager
def command_errors(appeal_id: str) -> Iterator[None]:
    """Turn the service layer's refusals into HTTP answers: 404, 409 or the rule's status.

    An unknown appeal and one outside the caller's scope answer alike where the lifecycle
    says so (CommandRefused carries its own status and a reason that names no state).
    """
    try:
        yield
    except AppealNotFound:
        raise HTTPException(404, detail=f"no appeal {appeal_id}") from None
    except StaleVersion as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except CommandRefused as exc:
        raise HTTPException(exc.status, detail=exc.reason) from None

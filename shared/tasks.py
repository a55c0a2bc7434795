"""Background asyncio tasks: stopping one the same way everywhere."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has stopped; its cancellation is not raised.

    Waiting matters: a loop's ``finally`` (closing a client, committing an offset) must have
    run before the caller closes what the loop used.
    """
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

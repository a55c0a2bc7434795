"""``GET /api/v1/stream?recipient=unit:<code>``: a recipient's inbox as server-sent events.

Each notice is one SSE event::

    id: <created_at in epoch milliseconds>
    event: notice
    data: {"key", "recipient", "appeal_id", "event_id", "event_type", "topic", "title",
           "text", "link", "language", "created_at"}

A client that reconnects sends ``Last-Event-ID`` (browsers do) and gets what was written since,
and possibly a few notices it already has: a notice's ``key`` is unique, so the UI drops
repeats. Without ``Last-Event-ID`` the stream starts now (the UI reads the backlog from the
``inbox`` collection). A connection lasts at most ``MAX_SECONDS``; the browser reconnects.
When ``APPEALS_STREAM_TOKEN`` is set the request must carry it (``Authorization: Bearer`` or
``?token=``). Notices carry no personal data.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from aiohttp import web as aioweb

from services.notify.config import NotifySettings
from services.notify.domain.recipients import Recipient

__all__ = ["add_stream_page", "sse_event"]

MAX_SECONDS = 300.0
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
# Notices written by another worker may land with a slightly older created_at than one
# already streamed; looking back this far catches them (and the sent-set drops repeats).
LOOKBACK = timedelta(seconds=2)


def sse_event(doc: dict[str, Any]) -> bytes:
    """One inbox document as an SSE event."""
    created: datetime = doc["created_at"]
    data = {
        "key": doc["_id"],
        "recipient": doc["recipient"],
        "appeal_id": doc["appeal_id"],
        "event_id": doc["event_id"],
        "event_type": doc["event_type"],
        "topic": doc["topic"],
        "title": doc["title"],
        "text": doc["text"],
        "link": doc.get("link"),
        "language": doc.get("language"),
        "created_at": created.isoformat(),
    }
    event_id = int(created.timestamp() * 1000)
    return b"id: %d\nevent: notice\ndata: %s\n\n" % (event_id, orjson.dumps(data))


def _authorised(settings: NotifySettings, request: Any) -> bool:
    if settings.stream_token is None:
        return True
    expected = settings.stream_token.get_secret_value()
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or request.query.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def _start(last_event_id: str | None) -> datetime:
    if last_event_id and last_event_id.isdigit():
        return datetime.fromtimestamp(int(last_event_id) / 1000, UTC)
    return datetime.now(UTC)


def add_stream_page(
    app: faust.App, settings: NotifySettings, wiring: Callable[[], Awaitable[Any]]
) -> None:
    """Register the stream page on the worker's web server."""

    @app.page("/api/v1/stream")
    async def stream(view: Any, request: Any) -> Any:
        raw = request.query.get("recipient", "")
        try:
            recipient = Recipient.parse(raw)
        except ValueError:
            return view.json(
                {"detail": "recipient must be unit:<code> or resident:<appeal id>"}, status=400
            )
        if recipient.kind == "subscriber":
            return view.json({"detail": "subscribers are reached by webhook"}, status=400)
        if not _authorised(settings, request):
            return view.json({"detail": "missing or wrong stream token"}, status=401)
        wired = await wiring()
        cursor = _start(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))
        response = aioweb.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        ends = loop.time() + MAX_SECONDS
        quiet_since = loop.time()
        sent: dict[str, datetime] = {}
        try:
            await response.write(b"retry: 3000\n: connected\n\n")
            while loop.time() < ends:
                docs = await wired.feed.after(recipient.address, cursor - LOOKBACK)
                for doc in docs:
                    if doc["_id"] in sent:
                        continue
                    await response.write(sse_event(doc))
                    sent[doc["_id"]] = doc["created_at"]
                    cursor = max(cursor, doc["created_at"])
                    quiet_since = loop.time()
                horizon = cursor - LOOKBACK
                sent = {key: at for key, at in sent.items() if at >= horizon}
                if len(docs) >= 100:
                    continue  # a backlog: read on without waiting
                if loop.time() - quiet_since > KEEPALIVE_SECONDS:
                    await response.write(b": keepalive\n\n")
                    quiet_since = loop.time()
                await wired.wakeup.wait(POLL_SECONDS)
        except ConnectionResetError:  # the client went away
            pass
        return response

"""An empty FastAPI app: the HTTP baseline the intake endpoint is compared with.

Run by the benchmark: ``python -m uvicorn services.bench.noop_app:app --port P``. It parses
the same JSON bodies intake gets and answers at once, so the figure is the cost of uvicorn,
FastAPI and the client on this machine, with no database and no broker.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["app"]

app = FastAPI(title="bench no-op")


@app.post("/noop", status_code=201)
async def noop(body: dict[str, Any]) -> dict[str, bool]:
    """Accept anything; store nothing."""
    return {"ok": True}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Up."""
    return {"status": "ok"}

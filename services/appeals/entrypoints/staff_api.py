"""Staff commands on an appeal over HTTP: sign, respond, return, extend, resolve, review ...

Every command is ``POST /api/v1/appeals/{id}/<command>`` with a small JSON body. The caller is
the logged-in staff member (bearer token or session cookie); the lifecycle decides whether
their role, unit and the appeal's state allow it. Send ``If-Match: <version>`` (the version you
were shown) to be refused with 409 if someone else acted first — two staff clicking at once
cannot both win. Refusals carry the reason: 403 (role or scope), 409 (state or stale version),
422 (the command itself is invalid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from services.appeals.bootstrap import AppealsContext
from services.appeals.domain import lifecycle as lc
from services.appeals.entrypoints.auth import CurrentStaff
from services.appeals.entrypoints.command_http import command_errors, expected_version
from services.appeals.service_layer.commands import execute

__all__ = ["staff_router"]

staff_router = APIRouter(prefix="/api/v1/appeals", tags=["staff commands"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Empty(_Body):
    """No parameters."""


class RespondBody(_Body):
    message: str = Field(default="", max_length=2000)


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class OptionalReasonBody(_Body):
    reason: str = Field(default="", max_length=2000)


class ExtensionRequestBody(_Body):
    reason: str = Field(min_length=1, max_length=2000)
    workdays: int = Field(ge=1, le=30)


class ExtensionApproveBody(_Body):
    workdays: int | None = Field(default=None, ge=1, le=30)


class ResolveBody(_Body):
    result: str = Field(min_length=1, max_length=4000)
    solved: bool = True


class ReviewBody(_Body):
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    solved: bool
    comment: str = Field(default="", max_length=2000)


class AssignBody(_Body):
    unit: str = Field(min_length=1, max_length=64)
    co_handlers: list[str] = Field(default_factory=list, max_length=20)
    matter: str | None = Field(default=None, max_length=64)


class DispatchBody(AssignBody):
    matter: str = Field(min_length=1, max_length=64)
    community: str | None = Field(default=None, max_length=64)


class SuperviseBody(_Body):
    level: Literal["street", "district"]
    note: str = Field(min_length=1, max_length=2000)


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=2000)
    internal: bool = True


class AckBody(_Body):
    note: str = Field(default="", max_length=2000)


class MergeBody(_Body):
    master_id: str = Field(min_length=1, max_length=64)


# path -> (body model, body -> command)
COMMANDS: dict[str, tuple[type[_Body], Callable[[Any], lc.Command]]] = {
    "sign": (Empty, lambda b: lc.Sign()),
    "respond": (RespondBody, lambda b: lc.Respond(message=b.message)),
    "return": (ReasonBody, lambda b: lc.Return(reason=b.reason)),
    "extension-request": (
        ExtensionRequestBody,
        lambda b: lc.RequestExtension(reason=b.reason, workdays=b.workdays),
    ),
    "extension-approve": (ExtensionApproveBody, lambda b: lc.ApproveExtension(workdays=b.workdays)),
    "extension-reject": (ReasonBody, lambda b: lc.RejectExtension(reason=b.reason)),
    "pause": (ReasonBody, lambda b: lc.Pause(reason=b.reason)),
    "resume": (Empty, lambda b: lc.Resume()),
    "resolve": (ResolveBody, lambda b: lc.Resolve(result=b.result, solved=b.solved)),
    "review": (
        ReviewBody,
        lambda b: lc.Review(satisfaction=b.satisfaction, solved=b.solved, comment=b.comment),
    ),
    "reopen": (OptionalReasonBody, lambda b: lc.Reopen(reason=b.reason)),
    "close": (OptionalReasonBody, lambda b: lc.Close(reason=b.reason)),
    "reassign": (
        AssignBody,
        lambda b: lc.Reassign(unit=b.unit, co_handlers=tuple(b.co_handlers), matter=b.matter),
    ),
    "dispatch": (
        DispatchBody,
        lambda b: lc.Dispatch(
            unit=b.unit, matter=b.matter, co_handlers=tuple(b.co_handlers), community=b.community
        ),
    ),
    "supervise": (SuperviseBody, lambda b: lc.Supervise(level=b.level, note=b.note)),
    "supervision-ack": (AckBody, lambda b: lc.AcknowledgeSupervision(note=b.note)),
    "notes": (NoteBody, lambda b: lc.AddNote(text=b.text, internal=b.internal)),
    "merge": (MergeBody, lambda b: lc.Merge(master_id=b.master_id)),
}


class CommandDone(BaseModel):
    """The appeal after the command."""

    id: str
    state: str
    version: int
    events: list[str]


def _register(path: str, body_model: type[_Body], build: Callable[[Any], lc.Command]) -> None:
    async def run_command(
        appeal_id: str,
        body: body_model,  # type: ignore[valid-type]
        staff: CurrentStaff,
        request: Request,
        if_match: Annotated[str | None, Header()] = None,
    ) -> CommandDone:
        context: AppealsContext = request.app.state.context
        with command_errors(appeal_id):
            result = await execute(
                appeal_id,
                build(body),
                staff,
                store=context.store,
                city=context.city,
                calendar=context.calendar,
                expected_version=expected_version(if_match),
            )
        if result.events:
            context.relay.wake()
        return CommandDone(
            id=appeal_id,
            state=result.appeal.state,
            version=result.appeal.version,
            events=[e.type for e in result.events],
        )

    # With postponed annotations the body's annotation is the string "body_model", which
    # FastAPI cannot resolve from module globals (it would read the body as a query
    # parameter); give it the class itself.
    run_command.__annotations__["body"] = body_model
    run_command.__name__ = f"appeal_{path.replace('-', '_')}"
    run_command.__doc__ = f"Staff command '{path}' on one appeal (rules: domain/lifecycle.py)."
    staff_router.add_api_route(
        f"/{{appeal_id}}/{path}",
        run_command,
        methods=["POST"],
        response_model=CommandDone,
        summary=path.replace("-", " "),
        responses={
            403: {"description": "role or scope does not allow it"},
            404: {"description": "no such appeal"},
            409: {"description": "the appeal's state does not allow it, or a stale version"},
        },
    )


for _path, (_model, _build) in COMMANDS.items():
    _register(_path, _model, _build)

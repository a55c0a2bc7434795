"""Every row of the lifecycle table, both ways: each allowed move and each refusal it implies.

The cases are generated from ``TRANSITIONS``, so a row added to the table is tested here
without a new test: allowed (state x role) pairs must yield the row's events, other roles
get 403, a post outside the role's scope gets 403, and every state outside the row gets 409.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from appeals_world import (
    CALENDAR,
    CITY,
    Story,
    any_of,
    command_for,
    in_scope,
    out_of_scope,
    prepare,
    story_in,
)

from services.appeals.domain.appeal import evolve
from services.appeals.domain.lifecycle import (
    ROLES,
    STATES,
    TRANSITIONS,
    ApplyRoutingDecision,
    Close,
    Command,
    CommandRefused,
    Dispatch,
    Merge,
    Reassign,
    RecordOverdue,
    Reopen,
    Resolve,
    Respond,
    Return,
    Review,
    Role,
    Scope,
    Sign,
    State,
    decide,
)

# Where each state-changing command leaves the appeal; every other command keeps the state.
LEADS_TO: dict[type[Command], State] = {
    ApplyRoutingDecision: "dispatched",
    Dispatch: "dispatched",
    Sign: "signed",
    Respond: "responded",
    Return: "returned",
    Reassign: "dispatched",
    Resolve: "resolved",
    Review: "reviewed",
    Reopen: "dispatched",
    Close: "closed",
    Merge: "merged",
}


def _name(kind: type[Command]) -> str:
    return kind.__name__


ALLOWED = [
    pytest.param(kind, state, role, id=f"{_name(kind)}-{state}-{role}")
    for kind, row in TRANSITIONS.items()
    for state in STATES
    if state in row.from_states
    for role in row.roles
]
ROW_STATES = [
    pytest.param(kind, state, id=f"{_name(kind)}-{state}")
    for kind, row in TRANSITIONS.items()
    for state in STATES
    if state in row.from_states
]
WRONG_ROLE = [
    pytest.param(kind, role, id=f"{_name(kind)}-{role}")
    for kind, row in TRANSITIONS.items()
    for role in ROLES
    if role not in row.roles
]
WRONG_SCOPE = [
    pytest.param(kind, state, role, scope, id=f"{_name(kind)}-{state}-{role}")
    for kind, row in TRANSITIONS.items()
    for state in STATES
    if state in row.from_states
    for role, scope in row.roles.items()
    if scope is not Scope.ANY
]
WRONG_STATE = [
    pytest.param(kind, state, role, id=f"{_name(kind)}-{state}-{role}")
    for kind, row in TRANSITIONS.items()
    for state in STATES
    if state not in row.from_states
    for role in row.roles
]


def _story(kind: type[Command], state: State) -> Story:
    return prepare(kind, story_in(state))


def _when(story: Story, kind: type[Command]) -> datetime:
    # The sweeper's check needs a moment after the deadlines to have anything to record.
    return story.now + (timedelta(days=60) if kind is RecordOverdue else timedelta(minutes=1))


def test_the_cases_cover_the_table() -> None:
    assert len(TRANSITIONS) == 20
    assert len(ALLOWED) > 60 and len(WRONG_ROLE) > 100
    assert len(WRONG_SCOPE) > 40 and len(WRONG_STATE) > 100


@pytest.mark.parametrize(("kind", "state", "role"), ALLOWED)
def test_allowed_transition(kind: type[Command], state: State, role: Role) -> None:
    story = _story(kind, state)
    actor = in_scope(role, story.appeal)
    command = command_for(kind, role)
    now = _when(story, kind)
    if actor is None:
        # No post can cover this appeal for this role (e.g. a unit's staff on an appeal with
        # no lead unit): refused on scope, never on role or state.
        with pytest.raises(CommandRefused) as refused:
            decide(story.appeal, command, any_of(role), now, city=CITY, calendar=CALENDAR)
        assert refused.value.status == 403, refused.value.reason
        return
    produced = decide(story.appeal, command, actor, now, city=CITY, calendar=CALENDAR)
    assert produced, f"{kind.__name__} by {role} in {state} produced nothing"
    row = TRANSITIONS[kind]
    appeal = story.appeal
    for event in produced:
        assert event.type in row.events
        assert event.appeal_id == appeal.id
        assert event.actor.id == actor.id
        assert event.occurred_at == now
        event.payload()  # the data validates against its model
        appeal = evolve(appeal, event)
    assert appeal.version == story.appeal.version + len(produced)
    assert appeal.state == LEADS_TO.get(kind, state)


@pytest.mark.parametrize(("kind", "state"), ROW_STATES)
def test_every_allowed_state_has_a_role_that_succeeds(kind: type[Command], state: State) -> None:
    story = _story(kind, state)
    successes = []
    for role in TRANSITIONS[kind].roles:
        actor = in_scope(role, story.appeal)
        if actor is None:
            continue
        command = command_for(kind, role)
        successes.append(
            decide(story.appeal, command, actor, _when(story, kind), city=CITY, calendar=CALENDAR)
        )
    assert successes and all(successes)


@pytest.mark.parametrize(("kind", "role"), WRONG_ROLE)
def test_role_not_in_the_table_is_forbidden(kind: type[Command], role: Role) -> None:
    row = TRANSITIONS[kind]
    state = next(s for s in STATES if s in row.from_states)
    story = _story(kind, state)
    with pytest.raises(CommandRefused) as refused:
        decide(
            story.appeal,
            command_for(kind, role),
            any_of(role),
            _when(story, kind),
            city=CITY,
            calendar=CALENDAR,
        )
    assert refused.value.status == 403
    assert f"role {role} may not {kind.name}" in refused.value.reason


@pytest.mark.parametrize(("kind", "state", "role", "scope"), WRONG_SCOPE)
def test_post_outside_the_scope_is_forbidden(
    kind: type[Command], state: State, role: Role, scope: Scope
) -> None:
    story = _story(kind, state)
    with pytest.raises(CommandRefused) as refused:
        decide(
            story.appeal,
            command_for(kind, role),
            out_of_scope(role, scope),
            _when(story, kind),
            city=CITY,
            calendar=CALENDAR,
        )
    assert refused.value.status == 403
    assert "may not act on" in refused.value.reason


@pytest.mark.parametrize(("kind", "state", "role"), WRONG_STATE)
def test_state_outside_the_row_conflicts(kind: type[Command], state: State, role: Role) -> None:
    story = story_in(state)
    actor = in_scope(role, story.appeal)
    with pytest.raises(CommandRefused) as refused:
        decide(
            story.appeal,
            command_for(kind, role),
            actor or any_of(role),
            _when(story, kind),
            city=CITY,
            calendar=CALENDAR,
        )
    if actor is None and TRANSITIONS[kind].roles[role] is not Scope.ANY:
        # not placed in this state, so no post covers it: refused without naming the state
        assert refused.value.status == 403
        assert state not in refused.value.reason
        return
    assert refused.value.status == 409
    assert refused.value.reason.startswith(f"appeal A1 is {state}; {kind.name} needs ")

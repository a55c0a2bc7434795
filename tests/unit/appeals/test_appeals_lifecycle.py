"""The lifecycle's stories: returns and triage, reopening, pauses, extensions, supervision,
the sweeper's overdue records, notes, routing decisions, and rebuilding from the event log.

Times are Shanghai wall-clock times; the world's appeal is dispatched on Monday 2025-11-03 at
09:01, so its normal-urgency deadlines are: sign 11:01 Monday, respond 15:01 Wednesday
(1440 working minutes), resolve 17:30 Monday 2025-11-10 (5th working day after).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from appeals_world import (
    CALENDAR,
    CITY,
    CO_HANDLER,
    COORDINATOR,
    DISPATCHER,
    LEAD,
    LEAD_STAFF,
    OPERATOR,
    OTHER_UNIT,
    RESIDENT,
    ROUTER,
    SWEEPER,
    Story,
    decision,
    local,
    received,
    story_in,
)

from services.appeals.domain.appeal import evolve, rebuild
from services.appeals.domain.lifecycle import (
    MAX_NOTE_LENGTH,
    AcknowledgeSupervision,
    AddNote,
    ApplyRoutingDecision,
    ApproveExtension,
    Close,
    Command,
    CommandRefused,
    Dispatch,
    Merge,
    Pause,
    Reassign,
    RecordOverdue,
    RejectExtension,
    Reopen,
    RequestExtension,
    Resolve,
    Respond,
    Resume,
    Return,
    Review,
    Sign,
    Staff,
    Supervise,
    decide,
)
from services.appeals.domain.sla import Deadlines, deadlines_for
from shared.events import AppealOverdue, decode_event, encode

RM_STAFF = Staff("u-rm", "unit_staff", unit=OTHER_UNIT, street="JA-JAS", district="JA")
CM_STAFF = Staff("u-cm", "unit_staff", unit=CO_HANDLER, street="JA-JAS", district="JA")
OPS_STAFF = Staff("u-ops", "unit_staff", unit="JA-JAS-OPS", street="JA-JAS", district="JA")

ORIGINAL = Deadlines(
    sign_by=local(2025, 11, 3, 11, 1),
    respond_by=local(2025, 11, 5, 15, 1),
    resolve_by=local(2025, 11, 10, 17, 30),
)


def refused(story: Story, command: Command, actor: Staff, status: int) -> str:
    """The reason of a refusal with ``status``; the appeal must be left untouched."""
    before = story.appeal
    with pytest.raises(CommandRefused) as caught:
        story.do(command, actor)
    assert caught.value.status == status, caught.value.reason
    assert story.appeal == before
    return caught.value.reason


# ---------------------------------------------------------------------------- routing


def test_router_dispatch_places_the_appeal_and_starts_the_clock() -> None:
    story = story_in("dispatched")
    appeal = story.appeal
    assert (appeal.state, appeal.lead_unit, appeal.co_handlers) == (
        "dispatched",
        LEAD,
        (CO_HANDLER,),
    )
    assert (appeal.district, appeal.street, appeal.community) == ("JA", "JA-JAS", "JA-JAS-C01")
    assert (appeal.matter, appeal.urgency) == ("noise.construction_night", "normal")
    assert appeal.deadlines == ORIGINAL
    assert appeal.dispatched_at == local(2025, 11, 3, 9, 1)
    event = story.events[-1]
    assert (event.unit, event.street, event.data["by"]) == (LEAD, "JA-JAS", "router")


def test_router_triage_and_transfer() -> None:
    triaged = story_in("triage").appeal
    assert (triaged.state, triaged.dispatch_center, triaged.district) == ("triage", "JA-DC", "JA")
    assert triaged.lead_unit is None and triaged.deadlines is None
    transferred = story_in("transferred").appeal
    assert (transferred.state, transferred.transferred_to) == ("transferred", "119")
    assert not transferred.is_open


def test_a_routing_decision_delivered_twice_changes_nothing() -> None:
    story = story_in("dispatched")
    assert story.do(ApplyRoutingDecision(decision()), ROUTER) == []
    assert story.appeal.version == 2


def test_a_decision_for_another_appeal_is_invalid() -> None:
    story = received()
    other = decision().model_copy(update={"appeal_id": "A2"})
    assert "is for appeal A2" in refused(story, ApplyRoutingDecision(other), ROUTER, 422)


def test_an_urgent_dispatch_counts_sign_and_respond_around_the_clock() -> None:
    story = received(at=local(2025, 11, 8, 2, 0))  # a Saturday night
    story.do(ApplyRoutingDecision(decision(urgency="urgent")), ROUTER)
    deadlines = story.appeal.deadlines
    assert deadlines is not None
    assert deadlines.sign_by == local(2025, 11, 8, 2, 31)
    assert deadlines.respond_by == local(2025, 11, 8, 4, 1)
    assert deadlines.resolve_by == local(2025, 11, 10, 17, 30)


# ---------------------------------------------------------------------------- returns


def test_first_return_goes_to_the_street_coordinator_and_the_second_to_the_district() -> None:
    story = story_in("signed")
    first = story.do(Return("噪声来自工地，属建管"), LEAD_STAFF)
    assert [e.type for e in first] == ["appeal.returned"]
    assert first[0].unit == LEAD and first[0].data["return_count"] == 1
    appeal = story.appeal
    assert (appeal.state, appeal.return_count, appeal.returned_by) == ("returned", 1, (LEAD,))
    assert appeal.lead_unit is None and appeal.deadlines is None
    assert "may not act on this appeal" in refused(story, AddNote("补充"), LEAD_STAFF, 403)

    story.do(Reassign(unit=OTHER_UNIT), COORDINATOR)
    assert (story.appeal.state, story.appeal.lead_unit) == ("dispatched", OTHER_UNIT)
    assert story.events[-1].data["by"] == "coordinator"
    story.do(Sign(), RM_STAFF)
    second = story.do(Return("也不是道路问题"), RM_STAFF)

    assert [e.type for e in second] == ["appeal.returned", "appeal.triaged"]
    assert "returned 2 times" in second[1].data["reasons"][0]
    appeal = story.appeal
    assert (appeal.state, appeal.dispatch_center, appeal.return_count) == ("triage", "JA-DC", 2)
    assert appeal.returned_by == (LEAD, OTHER_UNIT)
    assert "is triage" in refused(story, Reassign(unit=LEAD), COORDINATOR, 409)

    story.do(Dispatch(unit=CO_HANDLER, matter="advice.greening"), DISPATCHER)
    assert (story.appeal.lead_unit, story.appeal.urgency) == (CO_HANDLER, "advice")
    assert story.events[-1].data["by"] == "dispatcher"
    story.do(Sign(), CM_STAFF)
    reason = refused(story, Return("还是不归我们"), CM_STAFF, 409)
    assert "returned 2 times" in reason and "stands" in reason


def test_a_return_by_the_coordinating_unit_itself_goes_straight_to_the_district() -> None:
    story = received()
    story.do(ApplyRoutingDecision(decision(unit="JA-JAS-OPS")), ROUTER)
    story.do(Sign(), OPS_STAFF)
    produced = story.do(Return("应由区级部门处理"), OPS_STAFF)
    assert [e.type for e in produced] == ["appeal.returned", "appeal.triaged"]
    assert (story.appeal.state, story.appeal.return_count) == ("triage", 1)


def test_a_return_needs_a_reason() -> None:
    assert "must not be empty" in refused(story_in("signed"), Return("  "), LEAD_STAFF, 422)


def test_the_coordinator_reassigns_only_within_its_street() -> None:
    story = story_in("returned")
    assert "JA-NJX-RM is not one" in refused(story, Reassign(unit="JA-NJX-RM"), COORDINATOR, 403)
    assert "does not exist" in refused(story, Reassign(unit="JA-JAS-XX"), COORDINATOR, 422)
    story.do(Reassign(unit=LEAD), COORDINATOR)  # its decision stands, even the same unit again
    assert "already led by" in refused(story, Reassign(unit=LEAD), COORDINATOR, 422)


def test_the_dispatcher_dispatches_only_within_its_district() -> None:
    story = story_in("triage")
    reason = refused(story, Dispatch(unit="PT-X-UE", matter="advice.greening"), DISPATCHER, 403)
    assert "district PT" in reason
    out = Dispatch(unit=LEAD, matter="emergency.fire")
    assert "transfer the caller to 119" in refused(story, out, DISPATCHER, 422)
    unknown = Dispatch(unit=LEAD, matter="no.such")
    assert "not in the catalog" in refused(story, unknown, DISPATCHER, 422)


def test_a_unit_staff_member_of_another_unit_learns_nothing_about_the_appeal() -> None:
    reason = refused(story_in("dispatched"), Sign(), RM_STAFF, 403)
    assert reason == "unit_staff of JA-JAS-RM may not act on this appeal"
    # not even its state: a command its state would refuse is refused for scope first
    assert "may not act" in refused(story_in("signed"), Sign(), RM_STAFF, 403)


def test_a_wrong_state_names_what_the_command_needs() -> None:
    reason = refused(story_in("resolved"), Sign(), LEAD_STAFF, 409)
    assert reason == "appeal A1 is resolved; sign needs dispatched"


# ---------------------------------------------------------------------------- reopening


def test_an_unsatisfied_review_reopens_with_the_same_unit_and_counts_it() -> None:
    story = story_in("reviewed")
    produced = story.do(Reopen("还在夜间施工"), OPERATOR, at=local(2025, 11, 12, 10, 0))
    assert produced[0].unit == LEAD
    appeal = story.appeal
    assert (appeal.state, appeal.lead_unit, appeal.reopen_count) == ("dispatched", LEAD, 1)
    assert appeal.signed_at is None and appeal.satisfaction is None
    limits = CITY.catalog.limits("normal")
    assert appeal.deadlines == deadlines_for(story.now, limits, CALENDAR, urgency="normal")

    for command in (Sign(), Respond("再次联系"), Resolve("已查处")):
        story.do(command, LEAD_STAFF)
    story.do(Review("unsatisfied", solved=False), RESIDENT)
    story.do(Reopen(), OPERATOR)
    assert story.appeal.reopen_count == 2


def test_a_satisfied_review_cannot_be_reopened() -> None:
    story = story_in("resolved")
    story.do(Review("satisfied", solved=True), RESIDENT)
    assert "only an unsatisfied" in refused(story, Reopen(), OPERATOR, 409)
    story.do(Close(), OPERATOR)
    assert story.appeal.state == "closed" and story.appeal.closed_at == story.now


def test_a_review_with_an_unknown_satisfaction_is_invalid() -> None:
    review = Review("meh", solved=True)  # type: ignore[arg-type]
    assert "satisfaction is one of" in refused(story_in("resolved"), review, RESIDENT, 422)


# ---------------------------------------------------------------------------- pause


def test_a_pause_stops_the_clock_and_resuming_moves_the_deadlines() -> None:
    story = story_in("signed")
    story.do(Pause("居民出差，约定周三入户"), LEAD_STAFF, at=local(2025, 11, 4, 10, 0))
    assert story.appeal.paused_since == local(2025, 11, 4, 10, 0)
    assert story.appeal.pause_reason == "居民出差，约定周三入户"
    assert "paused since" in refused(story, Respond(), LEAD_STAFF, 409)
    assert "paused since" in refused(story, Pause("again"), LEAD_STAFF, 409)
    late = local(2025, 12, 31, 10, 0)
    assert decide(story.appeal, RecordOverdue(), SWEEPER, late, city=CITY, calendar=CALENDAR) == []

    resumed = story.do(Resume(), LEAD_STAFF, at=local(2025, 11, 5, 10, 0))
    assert resumed[0].data["paused_working_minutes"] == 540
    appeal = story.appeal
    assert appeal.paused_since is None and appeal.pause_count == 1
    assert appeal.paused_total == timedelta(hours=24)
    assert appeal.deadlines == Deadlines(
        sign_by=ORIGINAL.sign_by,  # already behind when the pause began
        respond_by=local(2025, 11, 6, 15, 1),
        resolve_by=local(2025, 11, 11, 17, 30),
    )
    assert "is not paused" in refused(story, Resume(), LEAD_STAFF, 409)


# ---------------------------------------------------------------------------- extension


def test_an_approved_extension_moves_the_resolve_deadline() -> None:
    story = story_in("responded")
    story.do(RequestExtension("需协调施工单位", 3), LEAD_STAFF)
    pending = story.appeal.extension_pending
    assert pending is not None and (pending.workdays, pending.requested_by) == (3, LEAD)
    assert story.appeal.state == "responded"  # still working while it waits
    assert "already has" in refused(story, RequestExtension("再延", 2), LEAD_STAFF, 409)

    story.do(ApproveExtension(), COORDINATOR)
    appeal = story.appeal
    assert appeal.deadlines == ORIGINAL.model_copy(
        update={"resolve_by": local(2025, 11, 13, 17, 30)}
    )
    assert (appeal.extension_pending, appeal.extension_count, appeal.extended_workdays) == (
        None,
        1,
        3,
    )
    assert story.events[-1].data["approved_by"] == "JA-JAS-OPS"
    assert "no extension request" in refused(story, ApproveExtension(), COORDINATOR, 409)


def test_an_approver_may_grant_fewer_days_or_reject() -> None:
    story = story_in("signed")
    story.do(RequestExtension("需协调", 5), LEAD_STAFF)
    story.do(ApproveExtension(workdays=1), DISPATCHER)
    deadlines = story.appeal.deadlines
    assert deadlines is not None and deadlines.resolve_by == local(2025, 11, 11, 17, 30)
    story.do(RequestExtension("还需协调", 2), LEAD_STAFF)
    assert "must not be empty" in refused(story, RejectExtension(""), COORDINATOR, 422)
    story.do(RejectExtension("理由不充分"), COORDINATOR)
    assert story.appeal.extension_pending is None
    assert story.appeal.deadlines == deadlines


@pytest.mark.parametrize("workdays", [0, 31])
def test_an_extension_is_one_to_thirty_working_days(workdays: int) -> None:
    request = RequestExtension("需协调", workdays)
    assert "1 to 30 working days" in refused(story_in("signed"), request, LEAD_STAFF, 422)


def test_the_coordinating_unit_may_not_extend_its_own_appeal() -> None:
    story = received()
    story.do(ApplyRoutingDecision(decision(unit="JA-JAS-OPS")), ROUTER)
    story.do(Sign(), OPS_STAFF)
    story.do(RequestExtension("多部门协调", 3), OPS_STAFF)
    assert "the district decides" in refused(story, ApproveExtension(), COORDINATOR, 403)
    story.do(ApproveExtension(), DISPATCHER)
    assert story.appeal.extension_count == 1


# ---------------------------------------------------------------------------- supervision


def test_supervision_waits_for_the_units_acknowledgement() -> None:
    story = story_in("signed")
    wrong_level = Supervise(level="district", note="加快")
    assert "street level" in refused(story, wrong_level, COORDINATOR, 403)
    story.do(Supervise(level="street", note="请今日内联系居民"), COORDINATOR)
    story.do(Supervise(level="district", note="区督办"), DISPATCHER)
    pending = story.appeal.supervision_pending
    assert [(s.level, s.by) for s in pending] == [("street", "JA-JAS-OPS"), ("district", "JA-DC")]
    story.do(AcknowledgeSupervision("已安排"), LEAD_STAFF)
    assert story.appeal.supervision_pending == () and story.appeal.supervision_count == 2
    assert "no supervision note" in refused(story, AcknowledgeSupervision(), LEAD_STAFF, 409)


# ---------------------------------------------------------------------------- overdue


def test_the_sweeper_records_each_missed_deadline_once() -> None:
    story = story_in("dispatched")
    first = story.do(RecordOverdue(), SWEEPER, at=local(2025, 11, 3, 11, 2))
    assert [(e.type, e.data["deadline"], e.unit) for e in first] == [
        ("appeal.overdue", "sign", LEAD)
    ]
    assert AppealOverdue.model_validate(first[0].data).due_at == ORIGINAL.sign_by
    assert story.do(RecordOverdue(), SWEEPER, at=local(2025, 11, 3, 11, 30)) == []
    story.do(Sign(), LEAD_STAFF)
    story.do(Respond("已联系"), LEAD_STAFF)  # in time: never reported
    late = story.do(RecordOverdue(), SWEEPER, at=local(2025, 11, 20, 9, 0))
    assert [e.data["deadline"] for e in late] == ["resolve"]
    assert story.appeal.overdue_flags == {"sign", "resolve"}
    assert story.do(RecordOverdue(), SWEEPER) == []


# ---------------------------------------------------------------------------- notes and merging


def test_notes_are_kept_in_order_and_co_handlers_may_write() -> None:
    story = story_in("signed")
    story.do(AddNote("现场核实，确有夜间施工"), LEAD_STAFF)
    story.do(AddNote("我办已配合调查", internal=True), CM_STAFF)
    story.do(AddNote("您好，我们已安排执法队员今晚检查", internal=False), LEAD_STAFF)
    assert [(n.unit, n.internal) for n in story.appeal.notes] == [
        (LEAD, True),
        (CO_HANDLER, True),
        (LEAD, False),
    ]
    assert "may not act on" in refused(story, AddNote("x"), RM_STAFF, 403)
    assert "must not be empty" in refused(story, AddNote(" "), LEAD_STAFF, 422)
    too_long = AddNote("长" * (MAX_NOTE_LENGTH + 1))
    assert "at most" in refused(story, too_long, LEAD_STAFF, 422)


def test_a_duplicate_is_merged_into_its_master() -> None:
    story = received()
    assert "into itself" in refused(story, Merge("A1"), OPERATOR, 422)
    story.do(Merge("A0"), OPERATOR)
    assert (story.appeal.state, story.appeal.master_id) == ("merged", "A0")


# ---------------------------------------------------------------------------- the event log


def long_story() -> Story:
    story = story_in("signed")
    story.do(RecordOverdue(), SWEEPER, at=local(2025, 11, 6, 9, 0))
    story.do(Return("不属于城管"), LEAD_STAFF)
    story.do(Reassign(unit=LEAD, co_handlers=(CO_HANDLER,)), COORDINATOR)
    story.do(Sign(), LEAD_STAFF)
    story.do(Supervise(level="street", note="尽快"), COORDINATOR)
    story.do(AcknowledgeSupervision(), LEAD_STAFF)
    story.do(Pause("居民不在家"), LEAD_STAFF)
    story.do(Resume(), LEAD_STAFF, at=local(2025, 11, 7, 11, 0))
    story.do(Respond("已联系"), LEAD_STAFF)
    story.do(RequestExtension("需协调", 2), LEAD_STAFF)
    story.do(ApproveExtension(), COORDINATOR)
    story.do(AddNote("给居民的回复", internal=False), LEAD_STAFF)
    story.do(Resolve("已处理", solved=True), LEAD_STAFF)
    story.do(Review("unsatisfied", solved=False), RESIDENT)
    story.do(Reopen("不满意"), OPERATOR)
    story.do(Sign(), LEAD_STAFF)
    story.do(Respond(), LEAD_STAFF)
    story.do(Resolve("二次处理"), LEAD_STAFF)
    story.do(Review("satisfied", solved=True), RESIDENT)
    story.do(Close("满意结案"), OPERATOR)
    return story


def test_rebuilding_from_the_log_gives_the_same_appeal() -> None:
    story = long_story()
    appeal = story.appeal
    assert appeal.version == len(story.events) == 23
    assert (appeal.state, appeal.return_count, appeal.reopen_count) == ("closed", 1, 1)
    assert appeal.pause_count == 1 and appeal.extension_count == 1
    assert rebuild(story.events) == appeal


def test_the_log_survives_the_wire_including_the_new_event_types() -> None:
    story = long_story()
    decoded = [decode_event(encode(event)) for event in story.events]
    assert decoded == story.events
    assert {"appeal.paused", "appeal.resumed", "appeal.note_added"} <= {e.type for e in decoded}
    assert rebuild(decoded) == story.appeal


def test_evolve_refuses_events_out_of_place() -> None:
    story = story_in("dispatched")
    with pytest.raises(ValueError, match=r"before appeal\.received"):
        evolve(None, story.events[1])
    with pytest.raises(ValueError, match="already received"):
        evolve(story.appeal, story.events[0])
    other = received("A2").appeal
    with pytest.raises(ValueError, match="applied to appeal A2"):
        evolve(other, story.events[1])


def test_actors_are_recorded_by_kind() -> None:
    assert ROUTER.as_actor().kind == "system"
    assert RESIDENT.as_actor().kind == "resident"
    assert LEAD_STAFF.as_actor().model_dump() == {
        "kind": "staff",
        "id": "u-lead",
        "role": "unit_staff",
        "unit": LEAD,
    }

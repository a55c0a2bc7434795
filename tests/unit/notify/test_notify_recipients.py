"""Who hears of which event: plan_notices over the demo city (湖滨街道 DH-HB, 东湖区 DH)."""

from __future__ import annotations

from datetime import timedelta

from notify_events import NOW, deadlines, trigger

from services.notify.domain.recipients import Notice, Recipient, Trigger, plan_notices
from shared.city import City
from shared.events import (
    AppealDispatched,
    AppealExtensionRequested,
    AppealMerged,
    AppealOverdue,
    AppealReceived,
    AppealResolved,
    AppealReturned,
    AppealSigned,
    AppealSupervised,
    AppealTransferred,
    AppealTriaged,
)


def who(notices: list[Notice]) -> list[tuple[str, str, str]]:
    return [(n.recipient.address, n.topic, n.role) for n in notices]


def test_received_tells_the_resident_only(city: City) -> None:
    t = trigger(
        "appeal.received",
        AppealReceived(channel="web", tracking_no="T1", text="x"),
        unit=None,
        street=None,
    )
    assert who(plan_notices(t, city=city)) == [("resident:a1", "resident_received", "resident")]


def test_dispatch_tells_lead_and_co_handlers_once_each(city: City) -> None:
    data = AppealDispatched(
        matter=None,
        urgency="normal",
        lead_unit="DH-HB-RM",
        co_handlers=["DH-HB-UE", "DH-HB-RM", "DH-HB-UE"],
        by="router",
        deadlines=deadlines(),
    )
    assert who(plan_notices(trigger("appeal.dispatched", data), city=city)) == [
        ("unit:DH-HB-RM", "staff_new_work", "lead"),
        ("unit:DH-HB-UE", "staff_new_work", "co_handler"),
    ]


def test_triage_tells_the_district_dispatch_centre(city: City) -> None:
    data = AppealTriaged(dispatch_center="DH-DC", reasons=["low confidence"])
    t = trigger("appeal.triaged", data, unit=None)
    assert who(plan_notices(t, city=city)) == [("unit:DH-DC", "staff_new_work", "dispatch_center")]


def test_return_goes_to_the_street_coordinator(city: City) -> None:
    data = AppealReturned(reason="不归我们管", returned_by="DH-HB-RM", return_count=1)
    assert who(plan_notices(trigger("appeal.returned", data), city=city)) == [
        ("unit:DH-HB-OPS", "staff_returned", "coordinator")
    ]


def test_a_coordinator_returning_work_is_not_told_of_its_own_return(city: City) -> None:
    data = AppealReturned(reason="区级事项", returned_by="DH-HB-OPS", return_count=1)
    t = trigger("appeal.returned", data, unit="DH-HB-OPS")
    assert plan_notices(t, city=city) == []


def test_extension_request_goes_to_the_coordinator_or_else_the_district(city: City) -> None:
    data = AppealExtensionRequested(reason="等材料", workdays=3)
    assert who(plan_notices(trigger("appeal.extension_requested", data), city=city)) == [
        ("unit:DH-HB-OPS", "staff_extension_requested", "coordinator")
    ]
    own = trigger("appeal.extension_requested", data, unit="DH-HB-OPS")
    assert who(plan_notices(own, city=city)) == [
        ("unit:DH-DC", "staff_extension_requested", "dispatch_center")
    ]


def test_overdue_tells_the_unit_and_its_coordinator(city: City) -> None:
    data = AppealOverdue(deadline="sign", due_at=NOW)
    assert who(plan_notices(trigger("appeal.overdue", data), city=city)) == [
        ("unit:DH-HB-RM", "staff_overdue", "lead"),
        ("unit:DH-HB-OPS", "staff_overdue", "coordinator"),
    ]


def test_supervision_by_the_district_copies_the_coordinator(city: City) -> None:
    street = AppealSupervised(level="street", note="抓紧")
    district = AppealSupervised(level="district", note="抓紧")
    assert [
        r for r, _, _ in who(plan_notices(trigger("appeal.supervised", street), city=city))
    ] == ["unit:DH-HB-RM"]
    assert [
        r for r, _, _ in who(plan_notices(trigger("appeal.supervised", district), city=city))
    ] == ["unit:DH-HB-RM", "unit:DH-HB-OPS"]


def test_resolution_tells_the_resident_and_the_residents_of_merged_appeals(city: City) -> None:
    t = trigger("appeal.resolved", AppealResolved(result="已修复"))
    notices = plan_notices(t, city=city, merged_appeals=["a2", "a3"])
    assert who(notices) == [
        ("resident:a1", "resident_resolved", "resident"),
        ("resident:a2", "resident_master_resolved", "resident"),
        ("resident:a3", "resident_master_resolved", "resident"),
    ]
    assert notices[1].context == {"master_id": "a1"}


def test_transfer_and_merge_tell_the_resident(city: City) -> None:
    transferred = trigger("appeal.transferred", AppealTransferred(to="119"), unit=None)
    merged = trigger("appeal.merged", AppealMerged(master_id="a0"))
    assert who(plan_notices(transferred, city=city)) == [
        ("resident:a1", "resident_transferred", "resident")
    ]
    assert who(plan_notices(merged, city=city)) == [("resident:a1", "resident_merged", "resident")]


def test_events_nobody_needs_to_hear_of_reach_only_webhook_subscribers(city: City) -> None:
    t = trigger("appeal.signed", AppealSigned())
    assert plan_notices(t, city=city) == []
    assert who(plan_notices(t, city=city, subscribers=["s1", "s2"])) == [
        ("subscriber:s1", "system_event", "subscriber"),
        ("subscriber:s2", "system_event", "subscriber"),
    ]


def test_reminders_go_to_the_lead_unit_and_never_to_subscribers(city: City) -> None:
    t = Trigger(
        id="r1",
        type="notify.deadline_near",
        appeal_id="a1",
        occurred_at=NOW,
        street="DH-HB",
        unit="DH-HB-RM",
        data={"deadline": "sign", "due_at": (NOW + timedelta(hours=1)).isoformat()},
    )
    assert who(plan_notices(t, city=city, subscribers=["s1"])) == [
        ("unit:DH-HB-RM", "staff_deadline_near", "lead")
    ]


def test_without_a_city_street_roles_are_left_out_rather_than_guessed() -> None:
    data = AppealOverdue(deadline="resolve", due_at=NOW)
    assert who(plan_notices(trigger("appeal.overdue", data), city=None)) == [
        ("unit:DH-HB-RM", "staff_overdue", "lead")
    ]


def test_recipient_addresses_round_trip() -> None:
    for address in ("unit:DH-HB-RM", "resident:abc", "subscriber:f00"):
        assert Recipient.parse(address).address == address
    for bad in ("DH-HB-RM", "staff:x", "unit:"):
        try:
            Recipient.parse(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} parsed")


def test_trigger_and_notice_survive_the_delivery_log(city: City) -> None:
    data = AppealDispatched(
        matter=None, urgency="urgent", lead_unit="DH-HB-RM", by="router", deadlines=deadlines()
    )
    notice = plan_notices(trigger("appeal.dispatched", data), city=city)[0]
    again = Notice.from_doc(Trigger.from_doc(notice.trigger.as_doc()), notice.as_doc())
    assert again == notice

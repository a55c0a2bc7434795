"""Channel choice, delivery keys, masking, retries and open deadlines (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_events import NOW, deadlines, trigger

from services.notify.domain.channels import (
    Delivery,
    Message,
    PermanentFailure,
    Reach,
    TemporaryFailure,
    channels_for,
)
from services.notify.domain.contacts import ResidentContact, UnitContact, reach_for
from services.notify.domain.deadlines import deadline_changes, reminder_trigger
from services.notify.domain.privacy import mask_address, mask_email, mask_phone, scrub
from services.notify.domain.recipients import Notice, Recipient, plan_notices
from services.notify.domain.retry import after_failure, backoff
from shared.city import City
from shared.events import (
    AppealDispatched,
    AppealExtended,
    AppealReceived,
    AppealResolved,
    AppealSigned,
)

ALL = frozenset({"inbox", "email", "sms", "webhook"})


def resident_notice() -> Notice:
    t = trigger("appeal.received", AppealReceived(channel="web", tracking_no="T1", text="x"))
    return plan_notices(t, city=None)[0]


def test_a_resident_gets_inbox_and_each_channel_they_gave_an_address_for() -> None:
    notice = resident_notice()
    full = reach_for(
        notice.recipient,
        resident=ResidentContact(tracking_no="T1", phone="13800000000", email="alice@example.com"),
    )
    phone_only = reach_for(notice.recipient, resident=ResidentContact(phone="13800000000"))
    assert channels_for(notice, full, ALL) == ["inbox", "email", "sms"]
    assert channels_for(notice, phone_only, ALL) == ["inbox", "sms"]
    assert channels_for(notice, reach_for(notice.recipient), ALL) == ["inbox"]
    assert channels_for(notice, full, frozenset({"inbox", "email"})) == ["inbox", "email"]


def test_a_unit_without_contacts_on_file_still_gets_its_inbox(city: City) -> None:
    data = AppealDispatched(matter=None, urgency="normal", lead_unit="DH-HB-RM", by="router")
    notice = plan_notices(trigger("appeal.dispatched", data), city=city)[0]
    assert channels_for(notice, reach_for(notice.recipient), ALL) == ["inbox"]
    on_file = UnitContact(emails=("duty@hb.example.org",), sms=(), language="en")
    reach = reach_for(notice.recipient, unit=on_file)
    assert channels_for(notice, reach, ALL) == ["inbox", "email"]
    assert reach.language == "en"


def test_a_subscriber_gets_its_webhook_only_when_webhooks_are_active(city: City) -> None:
    t = trigger("appeal.signed", AppealSigned())
    notice = plan_notices(t, city=city, subscribers=["s1"])[0]
    reach = reach_for(notice.recipient, subscribers={"s1": "https://hooks.example.org/a"})
    assert channels_for(notice, reach, ALL) == ["webhook"]
    assert channels_for(notice, reach, frozenset({"inbox"})) == []
    assert channels_for(notice, reach_for(notice.recipient, subscribers={}), ALL) == []


def test_the_delivery_key_is_event_recipient_channel() -> None:
    notice = resident_notice()
    assert Delivery(notice, "sms").key == f"{notice.trigger.id}:resident:a1:sms"
    assert Delivery(notice, "sms").key != Delivery(notice, "email").key


def test_addresses_are_masked_for_logs() -> None:
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("+86 138-0000-1234") == "861******1234"
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_address("https://hooks.example.org") == "https://hooks.example.org"
    text = scrub("550 5.1.1 <alice@example.com>: no such user; call 13800000000")
    assert "alice@" not in text and "13800000000" not in text
    assert "a***@example.com" in text and "138****0000" in text


def test_a_message_never_shows_its_addresses_in_repr() -> None:
    message = Message(
        key="k",
        channel="sms",
        recipient="resident:a1",
        appeal_id="a1",
        event_id="e",
        event_type="appeal.received",
        topic="resident_received",
        language="zh-CN",
        subject="s",
        body="b",
        short="s",
        to=("13800000000",),
    )
    assert "13800000000" not in repr(message)
    assert message.masked_to == ["138****0000"]
    reach = Reach(emails=("alice@example.com",), phones=("13800000000",), name="张三")
    assert "alice" not in repr(reach) and "1380" not in repr(reach) and "张三" not in repr(reach)


def test_backoff_doubles_up_to_the_cap() -> None:
    waits = [backoff(n, base=5, cap=60).total_seconds() for n in range(1, 7)]
    assert waits == [5, 10, 20, 40, 60, 60]
    assert backoff(1, base=5, cap=60, jitter=1.0).total_seconds() == pytest.approx(6.0)


def test_temporary_failures_are_retried_until_attempts_run_out() -> None:
    error = TemporaryFailure("HTTP 500")
    first = after_failure(error, attempts=1, max_attempts=3, now=NOW, base=2, cap=60)
    assert first.retry and first.next_attempt_at == NOW + timedelta(seconds=2)
    last = after_failure(error, attempts=3, max_attempts=3, now=NOW, base=2, cap=60)
    assert not last.retry and last.reason == "attempts exhausted"


def test_a_permanent_failure_is_never_retried() -> None:
    result = after_failure(
        PermanentFailure("HTTP 410"), attempts=1, max_attempts=8, now=NOW, base=2, cap=60
    )
    assert not result.retry and result.reason == "permanent"


def test_dispatch_opens_deadlines_reminded_at_the_fraction() -> None:
    data = AppealDispatched(
        matter=None,
        urgency="normal",
        lead_unit="DH-HB-RM",
        by="router",
        deadlines=deadlines(hours=10),
    )
    changes = deadline_changes(trigger("appeal.dispatched", data), fraction=0.8)
    sign = next(d for d in changes.opened if d.name == "sign")
    assert sign.due_at == NOW + timedelta(hours=10)
    assert sign.remind_at == NOW + timedelta(hours=8)
    assert sign.unit == "DH-HB-RM" and not changes.only_open
    assert {d.name for d in changes.opened} == {"sign", "respond", "resolve"}


def test_co_handlers_are_reminded_of_the_resolve_deadline_only() -> None:
    data = AppealDispatched(
        matter=None,
        urgency="normal",
        lead_unit="DH-HB-OPS",
        co_handlers=["DH-HB-RM", "DH-HB-UE"],
        by="router",
        deadlines=deadlines(hours=10),
    )
    opened = {
        d.name: d for d in deadline_changes(trigger("appeal.dispatched", data), fraction=0.8).opened
    }
    assert opened["resolve"].co_handlers == ("DH-HB-RM", "DH-HB-UE")
    assert opened["sign"].co_handlers == () and opened["respond"].co_handlers == ()
    notices = plan_notices(reminder_trigger(opened["resolve"]), city=None)
    reminded = [(n.recipient.address, n.topic, n.role) for n in notices]
    assert reminded == [
        ("unit:DH-HB-OPS", "staff_deadline_near", "lead"),
        ("unit:DH-HB-RM", "staff_deadline_near", "co_handler"),
        ("unit:DH-HB-UE", "staff_deadline_near", "co_handler"),
    ]
    assert len(plan_notices(reminder_trigger(opened["sign"]), city=None)) == 1


def test_an_extension_moves_only_open_deadlines_and_resolution_ends_them() -> None:
    extended = AppealExtended(workdays=3, approved_by="DH-HB-OPS", deadlines=deadlines())
    assert deadline_changes(trigger("appeal.extended", extended), fraction=0.8).only_open
    assert deadline_changes(trigger("appeal.signed", AppealSigned()), fraction=0.8).closed == (
        "sign",
    )
    resolved = deadline_changes(
        trigger("appeal.resolved", AppealResolved(result="ok")), fraction=0.8
    )
    assert set(resolved.closed) == {"sign", "respond", "resolve"}


def test_a_reminder_is_identified_by_its_deadline_and_due_time() -> None:
    data = AppealDispatched(
        matter=None, urgency="normal", lead_unit="DH-HB-RM", by="router", deadlines=deadlines()
    )
    sign = deadline_changes(trigger("appeal.dispatched", data), fraction=0.5).opened[0]
    first, again = reminder_trigger(sign), reminder_trigger(sign)
    assert first.id == again.id and first.type == "notify.deadline_near"
    assert first.data["deadline"] == "sign"
    assert Recipient("unit", "DH-HB-RM") == plan_notices(first, city=None)[0].recipient

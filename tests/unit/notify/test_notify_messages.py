"""Templates: every topic renders in both languages; language choice; what a message says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_events import NOW, deadlines, trigger

from services.notify.domain.channels import Delivery, Reach
from services.notify.domain.messages import TEMPLATE_DIR, MessageComposer
from services.notify.domain.recipients import Notice, Trigger, plan_notices
from shared.city import City
from shared.events import (
    AppealDispatched,
    AppealExtensionRequested,
    AppealMerged,
    AppealOverdue,
    AppealReceived,
    AppealResolved,
    AppealReturned,
    AppealSupervised,
    AppealTransferred,
    AppealTriaged,
)


def every_notice(city: City) -> list[Notice]:
    triggers = [
        trigger(
            "appeal.received",
            AppealReceived(channel="web", tracking_no="T1", text="x"),
            unit=None,
            street=None,
        ),
        trigger(
            "appeal.dispatched",
            AppealDispatched(
                matter="road.pothole",
                urgency="urgent",
                lead_unit="DH-HB-RM",
                co_handlers=["DH-HB-UE"],
                by="router",
                deadlines=deadlines(),
            ),
        ),
        trigger("appeal.triaged", AppealTriaged(dispatch_center="DH-DC", reasons=["r"]), unit=None),
        trigger(
            "appeal.returned",
            AppealReturned(reason="不归我们", returned_by="DH-HB-RM", return_count=1),
        ),
        trigger("appeal.extension_requested", AppealExtensionRequested(reason="r", workdays=2)),
        trigger("appeal.supervised", AppealSupervised(level="district", note="抓紧")),
        trigger("appeal.overdue", AppealOverdue(deadline="respond", due_at=NOW)),
        trigger("appeal.resolved", AppealResolved(result="已修复")),
        trigger("appeal.transferred", AppealTransferred(to="120"), unit=None),
        trigger("appeal.merged", AppealMerged(master_id="a0")),
        Trigger(
            id="r",
            type="notify.deadline_near",
            appeal_id="a1",
            occurred_at=NOW,
            street="DH-HB",
            unit="DH-HB-RM",
            data={"deadline": "resolve", "due_at": (NOW + timedelta(days=1)).isoformat()},
        ),
    ]
    notices = []
    for t in triggers:
        notices += plan_notices(t, city=city, merged_appeals=["a9"])
    return notices


def test_every_topic_has_templates_in_both_languages(city: City) -> None:
    notices = every_notice(city)
    topics = {n.topic for n in notices}
    for language in ("zh-CN", "en"):
        files = {p.stem for p in (TEMPLATE_DIR / language).glob("*.j2")}
        assert topics == files, (language, topics ^ files)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_notice_renders_subject_body_and_short_text(
    city: City, composer: MessageComposer, language: str
) -> None:
    for notice in every_notice(city):
        for channel in ("inbox", "email", "sms"):
            reach = Reach(language=language, tracking_no="T1", emails=("a@b.cn",))
            message = composer.compose(Delivery(notice, channel), reach)
            assert message.subject and message.body and message.short, notice.topic
            assert "None" not in message.subject + message.body + message.short, notice.topic
            assert message.language == language


def test_a_resident_hears_the_tracking_number_and_status_link_in_their_language(
    composer: MessageComposer,
) -> None:
    t = trigger(
        "appeal.received", AppealReceived(channel="web", tracking_no="2026030212345678", text="x")
    )
    notice = plan_notices(t, city=None)[0]
    zh = composer.compose(Delivery(notice, "email"), Reach(language="zh-CN", name="张三"))
    en = composer.compose(Delivery(notice, "email"), Reach(language="en"))
    link = "https://12345.example.org/status/2026030212345678"
    assert "受理编号" in zh.subject and "2026030212345678" in zh.subject
    assert zh.body.startswith("张三，您好") and link in zh.body and link in zh.short
    assert "tracking number" in en.subject and link in en.body
    assert "10:00" in zh.body  # the time is shown in the city's zone, not UTC


def test_an_unknown_language_falls_back_to_chinese(composer: MessageComposer) -> None:
    t = trigger("appeal.transferred", AppealTransferred(to="110"), unit=None)
    notice = plan_notices(t, city=None)[0]
    message = composer.compose(Delivery(notice, "sms"), Reach(language="fr"))
    assert message.language == "zh-CN" and "110" in message.short


def test_resolution_invites_the_resident_to_rate_it(composer: MessageComposer) -> None:
    t = trigger("appeal.resolved", AppealResolved(result="路灯已修复"))
    notice = plan_notices(t, city=None)[0]
    zh = composer.compose(Delivery(notice, "email"), Reach(tracking_no="T7"))
    en = composer.compose(Delivery(notice, "email"), Reach(tracking_no="T7", language="en"))
    assert "路灯已修复" in zh.body and "评价" in zh.body and "/status/T7" in zh.body
    assert "satisfied" in en.body


def test_staff_messages_name_the_unit_and_link_the_appeal(
    city: City, composer: MessageComposer
) -> None:
    data = AppealDispatched(
        matter=None, urgency="urgent", lead_unit="DH-HB-RM", by="router", deadlines=deadlines()
    )
    notice = plan_notices(trigger("appeal.dispatched", data), city=city)[0]
    message = composer.compose(Delivery(notice, "email"), Reach())
    assert message.subject == "【新派工单】a1"
    assert "湖滨道路养护所 (DH-HB-RM)" in message.body and "紧急" in message.body
    assert "签收时限：2026-03-02 12:00" in message.body
    assert message.link == "https://12345.example.org/appeals/a1"


def test_a_webhook_carries_the_event_and_its_delivery_key(
    city: City, composer: MessageComposer
) -> None:
    t = trigger("appeal.resolved", AppealResolved(result="ok"))
    notice = plan_notices(t, city=city, subscribers=["s1"])[-1]
    delivery = Delivery(notice, "webhook")
    message = composer.compose(delivery, Reach(webhook_url="https://hooks.example.org/x"))
    assert message.to == ("https://hooks.example.org/x",)
    assert message.payload["delivery_key"] == delivery.key
    assert message.payload["event"]["type"] == "appeal.resolved"
    assert message.payload["event"]["event_id"] == t.id
    assert message.payload["event"]["actor"]["kind"] == "staff"
    assert message.payload["event"]["occurred_at"] == NOW.isoformat()

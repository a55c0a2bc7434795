"""The SLA clock against the official calendar: National Day 2025 and Spring Festival 2026.

Expected instants are worked out by hand from the State Council's notices:
National Day 2025 — off 10-01..10-08, work Sunday 09-28 and Saturday 10-11;
Spring Festival 2026 — off 02-15..02-23, work Saturday 02-14 and Saturday 02-28.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

import pytest
from appeals_world import CALENDAR, local

from services.appeals.domain.sla import (
    Deadlines,
    WorkCalendar,
    add_workdays,
    add_working_minutes,
    deadlines_for,
    extend,
    missed,
    shift_for_pause,
    working_minutes_between,
)
from shared.city import TimeLimits

URGENT = TimeLimits(sign_minutes=30, respond_hours=2, resolve_workdays=1)
NORMAL = TimeLimits(sign_minutes=120, respond_hours=24, resolve_workdays=5)
ADVICE = TimeLimits(sign_minutes=240, respond_hours=48, resolve_workdays=15)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday worked for National Day
        (date(2025, 10, 1), False),
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday worked for National Day
        (date(2026, 2, 14), True),  # Saturday worked for Spring Festival
        (date(2026, 2, 16), False),
        (date(2026, 2, 23), False),
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday worked for Spring Festival
    ],
)
def test_the_official_calendar(day: date, working: bool) -> None:
    assert CALENDAR.is_workday(day) is working


def test_normal_deadlines_across_national_day_use_the_adjusted_sunday() -> None:
    got = deadlines_for(local(2025, 9, 26, 10, 0), NORMAL, CALENDAR, urgency="normal")
    assert got == Deadlines(
        sign_by=local(2025, 9, 26, 12, 0),
        # 450 working minutes on Friday, 540 on Sunday 09-28, 450 more on Monday
        respond_by=local(2025, 9, 29, 16, 0),
        # working days after Friday: 09-28, 09-29, 09-30, 10-09, 10-10
        resolve_by=local(2025, 10, 10, 17, 30),
    )


def test_normal_deadlines_started_on_the_eve_of_national_day() -> None:
    got = deadlines_for(local(2025, 9, 30, 16, 30), NORMAL, CALENDAR, urgency="normal")
    assert got == Deadlines(
        sign_by=local(2025, 10, 9, 9, 30),  # 60 minutes before the break, 60 after it
        respond_by=local(2025, 10, 11, 13, 30),  # 60 + 540 + 540 + 300, on the worked Saturday
        resolve_by=local(2025, 10, 14, 17, 30),  # 10-09, 10-10, 10-11, 10-13, 10-14
    )


def test_urgent_sign_and_respond_run_through_the_holiday() -> None:
    got = deadlines_for(local(2025, 10, 1, 3, 0), URGENT, CALENDAR, urgency="urgent")
    assert got == Deadlines(
        sign_by=local(2025, 10, 1, 3, 30),
        respond_by=local(2025, 10, 1, 5, 0),
        resolve_by=local(2025, 10, 9, 17, 30),
    )


def test_spring_festival_2026() -> None:
    start = local(2026, 2, 13, 10, 0)  # Friday before the break
    normal = deadlines_for(start, NORMAL, CALENDAR, urgency="normal")
    assert normal.resolve_by == local(2026, 2, 27, 17, 30)  # 02-14, 02-24 .. 02-27
    urgent = deadlines_for(start, URGENT, CALENDAR, urgency="urgent")
    assert urgent.resolve_by == local(2026, 2, 14, 17, 30)  # the worked Saturday
    advice = deadlines_for(start, ADVICE, CALENDAR, urgency="advice")
    # 02-14, 02-24..02-28 (6), 03-02..03-06 (11), 03-09..03-12 (15)
    assert advice.resolve_by == local(2026, 3, 12, 17, 30)
    late = deadlines_for(local(2026, 2, 13, 17, 0), NORMAL, CALENDAR, urgency="normal")
    assert late.sign_by == local(2026, 2, 14, 10, 0)  # 30 minutes Friday, 90 on Saturday


def test_an_evening_call_is_due_in_the_next_working_morning() -> None:
    got = deadlines_for(local(2025, 11, 7, 20, 0), NORMAL, CALENDAR, urgency="normal")
    assert got.sign_by == local(2025, 11, 10, 10, 30)  # Friday evening -> Monday


def test_a_later_stage_never_leaves_an_earlier_one_more_time() -> None:
    odd = TimeLimits(sign_minutes=6000, respond_hours=100, resolve_workdays=1)
    got = deadlines_for(local(2025, 11, 3, 9, 0), odd, CALENDAR, urgency="normal")
    assert got.sign_by == got.respond_by == got.resolve_by == local(2025, 11, 4, 17, 30)


def test_add_workdays_keeps_the_clock_time_and_skips_holidays() -> None:
    assert add_workdays(local(2025, 9, 30, 11, 15), 1, CALENDAR) == local(2025, 10, 9, 11, 15)
    assert add_workdays(local(2025, 10, 10, 11, 15), 1, CALENDAR) == local(2025, 10, 11, 11, 15)
    assert add_workdays(local(2025, 10, 4, 11, 15), 0, CALENDAR) == local(2025, 10, 4, 11, 15)
    with pytest.raises(ValueError):
        add_workdays(local(2025, 10, 4, 11, 15), -1, CALENDAR)


def test_add_working_minutes_at_the_edges_of_the_day() -> None:
    assert add_working_minutes(local(2025, 11, 3, 17, 30), 540, CALENDAR) == local(
        2025, 11, 4, 17, 30
    )
    assert add_working_minutes(local(2025, 11, 3, 7, 0), 1, CALENDAR) == local(2025, 11, 3, 8, 31)
    assert add_working_minutes(local(2025, 11, 8, 12, 0), 0, CALENDAR) == local(2025, 11, 8, 12, 0)


def test_working_minutes_between_skips_nights_and_holidays() -> None:
    assert (
        working_minutes_between(local(2025, 9, 30, 17, 0), local(2025, 10, 9, 9, 0), CALENDAR) == 60
    )
    assert (
        working_minutes_between(local(2025, 11, 7, 9, 0), local(2025, 11, 7, 8, 0), CALENDAR) == 0
    )


def test_an_extension_moves_only_the_resolve_deadline_past_the_holiday() -> None:
    before = Deadlines(
        sign_by=local(2025, 9, 26, 12, 0),
        respond_by=local(2025, 9, 29, 16, 0),
        resolve_by=local(2025, 9, 30, 17, 30),
    )
    after = extend(before, 2, CALENDAR)
    assert after == before.model_copy(update={"resolve_by": local(2025, 10, 10, 17, 30)})
    with pytest.raises(ValueError):
        extend(before, 0, CALENDAR)


def test_a_pause_moves_deadlines_ahead_of_it_by_the_paused_working_time() -> None:
    before = Deadlines(
        sign_by=local(2025, 9, 29, 9, 0),
        respond_by=local(2025, 9, 30, 16, 0),
        resolve_by=local(2025, 10, 10, 17, 30),
    )
    # paused 15:30 on 09-29 until 10:00 on 10-09: 120 + 540 + 90 = 750 working minutes;
    # the holiday in between costs nothing
    after = shift_for_pause(before, local(2025, 9, 29, 15, 30), local(2025, 10, 9, 10, 0), CALENDAR)
    assert after == Deadlines(
        sign_by=before.sign_by,  # already passed when the pause began
        respond_by=local(2025, 10, 10, 10, 30),  # 90 on 09-30, 540 on 10-09, 120 on 10-10
        resolve_by=local(2025, 10, 13, 12, 0),  # 540 on the worked Saturday, 210 on Monday
    )


def test_an_urgent_pause_shifts_sign_and_respond_by_elapsed_time() -> None:
    before = Deadlines(
        sign_by=local(2025, 11, 8, 2, 30),
        respond_by=local(2025, 11, 8, 4, 0),
        resolve_by=local(2025, 11, 10, 17, 30),
    )
    after = shift_for_pause(
        before, local(2025, 11, 8, 2, 0), local(2025, 11, 8, 3, 0), CALENDAR, urgency="urgent"
    )
    assert after.sign_by == local(2025, 11, 8, 3, 30)
    assert after.respond_by == local(2025, 11, 8, 5, 0)
    assert after.resolve_by == before.resolve_by  # no working time passed on a Saturday night


def test_missed_reports_each_deadline_once() -> None:
    deadlines = deadlines_for(local(2025, 11, 3, 9, 0), NORMAL, CALENDAR, urgency="normal")
    assert missed(deadlines, deadlines.sign_by, ()) == []  # due at, not yet past
    after_sign = deadlines.sign_by + timedelta(seconds=1)
    assert missed(deadlines, after_sign, ()) == ["sign"]
    assert missed(deadlines, after_sign, {"sign"}) == []
    much_later = deadlines.resolve_by + timedelta(days=1)
    assert missed(deadlines, much_later, {"sign"}) == ["respond", "resolve"]
    assert missed(deadlines, much_later, {"sign", "respond", "resolve"}) == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        deadlines_for(datetime(2025, 11, 3, 9, 0), NORMAL, CALENDAR)


def test_beyond_the_calendar_data_it_falls_back_to_monday_to_friday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="services.appeals.domain.sla"):
        assert calendar.is_workday(date(2099, 1, 1)) is True  # a Thursday, holiday or not
        assert calendar.is_workday(date(2099, 1, 3)) is False  # a Saturday
    assert "no holiday data for 2099" in caplog.text
    got = deadlines_for(local(2099, 1, 2, 10, 0), NORMAL, calendar, urgency="normal")
    assert got.resolve_by == local(2099, 1, 9, 17, 30)


def test_a_city_can_add_its_own_days() -> None:
    day_off = WorkCalendar(extra_holidays=frozenset({date(2025, 11, 4)}))
    assert not day_off.is_workday(date(2025, 11, 4))
    got = deadlines_for(local(2025, 11, 3, 9, 0), NORMAL, day_off, urgency="normal")
    assert got.resolve_by == local(2025, 11, 11, 17, 30)  # 11-05, 06, 07, 10, 11
    swapped = WorkCalendar(
        extra_holidays=frozenset({date(2025, 11, 4)}), extra_workdays=frozenset({date(2025, 11, 8)})
    )
    assert swapped.is_workday(date(2025, 11, 8))
    got = deadlines_for(local(2025, 11, 3, 9, 0), NORMAL, swapped, urgency="normal")
    assert got.resolve_by == local(2025, 11, 10, 17, 30)  # 11-05, 06, 07, 08, 10
    with pytest.raises(ValueError):
        WorkCalendar(day_start=time(18, 0), day_end=time(9, 0))

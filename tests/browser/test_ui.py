"""The staff UI and the resident page in a real browser, against the real running services.

One call's whole life, as people do it: an operator types a call in (keyboard only), the
unit's staff — already looking at their queue in another browser — see it arrive without
reloading, sign it, contact the resident and resolve it; the resident looks the appeal up
with the tracking number and password the operator read back, sees the result and rates it.
Beside it: the street coordinator's and the district dispatch centre's desks (a return,
a reassignment, a second return, a manual dispatch), escaping of hostile appeal text, CSRF
and scope refusals.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.conftest import WAIT_MS, Login, add_staff, log_in, screenshot
from tests.integration.conftest import RunningServices

pytestmark = pytest.mark.browser

RM = "JA-JAS-RM"  # 静安寺道路养护所: the router's unit for street lights on 华山路
UE = "JA-JAS-UE"
STREET_LIGHT = "road.street_light"

NewContext = Callable[[], BrowserContext]


def take_call(page: Page, services: RunningServices, *, text: str, address: str) -> tuple[str, str]:
    """Record a call on the operator console with the keyboard; return (tracking no, token)."""
    page.goto(services.url("appeals", "/operator"))
    expect(page.locator("#caller_phone")).to_be_focused()
    page.keyboard.type("13800138000")
    page.keyboard.press("Tab")
    page.keyboard.type("李女士")
    page.keyboard.press("Tab")
    expect(page.locator("#appeal_text")).to_be_focused()
    page.keyboard.type(text)
    # The routing service's suggestions arrive as the text is typed; Alt+1 takes the first.
    expect(page.locator("#matter-suggestions .chip").first).to_be_visible()
    page.keyboard.press("Alt+1")
    expect(page.locator("#matter")).to_have_value(STREET_LIGHT)
    page.keyboard.press("Tab")
    expect(page.locator("#matter")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#address")).to_be_focused()
    page.keyboard.type(address)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tracking = page.locator("#tracking-no")
    expect(tracking).to_have_text(re.compile(r"^\d{16}$"))
    return tracking.inner_text().strip(), page.locator("#token").inner_text().strip()


def test_a_call_reaches_the_unit_live_and_the_resident_sees_the_result(
    services: RunningServices, new_context: NewContext
) -> None:
    operator = add_staff(services, "operator", None)
    lead = add_staff(services, "unit_staff", RM)

    unit_page = new_context().new_page()
    log_in(unit_page, services, lead)
    assert unit_page.url.endswith("/queue")
    expect(unit_page.locator("body")).to_have_attribute("data-live-ready", "1")
    # A marker that a reload would wipe: the row must arrive through the live feed.
    unit_page.evaluate("window.__stillTheSamePage = true")

    op_page = new_context().new_page()
    log_in(op_page, services, operator)
    address = f"华山路{100 + uuid.uuid4().int % 90}号"
    text = f"{address}门口的路灯坏了一个礼拜，晚上黑漆漆的（{uuid.uuid4().hex[:6]}）"
    op_page.goto(services.url("appeals", "/operator"))
    op_page.locator("#appeal_text").fill(text)
    expect(op_page.locator("#matter-suggestions .chip").first).to_contain_text("路灯")
    screenshot(op_page, "operator-console")
    tracking_no, token = take_call(op_page, services, text=text, address=address)
    assert len(token) >= 20
    # Big enough to read back to the caller at a glance.
    size = op_page.locator("#tracking-no").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 32, size
    screenshot(op_page, "operator-done")

    row = unit_page.locator(f"tr[data-tracking='{tracking_no}']")
    expect(row).to_be_visible(timeout=WAIT_MS)
    assert unit_page.evaluate("window.__stillTheSamePage === true"), "the queue page reloaded"
    expect(unit_page.locator(".toast.new_work")).to_contain_text(tracking_no)
    countdown = row.locator(".countdown")
    expect(countdown).to_contain_text("剩余")
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=5_000)  # it counts down every second
    screenshot(unit_page, "unit-queue-new-work")

    with unit_page.expect_navigation():
        row.locator("button[data-command=sign]").click()
    expect(unit_page.locator(".flash-ok")).to_contain_text(tracking_no)
    expect(unit_page.locator(f"tr[data-tracking='{tracking_no}']")).to_have_count(0)
    unit_page.locator(".tab-in_progress").click()
    row = unit_page.locator(f"tr[data-tracking='{tracking_no}']")
    expect(row).to_be_visible()
    with unit_page.expect_navigation():
        row.locator("a.tracking").click()

    # The appeal page: every step so far, then respond, message the resident, resolve.
    history = unit_page.locator("#history tbody tr")
    expect(history).to_have_count(3)  # received, dispatched, signed
    expect(unit_page.locator("#history")).to_contain_text(operator.username)
    expect(unit_page.locator("#history")).to_contain_text(lead.username)
    respond = unit_page.locator("form.act-respond")
    respond.locator("input[name=message]").fill("已电话联系李女士，明天上午维修")
    with unit_page.expect_navigation():
        respond.locator("button").click()
    message = unit_page.locator("form.act-message")
    message.locator("textarea").fill("您好，维修人员明天上午到场。")
    with unit_page.expect_navigation():
        message.locator("button").click()
    resolve = unit_page.locator("details.act-resolve")
    resolve.locator("textarea[name=result]").fill("已更换灯泡，路灯恢复照明")
    with unit_page.expect_navigation():
        resolve.locator("button[type=submit]").click()
    expect(unit_page.locator(".big-state")).to_have_text("已办结")
    expect(unit_page.locator("#appeal-result")).to_have_text("已更换灯泡，路灯恢复照明")
    expect(unit_page.locator("#history tbody tr")).to_have_count(6)
    expect(unit_page.locator("svg.map polygon")).to_have_count(1)  # the community's boundary
    screenshot(unit_page, "appeal-page")

    resident = new_context().new_page()
    resident.goto(services.url("appeals", "/status"))
    resident.keyboard.type(tracking_no)
    resident.keyboard.press("Tab")
    resident.keyboard.type(token)
    with resident.expect_navigation():
        resident.keyboard.press("Enter")
    expect(resident.locator("#status-state")).to_have_text("已办结")
    expect(resident.locator("#status-result")).to_have_text("已更换灯泡，路灯恢复照明")
    expect(resident.locator("#status-messages")).to_contain_text("维修人员明天上午到场")
    # Internal matters stay internal: no staff names on the resident's page.
    assert lead.username not in resident.content()
    screenshot(resident, "resident-status")
    resident.locator("input[value=satisfied]").check()
    with resident.expect_navigation():
        resident.locator("#review-form button").click()
    expect(resident.locator("#review-thanks")).to_be_visible()
    expect(resident.locator("#status-state")).to_have_text("已回访")
    expect(resident.locator("#status-rating")).to_have_text("满意")
    screenshot(resident, "resident-reviewed")


def test_hostile_appeal_text_is_shown_as_text(
    services: RunningServices, new_context: NewContext
) -> None:
    operator = add_staff(services, "operator", None)
    lead = add_staff(services, "unit_staff", RM)
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>华山路120号路灯不亮"
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    op_page = new_context().new_page()
    op_page.on("dialog", record)
    log_in(op_page, services, operator)
    tracking_no, _ = take_call(op_page, services, text=hostile, address="华山路120号")
    with op_page.expect_navigation():
        op_page.locator("#appeal-link").click()
    expect(op_page.locator("#appeal-text")).to_have_text(hostile)
    assert op_page.locator("#appeal-text script, #appeal-text img").count() == 0

    unit_page = new_context().new_page()
    unit_page.on("dialog", record)
    log_in(unit_page, services, lead)
    row = unit_page.locator(f"tr[data-tracking='{tracking_no}']")
    expect(row.locator(".appeal-text")).to_have_text(hostile)
    assert row.locator("script, img").count() == 0
    screenshot(unit_page, "unit-queue-xss-as-text")
    assert dialogs == []


def test_forms_need_their_csrf_token_and_pages_keep_to_scope(
    services: RunningServices, new_context: NewContext
) -> None:
    lead = add_staff(services, "unit_staff", RM)
    other = add_staff(services, "unit_staff", UE, language="en")
    created = httpx.post(
        services.url("appeals", "/api/v1/appeals"),
        json={"text": "华山路150号路灯不亮", "address": "华山路150号", "matter": STREET_LIGHT},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    appeal_id = created.json()["id"]

    page = new_context().new_page()
    page.goto(services.url("appeals", "/login"))
    page.fill("input[name=username]", lead.username)
    page.fill("input[name=password]", "not-the-password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".flash-error")).to_have_text("用户名或密码错误")
    screenshot(page, "login-failed")
    log_in(page, services, lead)
    expect(page.locator(f"tr[data-id='{appeal_id}']")).to_be_visible()

    # The session cookie alone does not make a command: the form's token is missing or wrong.
    url = services.url("appeals", f"/appeals/{appeal_id}/do/sign")
    refused = page.request.post(url, form={"version": "2"}, max_redirects=0)
    assert refused.status == 403
    forged = page.request.post(url, form={"csrf": "0" * 64, "version": "2"}, max_redirects=0)
    assert forged.status == 403
    page.goto(services.url("appeals", f"/appeals/{appeal_id}"))
    expect(page.locator(".big-state")).to_have_text("已派单")  # nothing happened
    csrf = page.locator("form.act-sign input[name=csrf]").get_attribute("value") or ""
    cross_site = page.request.post(
        url,
        form={"csrf": csrf, "version": "2"},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert cross_site.status == 403

    # Another unit's staff: not in their queue, and the appeal page says "not found".
    other_page = new_context().new_page()
    log_in(other_page, services, other)
    expect(other_page.locator("h1")).to_contain_text("Unit work queue")  # account language
    expect(other_page.locator(f"tr[data-id='{appeal_id}']")).to_have_count(0)
    screenshot(other_page, "unit-queue-english")
    response = other_page.goto(services.url("appeals", f"/appeals/{appeal_id}"))
    assert response is not None and response.status == 404
    expect(other_page.locator("main")).to_contain_text("No such appeal")
    response = other_page.goto(services.url("appeals", f"/queue?code={RM}"))
    assert response is not None and response.status == 403
    expect(other_page.locator("main")).to_contain_text("You may not see this")
    screenshot(other_page, "out-of-scope")


def test_coordinator_and_district_desks_decide_returns_and_dispatch(
    services: RunningServices, new_context: NewContext
) -> None:
    lead = add_staff(services, "unit_staff", RM)
    second = add_staff(services, "unit_staff", UE)
    coordinator = add_staff(services, "coordinator", "JA-JAS-OPS")
    dispatcher = add_staff(services, "dispatcher", "JA-DC")
    created = httpx.post(
        services.url("appeals", "/api/v1/appeals"),
        json={"text": "华山路160号路灯一闪一闪", "address": "华山路160号", "matter": STREET_LIGHT},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tracking_no = created.json()["tracking_no"]

    def sign_and_return(who: Login, reason: str) -> None:
        page = new_context().new_page()
        log_in(page, services, who)
        row = page.locator(f"tr[data-tracking='{tracking_no}']")
        with page.expect_navigation():
            row.locator("button[data-command=sign]").click()
        page.locator(".tab-in_progress").click()
        row = page.locator(f"tr[data-tracking='{tracking_no}']")
        row.locator("details.act-return summary").click()
        row.locator("details.act-return input[name=reason]").fill(reason)
        with page.expect_navigation():
            row.locator("details.act-return button[type=submit]").click()
        expect(page.locator(".flash-ok")).to_contain_text(tracking_no)

    sign_and_return(lead, "路灯归区建管委直管，不属本所")

    coord = new_context().new_page()
    log_in(coord, services, coordinator)
    assert coord.url.endswith("/coordinator")
    coord.locator(".tab-returns").click()
    row = coord.locator(f"tr[data-tracking='{tracking_no}']")
    # The router's suggestion for the returned appeal (without the unit that returned it).
    expect(row.locator(".hint")).to_contain_text("系统建议")
    screenshot(coord, "coordinator-returns")
    row.locator("details.act-reassign summary").click()
    row.locator("details.act-reassign input[name=unit]").fill(UE)
    with coord.expect_navigation():
        row.locator("details.act-reassign button[type=submit]").click()
    expect(coord.locator(".flash-ok")).to_contain_text(tracking_no)

    sign_and_return(second, "也不是城管的事")

    desk = new_context().new_page()
    log_in(desk, services, dispatcher)
    assert "/triage" in desk.url
    row = desk.locator(f"tr[data-tracking='{tracking_no}']")
    expect(row.locator(".hint")).to_contain_text("returned 2 times")
    screenshot(desk, "district-triage")
    row.locator("details.act-dispatch summary").click()
    row.locator("details.act-dispatch input[name=unit]").fill(RM)
    row.locator("details.act-dispatch input[name=matter]").fill(STREET_LIGHT)
    with desk.expect_navigation():
        row.locator("details.act-dispatch button[type=submit]").click()
    expect(desk.locator(".flash-ok")).to_contain_text(tracking_no)
    expect(desk.locator(f"tr[data-tracking='{tracking_no}']")).to_have_count(0)
    appeal = httpx.get(
        services.url("appeals", f"/api/v1/status/{tracking_no}"),
        params={"token": created.json()["token"]},
        timeout=30,
    ).json()
    assert appeal["state"] == "dispatched" and appeal["unit_name"] == "静安寺道路养护所"

"""The resident's status page and satisfaction callback, against the running services.

The rate limit counts every status request from this machine's address in the running
appeals service (20 a minute by default), so the functional tests here stay well below it
and the rate-limit test comes last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.city import load_city
from shared.embedded import DatabaseProcess
from shared.mongo import make_client
from tests.integration.conftest import RunningServices, reference_city
from tests.integration.test_staff_commands import STAFF, Created, Desk


@pytest.fixture(scope="module")
async def desk(services: RunningServices, mongo: DatabaseProcess) -> AsyncIterator[Desk]:
    path = reference_city()
    client = make_client(mongo.url)
    async with httpx.AsyncClient(timeout=30) as http:
        city = load_city(path / "jurisdiction.yaml", path / "matters.yaml")
        desk = Desk(services, http, client, city)
        await desk.sign_in(STAFF)
        try:
            yield desk
        finally:
            await client.close()


async def status(desk: Desk, appeal: Created, token: str | None = None) -> httpx.Response:
    return await desk.http.get(
        desk.url(f"/api/v1/status/{appeal.tracking_no}"),
        headers={"X-Appeal-Token": token if token is not None else appeal.token},
    )


async def review(desk: Desk, appeal: Created, **body: Any) -> httpx.Response:
    return await desk.http.post(
        desk.url(f"/api/v1/status/{appeal.tracking_no}/review"),
        params={"token": appeal.token},
        json=body,
    )


async def test_status_page_shows_public_progress_and_takes_one_review(desk: Desk) -> None:
    appeal = await desk.dispatched(contact={"name": "李四", "phone": "13900001111"})
    await desk.ok("lead", appeal.id, "sign")
    await desk.ok("lead", appeal.id, "notes", {"text": "内部：该处属于A段", "internal": True})
    await desk.ok("lead", appeal.id, "notes", {"text": "您好，明天上午维修", "internal": False})

    page = await status(desk, appeal)  # 1
    assert page.status_code == 200, page.text
    view = page.json()
    assert view["state"] == "signed" and view["unit_name"] == "静安寺道路养护所"
    assert set(view["deadlines"]) == {"sign_by", "respond_by", "resolve_by"}
    assert [h["type"] for h in view["history"]] == [
        "appeal.received",
        "appeal.dispatched",
        "appeal.signed",
    ]
    assert view["messages"] == [
        {"text": "您好，明天上午维修", "at": view["messages"][0]["at"], "from": "静安寺道路养护所"}
    ]
    text = page.text
    assert "内部" not in text and desk.usernames["lead"] not in text and "actor" not in text
    assert "13900001111" not in text and "李四" not in text
    assert view["can_review"] is False

    by_query = await desk.http.get(  # 2
        desk.url(f"/api/v1/status/{appeal.tracking_no}"), params={"token": appeal.token}
    )
    assert by_query.status_code == 200 and by_query.json()["state"] == "signed"

    early = await review(desk, appeal, satisfaction="satisfied", solved=True)  # 3
    assert early.status_code == 409 and "resolved" in early.json()["detail"]
    await desk.ok("lead", appeal.id, "respond", {"message": "已电话联系"})
    await desk.ok("lead", appeal.id, "resolve", {"result": "路灯已更换", "solved": True})
    resolved = (await status(desk, appeal)).json()  # 4
    assert resolved["can_review"] is True and resolved["result"] == "路灯已更换"
    done = await review(
        desk, appeal, satisfaction="basically_satisfied", solved=True, comment="好"
    )  # 5
    assert done.status_code == 200 and done.json()["state"] == "reviewed"
    again = await review(desk, appeal, satisfaction="unsatisfied", solved=False)  # 6
    assert again.status_code == 409
    detail = await desk.get(appeal.id)
    reviewed = [h for h in detail["history"] if h["type"] == "appeal.reviewed"]
    assert len(reviewed) == 1
    assert reviewed[0]["actor"] == {
        "kind": "resident",
        "id": f"resident:{appeal.id}",
        "role": "resident",
        "unit": None,
    }
    assert reviewed[0]["data"]["satisfaction"] == "basically_satisfied"


async def test_wrong_token_and_unknown_number_look_the_same(desk: Desk) -> None:
    appeal = await desk.create()
    wrong = await status(desk, appeal, token="not-the-token")  # 7
    unknown = await status(desk, Created("x", "20990101" + "12345678", appeal.token))  # 8
    missing = await desk.http.get(desk.url(f"/api/v1/status/{appeal.tracking_no}"))  # 9
    assert wrong.status_code == unknown.status_code == missing.status_code == 404
    assert wrong.json() == unknown.json() == missing.json()
    refused = await review(
        desk, Created(appeal.id, appeal.tracking_no, "nope"), satisfaction="satisfied", solved=True
    )  # 10
    assert refused.status_code == 404


async def test_a_merged_appeal_follows_its_master(desk: Desk) -> None:
    master = await desk.dispatched()
    duplicate = await desk.create()
    await desk.wait_state(duplicate.id, "dispatched")
    for who, path, body in (
        ("lead", "sign", {}),
        ("lead", "return", {"reason": "非本单位"}),
        ("coordinator", "reassign", {"unit": "JA-JAS-UE"}),
        ("other_unit", "sign", {}),
        ("other_unit", "return", {"reason": "也不是"}),
    ):
        await desk.ok(who, duplicate.id, path, body)
    await desk.ok("dispatcher", duplicate.id, "merge", {"master_id": master.id})
    await desk.ok("lead", master.id, "sign")

    view = (await status(desk, duplicate)).json()  # 11
    assert view["merged"] is True and view["own_state"] == "merged"
    assert view["state"] == "signed" and view["unit_name"] == "静安寺道路养护所"
    assert view["history"][-1]["type"] == "appeal.signed" and view["history"][-1]["of_master"]
    assert "appeal.merged" in [h["type"] for h in view["history"]]


async def test_status_lookups_are_rate_limited_per_client(desk: Desk) -> None:
    appeal = await desk.create()
    codes = [(await status(desk, appeal)).status_code for _ in range(25)]
    assert 429 in codes and set(codes) <= {200, 429}
    # once limited, it stays limited for the rest of the minute, whatever is asked
    assert codes[codes.index(429) :] == [429] * (25 - codes.index(429))
    limited = await status(desk, appeal, token="wrong")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1

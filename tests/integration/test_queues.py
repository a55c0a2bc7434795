"""Work queues over HTTP against the running services: a unit's, a street's, the district's.

Appeals are created through intake and dispatched by the real router; where a queue depends on
time ("due soon", "overdue") the test moves one deadline directly in MongoDB — the test's
clock; everything else is the real lifecycle over HTTP. The session database is shared with
the other integration tests, so assertions look for this test's own appeals in the queues
(paging through them) rather than counting whole queues.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.city import load_city
from shared.embedded import DatabaseProcess
from shared.mongo import make_client
from tests.integration.conftest import RunningServices, metric_value, reference_city
from tests.integration.test_staff_commands import LEAD, OTHER_UNIT, STAFF, Desk, wait_for

RM_QUEUES = "/api/v1/queues/units/JA-JAS-RM"


@pytest.fixture(scope="module")
async def desk(services: RunningServices, mongo: DatabaseProcess) -> AsyncIterator[Desk]:
    path = reference_city()
    client = make_client(mongo.url)
    async with httpx.AsyncClient(timeout=30) as http:
        desk = Desk(
            services, http, client, load_city(path / "jurisdiction.yaml", path / "matters.yaml")
        )
        await desk.sign_in(STAFF)
        try:
            yield desk
        finally:
            await client.close()


async def listing(desk: Desk, who: str, path: str, **params: Any) -> httpx.Response:
    return await desk.http.get(desk.url(path), headers=desk.auth(who), params=params)


async def all_items(desk: Desk, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a queue, page by page (bounded)."""
    items: list[dict[str, Any]] = []
    for page in range(1, 21):
        response = await listing(desk, who, path, page=page, size=100, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if page * 100 >= body["total"]:
            assert len(items) == body["total"]
            return items
    raise AssertionError(f"{path} has more than 2000 items")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


async def move_deadline(desk: Desk, appeal_id: str, name: str, at: datetime) -> None:
    """The test's clock (module docstring)."""
    await desk.db.appeals.update_one({"_id": appeal_id}, {"$set": {f"deadlines.{name}": at}})


async def test_a_units_queues_sort_mask_and_page(desk: Desk) -> None:
    now = datetime.now(UTC)
    fresh = (await desk.dispatched(contact={"name": "王小明", "phone": "13812345678"})).id
    late = (await desk.dispatched()).id
    soon = (await desk.dispatched()).id
    await move_deadline(desk, late, "sign_by", now - timedelta(minutes=5))
    await move_deadline(desk, soon, "sign_by", now + timedelta(minutes=30))
    working = await desk.drive("signed")
    paused = await desk.drive("signed")
    await desk.ok("lead", paused, "pause", {"reason": "居民出差"})
    extending = await desk.drive("responded")
    await desk.ok("lead", extending, "extension-request", {"reason": "需协调", "workdays": 3})

    new = await all_items(desk, "lead", f"{RM_QUEUES}/new")
    mine = [i for i in new if i["id"] in {fresh, late, soon}]
    # sorted by the sign deadline: the late one first, then the one due in 30 minutes
    assert ids(mine)[:2] == [late, soon] and fresh in ids(mine)
    # compared as times: the JSON leaves out a zero fraction of a second ("...:11Z")
    dues = [datetime.fromisoformat(i["due_at"]) for i in new]
    assert dues == sorted(dues)
    assert [i["overdue"] for i in mine[:2]] == [True, False]
    descending = await listing(desk, "lead", f"{RM_QUEUES}/new", order="desc", size=100)
    assert ids(descending.json()["items"]) == list(reversed(ids(new)))[:100]

    row = next(i for i in new if i["id"] == fresh)
    assert row["contact"]["phone"] == "138****5678" and row["contact"]["name"] == "王**"
    assert "13812345678" not in str(new) and "王小明" not in str(new)

    assert {working} <= set(ids(await all_items(desk, "lead", f"{RM_QUEUES}/in_progress")))
    waiting = set(ids(await all_items(desk, "lead", f"{RM_QUEUES}/waiting")))
    assert {paused, extending} <= waiting and working not in waiting
    in_progress = set(ids(await all_items(desk, "lead", f"{RM_QUEUES}/in_progress")))
    assert not {paused, extending} & in_progress
    assert late in ids(await all_items(desk, "lead", f"{RM_QUEUES}/overdue"))
    due_soon = ids(await all_items(desk, "lead", f"{RM_QUEUES}/due_soon"))
    assert soon in due_soon and late not in due_soon

    # pages of one do not overlap and add up to the total
    first = (await listing(desk, "lead", f"{RM_QUEUES}/new", page=1, size=1)).json()
    second = (await listing(desk, "lead", f"{RM_QUEUES}/new", page=2, size=1)).json()
    assert first["total"] == second["total"] == len(new)
    assert ids(first["items"]) + ids(second["items"]) == ids(new)[:2]

    counts = (await listing(desk, "lead", RM_QUEUES)).json()["counts"]
    assert counts["new"] == len(new) and counts["overdue"] >= 1

    too_big = await listing(desk, "lead", f"{RM_QUEUES}/new", size=101)
    assert too_big.status_code == 422
    # another unit's staff may not read this unit's queues; the street's viewer may
    assert (await listing(desk, "other_unit", f"{RM_QUEUES}/new")).status_code == 403
    assert (await listing(desk, "viewer", f"{RM_QUEUES}/new")).status_code == 200
    async with httpx.AsyncClient(timeout=10) as stranger:  # no session cookie
        anonymous = await stranger.get(desk.url(f"{RM_QUEUES}/new"))
    assert anonymous.status_code == 401


async def test_the_coordinators_street_view(desk: Desk) -> None:
    returned = await desk.drive("returned")
    extending = await desk.drive("signed")
    await desk.ok("lead", extending, "extension-request", {"reason": "需协调物业", "workdays": 2})
    rental = await desk.create(
        "华山路120号一套房子隔成好几间群租，住了十几个人", matter="housing.group_rental"
    )
    led = await desk.wait_state(rental.id, "dispatched")
    assert led["unit"] == "JA-JAS-OPS" and OTHER_UNIT in led["co_handlers"], led
    await desk.ok(
        "other_unit", rental.id, "notes", {"text": "已上门核查，确有群租", "internal": True}
    )

    street = "/api/v1/queues/streets/JA-JAS"

    async def suggested() -> dict[str, Any] | None:
        rows = await all_items(desk, "coordinator", f"{street}/returns")
        row = next((i for i in rows if i["id"] == returned), None)
        return row if row and row["routing_suggestion"] else None

    row = await wait_for(suggested, what="the router's suggestion on the returned appeal")
    assert row["routing_suggestion"]["unit"] != LEAD  # the returning unit is left out
    assert extending in ids(await all_items(desk, "coordinator", f"{street}/extensions"))
    comprehensive = await all_items(desk, "coordinator", f"{street}/comprehensive")
    progress = next(i for i in comprehensive if i["id"] == rental.id)["co_handler_progress"]
    by_unit = {p["unit"]: p for p in progress}
    assert by_unit[OTHER_UNIT]["notes"] == 1 and by_unit[OTHER_UNIT]["last_note"]
    assert all(p["notes"] == 0 for u, p in by_unit.items() if u != OTHER_UNIT)
    helping = await all_items(desk, "other_unit", f"/api/v1/queues/units/{OTHER_UNIT}/co_handling")
    assert rental.id in ids(helping)
    open_ = set(ids(await all_items(desk, "coordinator", f"{street}/open")))
    assert {returned, extending, rental.id} <= open_
    counts = (await listing(desk, "coordinator", street)).json()["counts"]
    assert counts["returns"] >= 1 and counts["extensions"] >= 1

    assert (await listing(desk, "other_coordinator", f"{street}/open")).status_code == 403
    assert (await listing(desk, "lead", f"{street}/open")).status_code == 403
    # the district sees the street too
    assert (await listing(desk, "dispatcher", f"{street}/returns")).status_code == 200


async def test_the_district_triage_queue_shows_why(desk: Desk) -> None:
    triaged = await desk.drive("triage")
    rows = await all_items(desk, "dispatcher", "/api/v1/queues/districts/JA/triage")
    row = next(i for i in rows if i["id"] == triaged)
    assert row["triage"]["reasons"] and "returned 2 times" in row["triage"]["reasons"][0]
    assert row["holder"] == "JA-DC"
    assert all(i["state"] == "triage" for i in rows)
    forbidden = await listing(desk, "other_dispatcher", "/api/v1/queues/districts/JA/triage")
    assert forbidden.status_code == 403
    assert (
        await listing(desk, "coordinator", "/api/v1/queues/districts/JA/triage")
    ).status_code == 403


async def test_a_suspected_duplicate_is_flagged_and_merging_follows_the_lifecycle(
    desk: Desk,
) -> None:
    where: dict[str, Any] = {
        "address": "华山路300号",
        "location": {"lon": 121.4481, "lat": 31.2190},
    }
    first = await desk.create("华山路300号门口人行道砖块松动翘起", matter="road.damaged", **where)
    await desk.wait_state(first.id, "dispatched")
    nearby: dict[str, Any] = {
        "address": "华山路300号",
        "location": {"lon": 121.4485, "lat": 31.2192},
    }
    again = await desk.create("华山路300号人行道坏了，差点绊倒", matter="road.damaged", **nearby)
    await desk.wait_state(again.id, "dispatched")
    far: dict[str, Any] = {"address": "华山路300号", "location": {"lon": 121.4510, "lat": 31.2215}}
    elsewhere = await desk.create("人行道破损", matter="road.damaged", **far)
    await desk.wait_state(elsewhere.id, "dispatched")

    async def flagged() -> dict[str, Any] | None:
        doc = await desk.db.appeals.find_one({"_id": again.id})
        return doc if doc and doc.get("suspected_duplicate_of") else None

    doc = await wait_for(flagged, what="the duplicate flag")
    assert doc["suspected_duplicate_of"] == first.id
    assert doc["duplicate_suspicion"]["distance_m"] < 150
    assert (await desk.db.appeals.find_one({"_id": elsewhere.id})).get(
        "suspected_duplicate_of"
    ) is None
    rows = await all_items(desk, "lead", f"{RM_QUEUES}/new")
    assert next(i for i in rows if i["id"] == again.id)["suspected_duplicate_of"] == first.id

    # A dispatched duplicate can be merged before its unit starts on it; once signed it cannot.
    signed = await desk.drive("signed")
    refused = await desk.cmd("dispatcher", signed, "merge", {"master_id": first.id})
    assert refused.status_code == 409 and "signed" in refused.json()["detail"]
    merged_dup = await desk.cmd("dispatcher", again.id, "merge", {"master_id": first.id})
    assert merged_dup.status_code == 200 and merged_dup.json()["events"] == ["appeal.merged"]
    # Unknown or closed masters are refused before anything is recorded.
    triaged = await desk.drive("triage")
    missing = await desk.cmd("dispatcher", triaged, "merge", {"master_id": "no-such-appeal"})
    assert missing.status_code == 404
    closed = await desk.drive("closed")
    refused = await desk.cmd("dispatcher", triaged, "merge", {"master_id": closed})
    assert refused.status_code == 409 and "open master" in refused.json()["detail"]
    merged = await desk.cmd("dispatcher", triaged, "merge", {"master_id": first.id})
    assert merged.status_code == 200 and merged.json()["events"] == ["appeal.merged"]


async def test_the_service_answers_queues_from_its_open_work(desk: Desk) -> None:
    """The running service holds its open appeals in memory (adapters/open_work.py) and says
    so on /readyz and /metrics; what it holds is what the database holds open."""
    await desk.dispatched()
    ready = (await desk.http.get(desk.url("/readyz"))).json()
    assert ready["open_work"]["ready"] is True
    metrics = (await desk.http.get(desk.url("/metrics"))).text
    assert metric_value(metrics, "appeals_open_work_ready", {}) == 1.0
    open_states = ["triage", "dispatched", "signed", "responded", "returned", "resolved"]
    open_states += ["reviewed", "received"]
    stored_open = await desk.db.appeals.count_documents({"state": {"$in": open_states}})
    held = metric_value(metrics, "appeals_open_work_appeals", {})
    # Other tests' appeals may move between the two reads; none are deleted.
    assert abs(held - stored_open) <= 3 and held > 0, (held, stored_open)

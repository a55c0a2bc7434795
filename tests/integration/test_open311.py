"""Open311 GeoReport v2 against the running appeals service (with routing, broker, database).

Every endpoint in JSON and XML over HTTP, the filters and the spec's limits, the API key, and
two third-party clients from PyPI: ``georeport`` (reads: it has no POST) and ``civicbot``'s
Open311 client (POST, with its own checks of our service list and definition).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from civicbot import Endpoint, HttpTransport, Open311Client
from civicbot.http import RateLimiter
from georeport import GeoReport
from pymongo import MongoClient

from shared.city import City, load_city
from shared.embedded import DatabaseProcess
from tests.integration.conftest import (
    OPEN311_TEST_KEY,
    RunningServices,
    poll,
    reference_city,
)

PHONE = "13912345678"


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(reference_city() / "jurisdiction.yaml", reference_city() / "matters.yaml")


@pytest.fixture(scope="module")
def base(services: RunningServices) -> str:
    return services.url("appeals", "/open311/v2")


@pytest.fixture
def db(services: RunningServices, mongo: DatabaseProcess) -> Iterator[Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)
    try:
        yield client[services.mongo_db]
    finally:
        client.close()


def spec_error(response: httpx.Response, status: int, words: str) -> None:
    """The response is the spec's error list, in the format the path asked for."""
    assert response.status_code == status, response.text
    if response.request.url.path.endswith(".xml"):
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        assert root.findtext("error/code") == str(status)
        description = root.findtext("error/description") or ""
    else:
        [error] = response.json()
        assert set(error) == {"code", "description"}
        assert error["code"] == status
        description = error["description"]
    assert words in description, description


def xml_items(response: httpx.Response, root: str, item: str) -> list[dict[str, str | None]]:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    tree = ET.fromstring(response.content)
    assert tree.tag == root
    return [{child.tag: child.text for child in element} for element in tree.findall(item)]


def post_form(http: httpx.Client, base: str, fmt: str = "json", **fields: str) -> httpx.Response:
    return http.post(f"{base}/requests.{fmt}", data={"api_key": OPEN311_TEST_KEY, **fields})


def food_complaint(marker: str) -> dict[str, str]:
    return {
        "service_code": "market.food_safety",
        "description": f"延安中路1650号小吃店卫生很差，吃了拉肚子 {marker}",
        "address_string": "延安中路1650号",
    }


# ---------------------------------------------------------------------------- services


def test_services_list_the_handled_matters_in_json_and_xml(
    base: str, city: City, http: httpx.Client
) -> None:
    handled = [m for m in city.catalog.matters if not m.out_of_scope]
    as_json = http.get(f"{base}/services.json")
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    services = as_json.json()
    assert [s["service_code"] for s in services] == [m.code for m in handled]
    food = next(s for s in services if s["service_code"] == "market.food_safety")
    assert food["service_name"] == city.catalog.get("market.food_safety").name  # type: ignore[union-attr]
    assert food["type"] == "realtime" and food["metadata"] is True
    assert food["group"] == "market" and food["keywords"]

    items = xml_items(http.get(f"{base}/services.xml"), "services", "service")
    assert [s["service_code"] for s in items] == [m.code for m in handled]
    assert all(s["metadata"] == "true" for s in items)
    assert "oos.fire" not in {s["service_code"] for s in items}


def test_service_definition_and_unknown_services(base: str, http: httpx.Client) -> None:
    definition = http.get(f"{base}/services/road.street_light.json").json()
    assert definition["service_code"] == "road.street_light"
    [attribute] = definition["attributes"]
    assert attribute["code"] == "details" and attribute["datatype"] == "text"
    assert attribute["required"] is False and attribute["variable"] is True

    as_xml = http.get(f"{base}/services/road.street_light.xml")
    root = ET.fromstring(as_xml.content)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "road.street_light"
    assert root.findtext("attributes/attribute/code") == "details"

    for fmt in ("json", "xml"):
        spec_error(http.get(f"{base}/services/no.such_matter.{fmt}"), 404, "no.such_matter")
        spec_error(http.get(f"{base}/services/oos.fire.{fmt}"), 404, "oos.fire")
    spec_error(http.get(f"{base}/services.html"), 404, "format")


# ---------------------------------------------------------------------------- POST refusals


def test_post_without_a_valid_api_key_is_403_and_stores_nothing(
    base: str, http: httpx.Client, db: Any
) -> None:
    marker = f"m-{uuid.uuid4().hex}"
    form = food_complaint(marker)
    for fmt in ("json", "xml"):
        spec_error(http.post(f"{base}/requests.{fmt}", data=form), 403, "api_key is required")
        spec_error(
            http.post(f"{base}/requests.{fmt}", data={**form, "api_key": "x" * 30}),
            403,
            "api_key is not valid",
        )
        spec_error(
            http.post(f"{base}/requests.{fmt}", json={**form, "api_key": OPEN311_TEST_KEY[:-1]}),
            403,
            "not valid",
        )
    assert db.appeals.count_documents({"text": {"$regex": marker}}) == 0


def test_bad_posts_are_400_naming_the_field_and_store_nothing(
    base: str, http: httpx.Client, db: Any
) -> None:
    marker = f"m-{uuid.uuid4().hex}"
    good = food_complaint(marker)
    cases: list[tuple[dict[str, str], str]] = [
        ({**good, "service_code": "no.such_matter"}, "no.such_matter"),
        ({**good, "service_code": "oos.fire"}, "119"),
        ({k: v for k, v in good.items() if k != "description"}, "description is required"),
        ({k: v for k, v in good.items() if k != "address_string"}, "location is required"),
        ({**good, "phone": "call me"}, "phone"),
        ({**good, "attribute[colour]": "red"}, "attribute[colour]"),
    ]
    for form, words in cases:
        for fmt in ("json", "xml"):
            spec_error(post_form(http, base, fmt, **form), 400, words)
    spec_error(
        http.post(
            f"{base}/requests.json",
            content=b"<request/>",
            headers={"content-type": "application/xml"},
        ),
        400,
        "content type",
    )
    assert db.appeals.count_documents({"text": {"$regex": marker}}) == 0


# ---------------------------------------------------------------------------- POST and read back


def test_posted_request_is_dispatched_and_shown_without_personal_data(
    base: str, city: City, http: httpx.Client, db: Any
) -> None:
    marker = f"m-{uuid.uuid4().hex}"
    created = post_form(
        http,
        base,
        **food_complaint(marker),
        email="resident@example.org",
        phone=PHONE,
        first_name="三",
        last_name="张",
        **{"attribute[details]": "中午十二点左右"},
    )
    assert created.status_code == 201, created.text
    [receipt] = created.json()
    tracking_no, token = receipt["service_request_id"], receipt["token"]
    assert tracking_no and token and tracking_no in receipt["service_notice"]

    stored = db.appeals.find_one({"tracking_no": tracking_no})
    assert stored["channel"] == "open311" and stored["_id"] == token
    assert stored["matter_hint"] == "market.food_safety"
    assert "中午十二点左右" in stored["text"]
    assert stored["contact"]["phone"] == PHONE and stored["contact"]["name"] == "张三"

    def dispatched() -> dict[str, Any] | None:
        response = http.get(f"{base}/requests/{tracking_no}.json")
        assert response.status_code == 200, response.text
        [request] = response.json()
        return request if request["agency_responsible"] else None

    request = poll(dispatched, timeout=60, what="the Open311 request dispatched")
    assert db.appeals.find_one({"_id": token})["state"] == "dispatched"
    assert request["agency_responsible"] == city.unit_name("JA-JAS-MS")
    assert request["status"] == "open"
    assert "Dispatched" in request["status_notes"]
    assert request["service_code"] == "market.food_safety"
    assert request["service_request_id"] == tracking_no
    assert request["address"] == "延安中路1650号"
    assert request["expected_datetime"] and request["requested_datetime"]
    assert request["updated_datetime"] >= request["requested_datetime"]

    as_xml = http.get(f"{base}/requests/{tracking_no}.xml")
    [shown] = xml_items(as_xml, "service_requests", "request")
    assert shown["service_request_id"] == tracking_no
    assert shown["agency_responsible"] == city.unit_name("JA-JAS-MS")
    for body in (http.get(f"{base}/requests/{tracking_no}.json").text, as_xml.text):
        assert PHONE not in body and "resident@example.org" not in body and "张三" not in body

    for fmt in ("json", "xml"):
        spec_error(http.get(f"{base}/requests/0000000000.{fmt}"), 404, "0000000000")
        spec_error(http.get(f"{base}/tokens/no-such-token.{fmt}"), 404, "no-such-token")
    assert http.get(f"{base}/tokens/{token}.json").json() == [
        {"service_request_id": tracking_no, "token": token}
    ]
    [answer] = xml_items(http.get(f"{base}/tokens/{token}.xml"), "service_requests", "request")
    assert answer == {"service_request_id": tracking_no, "token": token}


def test_json_body_with_coordinates_and_xml_answer(
    base: str, city: City, http: httpx.Client, db: Any
) -> None:
    marker = f"m-{uuid.uuid4().hex}"
    response = http.post(
        f"{base}/requests.xml",
        json={
            "api_key": OPEN311_TEST_KEY,
            "service_code": "road.street_light",
            "description": f"路灯不亮 {marker}",
            "lat": 31.2235,
            "long": 121.4462,
            "attribute": {"details": "整条路都黑的"},
        },
    )
    assert response.status_code == 201, response.text
    [receipt] = xml_items(response, "service_requests", "request")
    tracking_no = receipt["service_request_id"]
    assert tracking_no and receipt["token"]
    stored = db.appeals.find_one({"tracking_no": tracking_no})
    assert stored["location"] == {"lon": 121.4462, "lat": 31.2235}
    assert "整条路都黑的" in stored["text"]
    [request] = http.get(f"{base}/requests/{tracking_no}.json").json()
    assert (request["lat"], request["long"]) == (31.2235, 121.4462)


def test_idempotency_key_answers_the_first_request_again(base: str, http: httpx.Client) -> None:
    key = uuid.uuid4().hex
    form = {"api_key": OPEN311_TEST_KEY, **food_complaint(key)}
    first = http.post(f"{base}/requests.json", data=form, headers={"Idempotency-Key": key})
    second = http.post(f"{base}/requests.json", data=form, headers={"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == second.json()[0]["service_request_id"]


# ---------------------------------------------------------------------------- GET requests


def test_request_filters(base: str, http: httpx.Client) -> None:
    marker = f"m-{uuid.uuid4().hex}"
    food = post_form(http, base, **food_complaint(marker)).json()[0]["service_request_id"]
    light = post_form(
        http,
        base,
        service_code="road.street_light",
        description=f"华山路30号路灯坏了一个礼拜 {marker}",
        address_string="华山路30号",
    ).json()[0]["service_request_id"]

    def ids(params: dict[str, str], fmt: str = "json") -> list[str]:
        response = http.get(f"{base}/requests.{fmt}", params=params)
        assert response.status_code == 200, response.text
        if fmt == "xml":
            items = xml_items(response, "service_requests", "request")
            return [str(i["service_request_id"]) for i in items]
        return [r["service_request_id"] for r in response.json()]

    both = f"{food},{light}"
    assert set(ids({"service_request_id": both})) == {food, light}
    assert set(ids({"service_request_id": both}, "xml")) == {food, light}
    # The id list overrides the other filters.
    assert set(ids({"service_request_id": both, "status": "closed"})) == {food, light}

    recent = ids({})
    assert food in recent and light in recent
    assert recent.index(light) < recent.index(food), "newest first"
    lights = ids({"service_code": "road.street_light"})
    assert light in lights and food not in lights
    assert {food, light} <= set(ids({"service_code": "road.street_light,market.food_safety"}))
    assert light in ids({"status": "open"}) and light not in ids({"status": "closed"})
    assert light in ids({"status": "open,closed"}, "xml")

    now = datetime.now(UTC)
    window = {
        "start_date": (now - timedelta(hours=1)).isoformat(),
        "end_date": (now + timedelta(hours=1)).isoformat(),
    }
    assert {food, light} <= set(ids(window))
    before = {
        "start_date": (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert not {food, light} & set(ids(before))
    # Only a start: the 90 days from it, which include now.
    assert light in ids({"start_date": (now - timedelta(days=2)).isoformat()})


def test_request_limits_are_refused_with_the_spec_error(base: str, http: httpx.Client) -> None:
    for fmt in ("json", "xml"):
        spec_error(
            http.get(
                f"{base}/requests.{fmt}",
                params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"},
            ),
            400,
            "at most 90 days",
        )
        too_many = ",".join(f"{i:016d}" for i in range(1001))
        spec_error(
            http.get(f"{base}/requests.{fmt}", params={"service_request_id": too_many}),
            400,
            "at most 1000",
        )
        spec_error(http.get(f"{base}/requests.{fmt}?status=pending"), 400, "open or closed")
        spec_error(http.get(f"{base}/requests.{fmt}?start_date=tuesday"), 400, "ISO 8601")
    ok = http.get(
        f"{base}/requests.json",
        params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"},
    )
    assert ok.status_code == 200, ok.text


def test_at_most_1000_results_newest_first(base: str, http: httpx.Client, db: Any) -> None:
    # 1001 closed appeals in a window of their own, long past, written straight to the
    # database: posting them would take minutes and route them all.
    batch = uuid.uuid4().hex[:12]
    start = datetime(2001, 1, 1, tzinfo=UTC)
    docs = [
        {
            "_id": f"cap-{batch}-{i:04d}",
            "tracking_no": f"CAP{batch}{i:04d}",
            "state": "closed",
            "channel": "open311",
            "text": f"cap test {batch}",
            "address": "华山路1号",
            "location": None,
            "matter": "road.street_light",
            "matter_hint": None,
            "contact": {"phone": PHONE},
            "received_at": start + timedelta(seconds=i),
            "updated_at": start + timedelta(seconds=i),
            "version": 1,
            "outbox_pending": False,
        }
        for i in range(1001)
    ]
    # The window and service-code queries have their indexes (made at the service's start).
    assert {"open311_received_at", "open311_matter_received_at"} <= set(
        db.appeals.index_information()
    )
    db.appeals.insert_many(docs)
    try:
        response = http.get(
            f"{base}/requests.json",
            params={"start_date": "2001-01-01T00:00:00Z", "end_date": "2001-01-02T00:00:00Z"},
        )
        assert response.status_code == 200, response.text
        got = [r["service_request_id"] for r in response.json()]
        assert len(got) == 1000
        assert got[0] == f"CAP{batch}1000" and got[-1] == f"CAP{batch}0001"
        assert got == sorted(got, reverse=True)
        assert PHONE not in response.text
        assert all(r["status"] == "closed" for r in response.json())
    finally:
        db.appeals.delete_many({"_id": {"$regex": f"^cap-{batch}-"}})


# ---------------------------------------------------------------------------- real clients


def test_georeport_client_reads_services_and_requests(base: str, http: httpx.Client) -> None:
    tracking_no = post_form(http, base, **food_complaint(uuid.uuid4().hex)).json()[0][
        "service_request_id"
    ]
    for output_format in ("json", "xml"):
        client = GeoReport(base, output_format=output_format)
        services = client.get_service_list()
        codes = {s["service_code"] for s in services}
        assert "market.food_safety" in codes and "oos.fire" not in codes

        definition = client.get_service_definition("market.food_safety")
        assert definition["service_code"] == "market.food_safety"
        attributes = definition["attributes"]
        if output_format == "xml":  # xmltodict: one <attribute> is a dict, not a list
            attributes = [attributes["attribute"]]
        assert attributes[0]["code"] == "details"

        request = client.get_service_request(tracking_no)
        assert request["service_request_id"] == tracking_no
        assert request["service_code"] == "market.food_safety"

        listed = client.get_service_requests(service_request_id=tracking_no)
        if output_format == "xml":  # one <request> again
            listed = [listed]
        assert [r["service_request_id"] for r in listed] == [tracking_no]
        recent = client.get_service_requests(service_code="market.food_safety", status="open")
        assert tracking_no in {r["service_request_id"] for r in recent}


def test_civicbot_client_posts_a_request_and_reads_it_back(base: str) -> None:
    """georeport cannot POST; civicbot's Open311 client can, after checking our service list
    and the service's definition itself (validate_remote)."""
    client = Open311Client(
        Endpoint(id="appeals-test", name="appeals under test", base_url=base, write=True),
        transport=HttpTransport(timeout=10, rate_limiter=RateLimiter(min_interval=0)),
    )
    marker = uuid.uuid4().hex
    prepared = client.create_request(
        "road.manhole_cover",
        dry_run=False,
        confirm="SEND",
        api_key=OPEN311_TEST_KEY,
        validate_remote=True,
        address_string="华山路120号",
        description=f"华山路120号门口人行道上的窨井盖不见了 {marker}",
        attributes={"details": "晚上很危险"},
        first_name="Ann",
        last_name="Lee",
        email="ann@example.org",
    )
    [receipt] = prepared.response
    tracking_no = receipt["service_request_id"]
    assert client.get_token(receipt["token"]) == [
        {"service_request_id": tracking_no, "token": receipt["token"]}
    ]
    request = client.get_request(tracking_no)
    assert request is not None
    assert request["service_code"] == "road.manhole_cover"
    assert marker in request["description"] and "晚上很危险" in request["description"]
    assert "ann@example.org" not in str(request)

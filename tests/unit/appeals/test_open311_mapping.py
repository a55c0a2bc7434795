"""The pure Open311 mapping: services, requests, statuses, POST fields, filters and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.appeals.domain.lifecycle import STATES
from services.appeals.domain.open311 import (
    MAX_ID_LIST,
    MAX_SPAN,
    OPEN311_STATUS,
    Open311Problem,
    created_receipt,
    error_list,
    newest_first,
    parse_datetime,
    parse_request_query,
    render_xml,
    service_definition,
    service_list,
    service_request,
    status_notes,
    submission_from_fields,
    token_answer,
)
from shared.city import City, load_city
from shared.settings import DEMO_CITY

NOW = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


def in_scope_code(city: City) -> str:
    return next(m.code for m in city.catalog.matters if not m.out_of_scope)


def out_of_scope_code(city: City) -> str:
    return next(m.code for m in city.catalog.matters if m.out_of_scope)


def appeal_doc(city: City, **changes: Any) -> dict[str, Any]:
    unit = next(iter(city.units))
    doc: dict[str, Any] = {
        "_id": "a1b2c3",
        "tracking_no": "2026050112345678",
        "state": "dispatched",
        "channel": "open311",
        "text": "路灯不亮",
        "address": "华山路120号",
        "location": {"lon": 121.44, "lat": 31.21},
        "matter": in_scope_code(city),
        "matter_hint": None,
        "unit": unit,
        "contact": {"name": "张三", "phone": "13800000000", "email": "z@example.org"},
        "token_hash": "f" * 64,
        "received_at": NOW,
        "updated_at": NOW + timedelta(minutes=5),
        "deadlines": {"resolve_by": NOW + timedelta(days=5)},
    }
    doc.update(changes)
    return doc


# ---------------------------------------------------------------------------- services


def test_service_list_has_every_handled_matter_and_no_out_of_scope_one(city: City) -> None:
    services = service_list(city.catalog)
    codes = [s["service_code"] for s in services]
    handled = [m.code for m in city.catalog.matters if not m.out_of_scope]
    assert codes == handled
    assert out_of_scope_code(city) not in codes
    first = services[0]
    matter = city.catalog.get(first["service_code"])
    assert matter is not None
    assert set(first) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert first["service_name"] == matter.name
    assert first["type"] == "realtime"
    assert first["metadata"] is True
    assert first["keywords"].split(",") == list(matter.keywords)
    assert first["group"] == matter.code.split(".")[0]


def test_service_definition_names_the_details_attribute(city: City) -> None:
    matter = city.catalog.matters[0]
    definition = service_definition(matter)
    assert definition["service_code"] == matter.code
    [attribute] = definition["attributes"]
    assert attribute["code"] == "details"
    assert attribute["datatype"] == "text"
    assert attribute["variable"] is True and attribute["required"] is False
    assert attribute["order"] == 1
    assert attribute["description"] and attribute["datatype_description"]


# ---------------------------------------------------------------------------- statuses


def test_every_lifecycle_state_has_an_open311_status_and_words() -> None:
    assert set(OPEN311_STATUS) == set(STATES)
    for state in STATES:
        assert status_notes(state) != state, state


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("received", "open"),
        ("triage", "open"),
        ("dispatched", "open"),
        ("signed", "open"),
        ("responded", "open"),
        ("returned", "open"),
        ("resolved", "closed"),
        ("reviewed", "closed"),
        ("closed", "closed"),
        ("transferred", "closed"),
        ("merged", "closed"),
    ],
)
def test_states_map_to_open_or_closed(city: City, state: str, status: str) -> None:
    assert service_request(appeal_doc(city, state=state), city)["status"] == status


def test_transfer_notes_name_the_number() -> None:
    assert "119" in status_notes("transferred", "119")


# ---------------------------------------------------------------------------- requests


def test_service_request_shows_the_appeal_without_personal_data(city: City) -> None:
    doc = appeal_doc(city)
    request = service_request(doc, city)
    matter = city.catalog.get(doc["matter"])
    assert matter is not None
    assert request["service_request_id"] == doc["tracking_no"]
    assert request["service_code"] == doc["matter"]
    assert request["service_name"] == matter.name
    assert request["agency_responsible"] == city.unit_name(doc["unit"])
    assert request["agency_responsible"]
    assert request["requested_datetime"] == "2026-05-01T08:30:00Z"
    assert request["updated_datetime"] == "2026-05-01T08:35:00Z"
    assert request["expected_datetime"] == "2026-05-06T08:30:00Z"
    assert (request["lat"], request["long"]) == (31.21, 121.44)
    assert request["address"] == "华山路120号"
    assert "派" in request["status_notes"] and "Dispatched" in request["status_notes"]
    shown = repr(request)
    for secret in ("13800000000", "z@example.org", "张三", "f" * 64):
        assert secret not in shown


def test_public_feed_shows_web_words_masked_and_no_hotline_words(city: City) -> None:
    said = "我家门口路灯不亮，电话13912345678"
    web = service_request(appeal_doc(city, channel="web", text=said), city)
    assert web["description"] is not None
    assert "路灯不亮" in web["description"] and "13912345678" not in web["description"]
    hotline = service_request(appeal_doc(city, channel="hotline", text=said), city)
    assert hotline["description"] is None
    assert "我家门口" not in repr(hotline) and hotline["service_name"]  # the matter still shows


def test_unrouted_request_shows_the_submitters_service_code(city: City) -> None:
    code = in_scope_code(city)
    doc = appeal_doc(
        city, state="received", matter=None, matter_hint=code, unit=None, deadlines=None
    )
    request = service_request(doc, city)
    assert request["service_code"] == code
    assert request["agency_responsible"] is None
    assert request["expected_datetime"] is None


def test_newest_first_orders_and_caps() -> None:
    docs = [{"_id": str(i), "received_at": NOW + timedelta(minutes=i)} for i in range(5)]
    assert [d["_id"] for d in newest_first(docs, limit=3)] == ["4", "3", "2"]


def test_receipt_and_token_answer() -> None:
    receipt = created_receipt("2026050100000001", "abc", replayed=False)
    assert receipt["service_request_id"] == "2026050100000001"
    assert receipt["token"] == "abc"
    assert "2026050100000001" in receipt["service_notice"]
    assert set(receipt) == {"service_request_id", "token", "service_notice", "account_id"}
    assert token_answer("abc", "2026050100000001") == {
        "service_request_id": "2026050100000001",
        "token": "abc",
    }


# ---------------------------------------------------------------------------- POST fields


def fields(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


def test_form_becomes_an_intake_with_contact_and_details(city: City) -> None:
    code = in_scope_code(city)
    form = fields(
        service_code=code,
        description="路灯不亮",
        lat="31.21",
        long="121.44",
        email="a@example.org",
        phone="13800000000",
        first_name="三",
        last_name="张",
        api_key="ignored-here",
        jurisdiction_id="anything",
    )
    form["attribute[details]"] = ["晚上七点以后"]
    submission = submission_from_fields(form, city)
    assert submission.matter == code
    assert submission.text.startswith("路灯不亮") and "晚上七点以后" in submission.text
    assert submission.location is not None
    assert (submission.location.lat, submission.location.lon) == (31.21, 121.44)
    assert submission.contact is not None
    assert submission.contact.name == "张三"
    assert submission.contact.email == "a@example.org"
    assert submission.contact.phone == "13800000000"


def test_address_string_or_address_id_is_a_place(city: City) -> None:
    code = in_scope_code(city)
    by_string = submission_from_fields(
        fields(service_code=code, description="x", address_string="华山路1号"), city
    )
    by_id = submission_from_fields(
        fields(service_code=code, description="x", address_id="华山路2号"), city
    )
    assert by_string.address == "华山路1号" and by_id.address == "华山路2号"
    english = submission_from_fields(
        fields(
            service_code=code,
            description="x",
            address_string="a",
            first_name="Ann",
            last_name="Lee",
        ),
        city,
    )
    assert english.contact is not None and english.contact.name == "Ann Lee"


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"description": "x", "address_string": "a"}, "service_code is required"),
        ({"service_code": "no.such", "description": "x", "address_string": "a"}, "no.such"),
        ({"service_code": "{code}", "address_string": "a"}, "description is required"),
        ({"service_code": "{code}", "description": "x"}, "location is required"),
        ({"service_code": "{code}", "description": "x", "lat": "31"}, "together"),
        ({"service_code": "{code}", "description": "x", "lat": "x", "long": "1"}, "lat"),
        ({"service_code": "{code}", "description": "x", "lat": "95", "long": "1"}, "lat"),
        ({"service_code": "{code}", "description": "x", "lat": "nan", "long": "1"}, "lat"),
        (
            {"service_code": "{code}", "description": "x", "address_string": "a", "phone": "?"},
            "phone",
        ),
        (
            {"service_code": "{code}", "description": "x", "address_string": "a", "email": "no"},
            "email",
        ),
        (
            {"service_code": "{code}", "description": "y" * 5000, "address_string": "a"},
            "description",
        ),
        (
            {
                "service_code": "{code}",
                "description": "x",
                "address_string": "a",
                "attribute[x]": "1",
            },
            "attribute[x]",
        ),
    ],
)
def test_bad_forms_are_400_naming_the_field(city: City, form: dict[str, str], words: str) -> None:
    form = {k: v.replace("{code}", in_scope_code(city)) for k, v in form.items()}
    with pytest.raises(Open311Problem) as caught:
        submission_from_fields(fields(**form), city)
    assert caught.value.status == 400
    assert words in caught.value.description


def test_out_of_scope_service_is_refused_with_the_number(city: City) -> None:
    code = out_of_scope_code(city)
    matter = city.catalog.get(code)
    assert matter is not None and matter.transfer_number
    with pytest.raises(Open311Problem) as caught:
        submission_from_fields(fields(service_code=code, description="x", address_id="a"), city)
    assert caught.value.status == 400
    assert matter.transfer_number in caught.value.description


# ---------------------------------------------------------------------------- filters


def query(**given: str) -> Any:
    params: dict[str, str | None] = {
        "service_request_id": None,
        "service_code": None,
        "start_date": None,
        "end_date": None,
        "status": None,
    }
    params.update(given)
    return parse_request_query(now=NOW, **params)


def test_window_defaults_to_the_last_90_days() -> None:
    q = query()
    assert (q.start, q.end) == (NOW - MAX_SPAN, NOW)
    only_start = query(start_date="2026-01-01T00:00:00Z")
    assert only_start.end - only_start.start == MAX_SPAN
    only_end = query(end_date="2026-01-01T00:00:00+08:00")
    assert only_end.end == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert only_end.end - only_end.start == MAX_SPAN


def test_window_of_more_than_90_days_is_refused() -> None:
    ok = query(start_date="2026-01-01T00:00:00Z", end_date="2026-04-01T00:00:00Z")
    assert ok.end - ok.start == timedelta(days=90)
    with pytest.raises(Open311Problem) as caught:
        query(start_date="2026-01-01T00:00:00Z", end_date="2026-04-01T00:00:01Z")
    assert caught.value.status == 400 and "90 days" in caught.value.description
    with pytest.raises(Open311Problem, match="after"):
        query(start_date="2026-02-01T00:00:00Z", end_date="2026-01-01T00:00:00Z")
    with pytest.raises(Open311Problem, match="ISO 8601"):
        query(start_date="yesterday")


def test_unencoded_plus_in_a_zone_is_understood() -> None:
    assert parse_datetime("2026-01-01T08:00:00 08:00", "x") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_datetime("2026-01-01T08:00:00", "x") == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_status_filter_selects_our_states() -> None:
    assert set(query(status="open").states()) == {
        "received",
        "triage",
        "dispatched",
        "signed",
        "responded",
        "returned",
    }
    assert set(query(status="closed").states()) == {
        "resolved",
        "reviewed",
        "closed",
        "transferred",
        "merged",
    }
    assert query(status="open,closed").states() == []
    with pytest.raises(Open311Problem, match="open or closed"):
        query(status="pending")


def test_id_list_overrides_the_rest_and_is_capped() -> None:
    q = query(service_request_id="a, b,a", status="bogus", start_date="bogus")
    assert q.ids == ("a", "b")
    too_many = ",".join(str(i) for i in range(MAX_ID_LIST + 1))
    with pytest.raises(Open311Problem) as caught:
        query(service_request_id=too_many)
    assert caught.value.status == 400 and str(MAX_ID_LIST) in caught.value.description


# ---------------------------------------------------------------------------- XML


def test_services_xml_is_well_formed_with_the_spec_names(city: City) -> None:
    root = ET.fromstring(render_xml("services", service_list(city.catalog)))
    assert root.tag == "services"
    items = root.findall("service")
    assert len(items) == len(service_list(city.catalog))
    assert items[0].findtext("metadata") == "true"
    assert items[0].findtext("service_name") == city.catalog.matters[0].name


def test_definition_and_request_xml(city: City) -> None:
    definition = ET.fromstring(
        render_xml("service_definition", service_definition(city.catalog.matters[0]))
    )
    assert definition.tag == "service_definition"
    attribute = definition.find("attributes/attribute")
    assert attribute is not None and attribute.findtext("code") == "details"
    assert attribute.findtext("required") == "false"

    body = render_xml("service_requests", [service_request(appeal_doc(city), city)])
    assert body.startswith(b"<?xml")
    request = ET.fromstring(body).find("request")
    assert request is not None
    assert request.findtext("service_request_id") == "2026050112345678"
    assert request.findtext("lat") == "31.21"
    assert request.findtext("media_url") is None or request.findtext("media_url") == ""
    assert request.find("media_url") is not None


def test_errors_xml_and_json_shape() -> None:
    assert error_list(403, "api_key is required") == [
        {"code": 403, "description": "api_key is required"}
    ]
    root = ET.fromstring(render_xml("errors", error_list(400, 'a < b & "c"')))
    assert root.tag == "errors"
    assert root.findtext("error/code") == "400"
    assert root.findtext("error/description") == 'a < b & "c"'

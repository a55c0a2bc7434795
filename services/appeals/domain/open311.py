"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) in the city's own terms.

Pure mapping between the spec's vocabulary and ours, used by ``entrypoints/open311.py``:

- a catalog matter (事项) is an Open311 *service*; its code is the ``service_code``;
- an appeal (诉求) is a *service request*; its ``service_request_id`` is the appeal's
  ``tracking_no`` — the number residents are told and read back to the hotline, so one
  number works on every channel (the internal appeal id stays internal, except as the
  POST's ``token``, see below);
- our lifecycle states collapse onto the spec's ``open``/``closed`` (``OPEN311_STATUS``);
  ``status_notes`` says the real state in words, in Chinese and English;
- a POST's form fields become an ``AppealCreate`` (``submission_from_fields``); personal data
  (e-mail, phone, name) goes into the appeal's contact and is never part of a service request
  as shown by ``service_request``.

Also here: parsing and checking the GET requests filters (``parse_request_query``: the spec's
90-day window and 1000-result cap) and the XML rendering of the spec's documents
(``render_xml``), so both can be unit-tested without a server.

Errors are ``Open311Problem(status, description)``; the entrypoint renders them as the spec's
``[{code, description}]`` list.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from services.appeals.domain.intake import AppealCreate, Contact, Location
from services.appeals.domain.queues import mask_text
from shared.city import City, Matter, MatterCatalog

__all__ = [
    "FORMATS",
    "MAX_ID_LIST",
    "MAX_RESULTS",
    "MAX_SPAN",
    "OPEN311_STATUS",
    "PUBLIC_TEXT_CHANNELS",
    "SERVICE_ATTRIBUTES",
    "Open311Problem",
    "RequestQuery",
    "created_receipt",
    "error_list",
    "format_datetime",
    "newest_first",
    "offered_matters",
    "parse_datetime",
    "parse_request_query",
    "public_description",
    "render_xml",
    "service_definition",
    "service_list",
    "service_request",
    "status_notes",
    "submission_from_fields",
    "token_answer",
]

Format = Literal["json", "xml"]
FORMATS: tuple[Format, ...] = ("json", "xml")
Status = Literal["open", "closed"]

# The spec: "may not span more than 90 days" and "a maximum of 1000 requests".
MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
# An id list longer than the result cap could never be answered whole.
MAX_ID_LIST = MAX_RESULTS

# A resolved appeal is finished from the resident's side (the unit says it is fixed), so it
# is "closed" to Open311 clients even though the city still reviews and closes it.
OPEN311_STATUS: dict[str, Status] = {
    "received": "open",
    "triage": "open",
    "dispatched": "open",
    "signed": "open",
    "responded": "open",
    "returned": "open",
    "resolved": "closed",
    "reviewed": "closed",
    "closed": "closed",
    "transferred": "closed",
    "merged": "closed",
}

_STATE_NOTES: dict[str, str] = {
    "received": "已受理，等待派单 / Received, waiting to be dispatched",
    "triage": "区12345调度中心人工分拨中 / Being assigned by the district dispatch centre",
    "dispatched": "已派发至承办单位 / Dispatched to the responsible unit",
    "signed": "承办单位已签收 / Accepted by the responsible unit",
    "responded": "承办单位已响应，正在办理 / The responsible unit has responded and is on it",
    "returned": "承办单位退回，正在重新派单 / Returned by the unit, being dispatched again",
    "resolved": "已办结，等待回访 / Resolved, waiting for the resident's review",
    "reviewed": "已办结并回访 / Resolved and reviewed with the resident",
    "closed": "已结案 / Closed",
    "transferred": "不属于12345受理范围，已转{number} / Outside the hotline's remit, "
    "transferred to {number}",
    "merged": "已与同一事项的其他诉求合并办理 / Merged with another appeal on the same matter",
}

# Every service takes the same optional free-text attribute: the catalog has no per-matter
# questions, and "details" lets a client pass what its form asked beyond the description.
SERVICE_ATTRIBUTES: tuple[dict[str, Any], ...] = (
    {
        "variable": True,
        "code": "details",
        "datatype": "text",
        "required": False,
        "datatype_description": "补充说明，如具体位置、发生时间 / "
        "Further details, such as the exact spot and when it happens",
        "order": 1,
        "description": "补充说明 / Further details",
    },
)

# Element names of the spec's XML documents: a list's element -> the element of each item.
_XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}


class Open311Problem(Exception):
    """A request the spec says to refuse: rendered as ``[{code, description}]``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def error_list(status: int, description: str) -> list[dict[str, Any]]:
    """The spec's error document."""
    return [{"code": status, "description": description}]


# ---------------------------------------------------------------------------- services


def offered_matters(catalog: MatterCatalog) -> list[Matter]:
    """Matters an Open311 client may choose: out-of-scope ones (110/119/120) are not ours."""
    return [m for m in catalog.matters if not m.out_of_scope]


def service_list(catalog: MatterCatalog) -> list[dict[str, Any]]:
    """``GET services``: one entry per matter the city handles."""
    return [_service(m) for m in offered_matters(catalog)]


def _service(matter: Matter) -> dict[str, Any]:
    description = matter.name
    if matter.examples:
        description = f"{matter.name}。例如：{matter.examples[0]}"
    return {
        "service_code": matter.code,
        "service_name": matter.name,
        "description": description,
        "metadata": bool(SERVICE_ATTRIBUTES),
        "type": "realtime",
        "keywords": ",".join(matter.keywords),
        # The code's first segment is the catalog's own grouping (noise., sanitation., ...).
        "group": matter.code.split(".", 1)[0],
    }


def service_definition(matter: Matter) -> dict[str, Any]:
    """``GET services/{code}``: the attributes a request for this matter may carry."""
    return {"service_code": matter.code, "attributes": [dict(a) for a in SERVICE_ATTRIBUTES]}


# ---------------------------------------------------------------------------- requests


def format_datetime(value: datetime | None) -> str | None:
    """W3C date-time in UTC (``2026-05-01T08:30:00Z``); naive values are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_notes(state: str, transfer_to: str | None = None) -> str:
    """The real state in words, Chinese then English."""
    note = _STATE_NOTES.get(state)
    if note is None:
        return state
    return note.format(number=transfer_to or "110/119/120")


# Channels whose residents wrote the text themselves into a public interface (the web form, an
# Open311 client): a 311 feed publishes what was filed there. A hotline call is told to an
# operator in confidence, often with the caller's own circumstances in it; its words stay
# internal and the public feed shows only the matter, place and progress.
PUBLIC_TEXT_CHANNELS = frozenset({"web", "open311"})


def public_description(doc: Mapping[str, Any]) -> str | None:
    """The text the public feed shows: the resident's own words with phone numbers masked,
    or None for a hotline call."""
    if doc.get("channel") not in PUBLIC_TEXT_CHANNELS:
        return None
    return mask_text(doc.get("text") or "")


def service_request(doc: Mapping[str, Any], city: City) -> dict[str, Any]:
    """An appeal document as an Open311 service request (no personal data, by construction:
    only the fields named here are read)."""
    matter_code = doc.get("matter") or doc.get("matter_hint")
    matter = city.catalog.get(matter_code) if matter_code else None
    location = doc.get("location") or {}
    deadlines = doc.get("deadlines") or {}
    routing = doc.get("routing") or {}
    state = str(doc.get("state"))
    return {
        "service_request_id": doc["tracking_no"],
        "status": OPEN311_STATUS.get(state, "open"),
        "status_notes": status_notes(state, routing.get("transfer")),
        "service_name": matter.name if matter else None,
        "service_code": matter_code,
        "description": public_description(doc),
        "agency_responsible": city.unit_name(doc.get("unit")),
        "service_notice": None,
        "requested_datetime": format_datetime(doc.get("received_at")),
        "updated_datetime": format_datetime(doc.get("updated_at")),
        "expected_datetime": format_datetime(deadlines.get("resolve_by")),
        "address": doc.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("lon"),
        "media_url": None,
    }


def created_receipt(tracking_no: str, appeal_id: str, *, replayed: bool) -> dict[str, Any]:
    """The answer to a POST: the request id at once, and the appeal id as the token.

    The spec lets a server answer with a token when it cannot create the request at once; we
    always can, so ``service_request_id`` is final. ``token`` is the appeal's internal id and
    ``GET tokens/{token}`` maps it back, so clients written for either flow work.
    """
    notice = (
        f"已受理，查询编号 {tracking_no} / Received; your tracking number is {tracking_no}"
        if not replayed
        else f"此前已受理，查询编号 {tracking_no} / Already received as {tracking_no}"
    )
    return {
        "service_request_id": tracking_no,
        "token": appeal_id,
        "service_notice": notice,
        "account_id": None,
    }


def token_answer(token: str, tracking_no: str) -> dict[str, Any]:
    """``GET tokens/{token}``."""
    return {"service_request_id": tracking_no, "token": token}


# ---------------------------------------------------------------------------- POST form

Fields = Mapping[str, Sequence[str]]

# Where our validation errors point, in the Open311 field names the client sent.
_FIELD_NAMES = {
    "text": "description",
    "address": "address_string",
    "location": "lat/long",
    "lat": "lat",
    "lon": "long",
    "matter": "service_code",
    "phone": "phone",
    "email": "email",
    "name": "first_name/last_name",
}


def _one(fields: Fields, name: str) -> str | None:
    values = [v for v in fields.get(name, ()) if v is not None]
    if not values:
        return None
    value = str(values[-1]).strip()
    return value or None


def submission_from_fields(fields: Fields, city: City) -> AppealCreate:
    """A POST requests form (or JSON body, flattened to the same fields) as an intake.

    ``description`` is required here (the spec makes it optional): routing classifies the
    words, and an appeal without them cannot be placed with a unit. Attribute answers and a
    media URL are appended to the text so staff and the router see them.
    """
    service_code = _one(fields, "service_code")
    if service_code is None:
        raise Open311Problem(400, "service_code is required")
    matter = city.catalog.get(service_code)
    if matter is None:
        raise Open311Problem(400, f"service_code {service_code!r} is not a service of this city")
    if matter.out_of_scope:
        raise Open311Problem(
            400,
            f"service_code {service_code!r} is not handled by 12345: call {matter.transfer_number}",
        )
    description = _one(fields, "description")
    if description is None:
        raise Open311Problem(400, "description is required: say what is wrong, in words")

    lat_text, long_text = _one(fields, "lat"), _one(fields, "long")
    location: Location | None = None
    if (lat_text is None) != (long_text is None):
        raise Open311Problem(400, "lat and long must be given together")
    if lat_text is not None and long_text is not None:
        lat, lon = _coordinate(lat_text, "lat"), _coordinate(long_text, "long")
        try:
            location = Location(lat=lat, lon=lon)
        except ValidationError as exc:
            raise _problem(exc) from None
    # No separate address repository here: an address id is the gazetteer's address text.
    address = _one(fields, "address_string") or _one(fields, "address_id")
    if location is None and address is None:
        raise Open311Problem(
            400, "a location is required: lat and long, address_string or address_id"
        )

    extra_lines = []
    known_attributes = {a["code"] for a in SERVICE_ATTRIBUTES}
    for code, values in _attributes(fields).items():
        if code not in known_attributes:
            raise Open311Problem(
                400, f"attribute[{code}] is not an attribute of service {service_code!r}"
            )
        answer = "，".join(v.strip() for v in values if v and v.strip())
        if answer:
            extra_lines.append(f"补充说明 (details)：{answer}")
    media_url = _one(fields, "media_url")
    if media_url:
        extra_lines.append(f"附件 (media)：{media_url}")
    text = "\n".join([description, *extra_lines])

    contact = _contact(fields)
    try:
        return AppealCreate(
            text=text, address=address, location=location, matter=matter.code, contact=contact
        )
    except ValidationError as exc:
        raise _problem(exc) from None


def _coordinate(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Open311Problem(400, f"{name} must be a decimal number, got {text!r}") from None
    if not math.isfinite(value):
        raise Open311Problem(400, f"{name} must be a finite number")
    return value


def _attributes(fields: Fields) -> dict[str, list[str]]:
    """``attribute[code]`` and ``attribute[code][]`` fields, by code."""
    found: dict[str, list[str]] = {}
    for name, values in fields.items():
        if not name.startswith("attribute[") or not name.endswith("]"):
            continue
        code = name[len("attribute[") :].removesuffix("[]").removesuffix("]")
        found.setdefault(code, []).extend(str(v) for v in values)
    return found


def _contact(fields: Fields) -> Contact | None:
    first, last = _one(fields, "first_name"), _one(fields, "last_name")
    parts = [p for p in (first, last) if p]
    # Chinese names are written family name first, without a space; others first-last.
    if parts and all(p.isascii() for p in parts):
        name: str | None = " ".join(parts)
    else:
        name = "".join(reversed(parts)) or None
    email, phone = _one(fields, "email"), _one(fields, "phone")
    if name is None and email is None and phone is None:
        return None
    try:
        return Contact(name=name, email=email, phone=phone)
    except ValidationError as exc:
        raise _problem(exc) from None


def _problem(exc: ValidationError) -> Open311Problem:
    messages = []
    for err in exc.errors():
        where = [_FIELD_NAMES.get(str(part), str(part)) for part in err["loc"]]
        field = where[-1] if where else "request"
        message = str(err["msg"]).removeprefix("Value error, ")
        messages.append(f"{field}: {message}")
    return Open311Problem(400, "; ".join(messages))


# ---------------------------------------------------------------------------- GET requests


@dataclass(frozen=True)
class RequestQuery:
    """Checked filters of ``GET requests``.

    ``ids`` set means the id list overrides the other filters, as the spec says.
    """

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    def states(self) -> list[str]:
        """Our states behind the requested Open311 statuses (empty: any)."""
        if not self.statuses or set(self.statuses) == {"open", "closed"}:
            return []
        return sorted(s for s, status in OPEN311_STATUS.items() if status in self.statuses)


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))


def parse_datetime(value: str, name: str) -> datetime:
    """An ISO 8601 / W3C date-time; one without a zone is taken as UTC."""
    try:
        # An unencoded "+08:00" in a query string arrives as " 08:00".
        parsed = datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip()))
    except ValueError:
        raise Open311Problem(
            400, f"{name} must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_request_query(
    *,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
    now: datetime,
) -> RequestQuery:
    """Check the filters; the window defaults to the last 90 days and may span no more.

    With only one end given, the window is the 90 days from (or to) it.
    """
    ids = _split(service_request_id)
    if len(ids) > MAX_ID_LIST:
        raise Open311Problem(
            400, f"service_request_id lists {len(ids)} ids; at most {MAX_ID_LIST} per call"
        )
    if ids:
        return RequestQuery(ids=ids)
    statuses = _split(status)
    for value in statuses:
        if value not in ("open", "closed"):
            raise Open311Problem(400, f"status must be open or closed, got {value!r}")
    start = parse_datetime(start_date, "start_date") if start_date else None
    end = parse_datetime(end_date, "end_date") if end_date else None
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if start > end:
        raise Open311Problem(400, "start_date is after end_date")
    if end - start > MAX_SPAN:
        raise Open311Problem(
            400,
            f"start_date to end_date spans {(end - start).days} days; at most "
            f"{MAX_SPAN.days} days per call",
        )
    return RequestQuery(
        service_codes=_split(service_code),
        statuses=tuple(statuses),  # type: ignore[arg-type]
        start=start,
        end=end,
    )


def newest_first(docs: Iterable[Mapping[str, Any]], limit: int = MAX_RESULTS) -> list[Any]:
    """Appeals ordered by the time they were received, newest first, at most ``limit``."""
    ordered = sorted(docs, key=lambda d: (d.get("received_at"), d.get("_id")), reverse=True)
    return ordered[:limit]


# ---------------------------------------------------------------------------- XML


def render_xml(root: str, value: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """A spec XML document: a list under ``root`` (items named by ``_XML_ITEMS``) or one object.

    ``render_xml("services", [...])`` -> ``<services><service>...</service></services>``;
    ``render_xml("service_definition", {...})`` -> ``<service_definition>...``.
    """
    element = ET.Element(root)
    _fill(element, root, value)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return body


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, str(key)), str(key), child)
    elif isinstance(value, list | tuple):
        item = _XML_ITEMS.get(name, "item")
        for child in value:
            _fill(ET.SubElement(element, item), item, child)
    else:
        element.text = _xml_text(value)


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)

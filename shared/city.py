"""The city as data: jurisdiction (区 -> 街道 -> 社区, units) and matter catalog (事项清单).

Every service that needs to know who exists or what a matter is loads these two files; nothing
about a particular city is hard-coded. The formats are those of the reference city's README
(``jurisdiction.yaml`` and ``matters.yaml``). Loading validates the whole tree and fails with a
``CityDataError`` that names the file and the offending entry, so a bad catalog never reaches a
running router half-loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "CODE_PATTERN",
    "City",
    "CityDataError",
    "Community",
    "Department",
    "District",
    "Jurisdiction",
    "Matter",
    "MatterCatalog",
    "Street",
    "TimeLimits",
    "Unit",
    "load_city",
    "load_jurisdiction",
    "load_matters",
]

CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]*$"
MATTER_CODE_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"
Urgency = Literal["urgent", "normal", "advice"]


class CityDataError(ValueError):
    """A jurisdiction or matter-catalog file is malformed; the message names file and entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- jurisdiction


class AddressRule(_Strict):
    """One gazetteer entry: a road (optionally a house-number range) or a named estate."""

    road: str | None = None
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None
    estate: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> AddressRule:
        if (self.road is None) == (self.estate is None):
            raise ValueError("an address rule names exactly one of 'road' or 'estate'")
        if self.estate is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("an estate rule takes no house-number range")
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError(f"house-number range {self.from_}..{self.to} is empty")
        return self


class Unit(_Strict):
    """Anything inside a street that can be assigned work (a street office or a 派出机构)."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    dispatched_by: str | None = None


class Department(_Strict):
    """A district functional department (职能部门)."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)


class Community(_Strict):
    """社区: the smallest level; owns a gazetteer slice and a boundary polygon."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)
    addresses: tuple[AddressRule, ...] = ()
    aliases: tuple[str, ...] = ()
    boundary: tuple[tuple[float, float], ...] = ()

    @field_validator("boundary")
    @classmethod
    def _ring(cls, ring: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if ring and len(ring) < 3:
            raise ValueError("a boundary ring needs at least 3 [lon, lat] points")
        for lon, lat in ring:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"boundary point [{lon}, {lat}] is not a WGS-84 [lon, lat]")
        return ring


class Street(_Strict):
    """街道: holds the comprehensive-management authority (综合管理权) over its units."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)
    units: tuple[Unit, ...]
    communities: tuple[Community, ...] = ()

    def unit_of_kind(self, kind: str) -> Unit | None:
        """The street's unit of a given kind, if it has one."""
        return next((u for u in self.units if u.kind == kind), None)

    @property
    def coordinator(self) -> Unit | None:
        """The street's city_ops unit (城市运行管理中心), which leads comprehensive matters."""
        return self.unit_of_kind("city_ops")


class District(_Strict):
    """区: ranks its streets; its dispatch centre triages what cannot be routed automatically."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)
    dispatch_center: str = Field(pattern=CODE_PATTERN)
    departments: tuple[Department, ...] = ()
    streets: tuple[Street, ...]

    def department_of_kind(self, kind: str) -> Department | None:
        """The district department of a given kind, if there is one."""
        return next((d for d in self.departments if d.kind == kind), None)


class CityInfo(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)


class Jurisdiction(_Strict):
    """The whole organisation tree of one city."""

    city: CityInfo
    districts: tuple[District, ...]

    @model_validator(mode="after")
    def _codes_unique_and_linked(self) -> Jurisdiction:
        seen: set[str] = set()
        department_codes: set[str] = set()
        for district in self.districts:
            for code in [district.code, district.dispatch_center]:
                _claim(seen, code)
            for department in district.departments:
                _claim(seen, department.code)
                department_codes.add(department.code)
            for street in district.streets:
                _claim(seen, street.code)
                for unit in street.units:
                    _claim(seen, unit.code)
                for community in street.communities:
                    _claim(seen, community.code)
        for district in self.districts:
            for street in district.streets:
                for unit in street.units:
                    if unit.dispatched_by and unit.dispatched_by not in department_codes:
                        raise ValueError(
                            f"unit {unit.code} is dispatched_by unknown department "
                            f"{unit.dispatched_by}"
                        )
        return self

    def streets(self) -> Iterator[tuple[District, Street]]:
        """Every street with its district."""
        for district in self.districts:
            for street in district.streets:
                yield district, street

    def communities(self) -> Iterator[tuple[District, Street, Community]]:
        """Every community with its street and district."""
        for district, street in self.streets():
            for community in street.communities:
                yield district, street, community


def _claim(seen: set[str], code: str) -> None:
    if code in seen:
        raise ValueError(f"code {code} is used twice")
    seen.add(code)


# ---------------------------------------------------------------------------- matter catalog


class TimeLimits(_Strict):
    """Time limits of one urgency: sign (签收), first response, resolution (办结)."""

    sign_minutes: int = Field(gt=0)
    respond_hours: int = Field(gt=0)
    resolve_workdays: int = Field(gt=0)


class Matter(_Strict):
    """One kind of appeal in the catalog, who owns it and how urgent it is."""

    code: str = Field(pattern=MATTER_CODE_PATTERN)
    name: str = Field(min_length=1)
    urgency: Urgency
    owner: str | None
    co_handlers: tuple[str, ...] = ()
    comprehensive: bool = False
    scope: Literal["street", "district"] = "street"
    out_of_scope: bool = False
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    # 职责下沉准入: a street-level duty added after the baseline names its district approval.
    approval: str | None = None

    @model_validator(mode="after")
    def _owner_rules(self) -> Matter:
        if self.out_of_scope:
            if self.owner is not None:
                raise ValueError("an out_of_scope matter has no owner")
            if not re.search(r"110|119|120", self.name):
                raise ValueError("an out_of_scope matter's name carries the number (110/119/120)")
        elif self.owner is None:
            raise ValueError("a matter that is not out_of_scope needs an owner unit kind")
        if self.comprehensive and self.owner != "city_ops":
            raise ValueError("a comprehensive matter is led by the street's city_ops unit")
        return self

    @property
    def transfer_number(self) -> str | None:
        """110 / 119 / 120 for out-of-scope matters, else None."""
        if not self.out_of_scope:
            return None
        match = re.search(r"(110|119|120)", self.name)
        return match.group(1) if match else None


class MatterCatalog(_Strict):
    """事项清单: the urgency table and every matter."""

    urgency: dict[Urgency, TimeLimits]
    matters: tuple[Matter, ...]

    @model_validator(mode="after")
    def _complete(self) -> MatterCatalog:
        missing = {"urgent", "normal", "advice"} - set(self.urgency)
        if missing:
            raise ValueError(f"urgency table lacks {sorted(missing)}")
        seen: set[str] = set()
        for matter in self.matters:
            if matter.code in seen:
                raise ValueError(f"matter code {matter.code} is used twice")
            seen.add(matter.code)
        return self

    def get(self, code: str) -> Matter | None:
        """The matter with this code, or None."""
        return self.by_code().get(code)

    def by_code(self) -> dict[str, Matter]:
        """All matters keyed by code."""
        return {m.code: m for m in self.matters}

    def limits(self, urgency: Urgency) -> TimeLimits:
        """The time limits of an urgency."""
        return self.urgency[urgency]


# ---------------------------------------------------------------------------- the pair


@dataclass(frozen=True)
class City:
    """A jurisdiction and a catalog checked against each other, with look-up tables."""

    jurisdiction: Jurisdiction
    catalog: MatterCatalog
    units: dict[str, tuple[District, Street | None, Unit | Department]] = field(
        default_factory=dict, repr=False
    )
    streets: dict[str, tuple[District, Street]] = field(default_factory=dict, repr=False)
    communities: dict[str, tuple[District, Street, Community]] = field(
        default_factory=dict, repr=False
    )
    districts: dict[str, District] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls, jurisdiction: Jurisdiction, catalog: MatterCatalog, *, source: str = "catalog"
    ) -> City:
        """Cross-check the two files and index them."""
        city = cls(jurisdiction, catalog)
        for district in jurisdiction.districts:
            city.districts[district.code] = district
            for department in district.departments:
                city.units[department.code] = (district, None, department)
            for street in district.streets:
                city.streets[street.code] = (district, street)
                for unit in street.units:
                    city.units[unit.code] = (district, street, unit)
                for community in street.communities:
                    city.communities[community.code] = (district, street, community)
        street_kinds = {u.kind for _, s in jurisdiction.streets() for u in s.units}
        district_kinds = {d.kind for dist in jurisdiction.districts for d in dist.departments}
        for matter in catalog.matters:
            if matter.out_of_scope:
                continue
            known = district_kinds if matter.scope == "district" else street_kinds
            for kind in (matter.owner, *matter.co_handlers):
                if kind not in known:
                    raise CityDataError(
                        f"{source}: matter {matter.code}: unit kind {kind!r} exists in no "
                        f"{'district department' if matter.scope == 'district' else 'street'}"
                    )
        return city

    def unit_name(self, code: str | None) -> str | None:
        """A unit's, department's or dispatch centre's display name."""
        if code is None:
            return None
        if code in self.units:
            return self.units[code][2].name
        for district in self.jurisdiction.districts:
            if district.dispatch_center == code:
                return f"{district.name}12345调度中心"
        return None

    def district_of_street(self, street: str) -> District | None:
        """The district a street belongs to."""
        found = self.streets.get(street)
        return found[0] if found else None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CityDataError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CityDataError(f"{path}: not valid YAML: {exc}") from exc


def _explain(path: Path, exc: ValidationError, raw: Any) -> CityDataError:
    """Turn a pydantic error into one naming the file and the entry by its code."""
    lines = []
    for err in exc.errors()[:5]:
        loc = err["loc"]
        where = _describe_location(raw, loc)
        lines.append(f"{where}: {err['msg']}")
    more = f" (+{len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
    return CityDataError(f"{path}: " + "; ".join(lines) + more)


def _describe_location(raw: Any, loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    node = raw
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            parts.append(str(key))
            node = None
            continue
        if isinstance(key, int) and isinstance(node, dict) and "code" in node:
            parts[-1:] = [f"{parts[-1] if parts else ''}[{node['code']}]"]
        else:
            parts.append(str(key))
    return ".".join(parts) or "(top level)"


def load_jurisdiction(path: str | Path) -> Jurisdiction:
    """Read and validate a jurisdiction.yaml."""
    path = Path(path)
    raw = _read_yaml(path)
    try:
        return Jurisdiction.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, exc, raw) from None


def load_matters(path: str | Path) -> MatterCatalog:
    """Read and validate a matters.yaml."""
    path = Path(path)
    raw = _read_yaml(path)
    try:
        return MatterCatalog.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, exc, raw) from None


def load_city(jurisdiction: str | Path, matters: str | Path) -> City:
    """Load both files and check that every matter's unit kinds exist in the jurisdiction."""
    return City.build(load_jurisdiction(jurisdiction), load_matters(matters), source=str(matters))

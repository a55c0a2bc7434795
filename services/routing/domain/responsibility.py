"""The responsibility matrix (职责清单): given a matter and a street, who handles it.

* ordinary matter -> the street's unit of the owner kind (a street office or a dispatched
  agency, 派出机构);
* ``scope: district`` -> the district department of the owner kind;
* ``comprehensive: true`` -> the street's coordinator (city_ops, 城市运行管理中心) leads, and the
  street's units of the co-handler kinds assist (综合管理权);
* ``out_of_scope: true`` -> no unit: the caller is transferred to 110/119/120.

Units that returned the appeal (退单) are excluded; when the only unit able to lead is excluded,
there is no assignment and the appeal goes to the district dispatch centre.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.city import City, Matter

__all__ = ["Assignment", "assign"]


@dataclass(frozen=True)
class Assignment:
    """The lead unit and co-handlers for one matter in one street, or why there are none."""

    unit: str | None
    co_handlers: tuple[str, ...]
    rule: str
    transfer: str | None = None


def assign(
    city: City, matter: Matter, street_code: str | None, excluded: frozenset[str] = frozenset()
) -> Assignment:
    """Apply the matrix to a matter in a street (street may be None for district matters)."""
    if matter.out_of_scope:
        number = matter.transfer_number
        return Assignment(None, (), f"{matter.code} is out of scope: transfer to {number}", number)
    found = city.streets.get(street_code) if street_code else None
    if found is None:
        return Assignment(None, (), "the appeal is not placed in a street")
    district, street = found
    if matter.scope == "district":
        department = district.department_of_kind(matter.owner or "")
        if department is None:
            return Assignment(
                None, (), f"district {district.code} has no department of kind {matter.owner}"
            )
        if department.code in excluded:
            return Assignment(None, (), f"{department.code} returned the appeal already")
        return Assignment(
            department.code,
            (),
            f"scope district: {matter.code} -> {district.code} department {matter.owner} "
            f"({department.code})",
        )
    lead = street.unit_of_kind(matter.owner or "")
    if lead is None:
        return Assignment(None, (), f"street {street.code} has no unit of kind {matter.owner}")
    if lead.code in excluded:
        return Assignment(None, (), f"{lead.code} ({matter.owner}) returned the appeal already")
    co_handlers: list[str] = []
    for kind in matter.co_handlers:
        unit = street.unit_of_kind(kind)
        if unit is not None and unit.code not in excluded and unit.code != lead.code:
            co_handlers.append(unit.code)
    if matter.comprehensive:
        rule = (
            f"comprehensive: {matter.code} led by the street coordinator {lead.code}, "
            f"assisted by {', '.join(co_handlers) or 'nobody'}"
        )
    else:
        rule = f"owner {matter.owner}: {matter.code} -> {lead.code} in {street.code}"
    return Assignment(lead.code, tuple(co_handlers), rule)

"""The catalog-owner's rule for new street duties (职责下沉准入).

No department may push a new duty onto a street without district approval: a catalog change
that gives streets a matter they did not have must name the approval reference in the
matter's ``approval`` field. ``check_catalog_change`` lists every violation; loaders and the
``routing replay`` command refuse or flag a catalog with any.
"""

from __future__ import annotations

from shared.city import Matter, MatterCatalog

__all__ = ["check_catalog_change"]


def _street_duty(matter: Matter) -> bool:
    return not matter.out_of_scope and matter.scope == "street"


def _approved(matter: Matter) -> bool:
    return bool(matter.approval and matter.approval.strip())


def check_catalog_change(old: MatterCatalog, new: MatterCatalog) -> list[str]:
    """Errors of a catalog change: new or moved street duties without an approval reference."""
    before = {m.code: m for m in old.matters}
    errors: list[str] = []
    for matter in new.matters:
        if not _street_duty(matter) or _approved(matter):
            continue
        previous = before.get(matter.code)
        if previous is None:
            errors.append(
                f"{matter.code}: new street-scope matter (owner {matter.owner}) needs the "
                "district approval reference in 'approval' (职责下沉准入)"
            )
        elif not _street_duty(previous):
            was = "out of scope" if previous.out_of_scope else f"district {previous.owner}"
            errors.append(
                f"{matter.code}: moves from {was} to street unit kind {matter.owner} without "
                "an 'approval' reference (职责下沉准入)"
            )
        elif previous.owner != matter.owner:
            errors.append(
                f"{matter.code}: owner changes from {previous.owner} to street unit kind "
                f"{matter.owner} without an 'approval' reference (职责下沉准入)"
            )
    return errors

"""Which appeal histories teach the router: a person's dispatch that the unit then signed."""

from __future__ import annotations

from services.routing.domain.corrections import correction_from_history, fingerprint
from services.routing.domain.router import LabelledAppeal


def dispatched(by: str, matter: str, unit: str) -> dict:
    return {"type": "appeal.dispatched", "data": {"by": by, "matter": matter, "lead_unit": unit}}


SIGNED = {"type": "appeal.signed", "data": {}}
RETURNED = {"type": "appeal.returned", "data": {"reason": "not ours"}}


def test_a_dispatchers_choice_signed_by_the_unit_is_a_label() -> None:
    example = correction_from_history(
        "楼道里堆满杂物",
        "华山路1号",
        {"lon": 121.44, "lat": 31.22},
        [dispatched("dispatcher", "safety.fire_lane", "JA-JAS-SA"), SIGNED],
    )
    assert example is not None
    assert (example.matter, example.unit) == ("safety.fire_lane", "JA-JAS-SA")
    assert example.location == (121.44, 31.22)


def test_the_routers_own_choice_teaches_nothing() -> None:
    assert (
        correction_from_history("x", None, None, [dispatched("router", "a.b", "U"), SIGNED]) is None
    )


def test_a_choice_that_was_returned_again_is_not_a_label() -> None:
    history = [dispatched("coordinator", "a.b", "U1"), SIGNED, RETURNED]
    assert correction_from_history("x", None, None, history) is None


def test_the_last_confirmed_correction_wins() -> None:
    history = [
        dispatched("router", "a.b", "U0"),
        SIGNED,
        RETURNED,
        dispatched("coordinator", "c.d", "U1"),
        SIGNED,
    ]
    example = correction_from_history("x", None, None, history)
    assert example is not None and (example.matter, example.unit) == ("c.d", "U1")


def test_an_unsigned_correction_is_not_yet_a_label() -> None:
    assert correction_from_history("x", None, None, [dispatched("dispatcher", "a.b", "U")]) is None


def test_the_fingerprint_of_corrections_ignores_order_and_sees_a_changed_label() -> None:
    one = LabelledAppeal(text="河里全是死鱼", matter="water.drainage_blockage", unit="JA-JAS-WA")
    two = LabelledAppeal(text="路灯不亮", matter="road.street_light", address="华山路120号")
    assert fingerprint([one, two]) == fingerprint([two, one])
    assert fingerprint([one]) != fingerprint([one, two])
    relabelled = LabelledAppeal(text="河里全是死鱼", matter="env.factory_air", unit="JA-JAS-WA")
    assert fingerprint([relabelled]) != fingerprint([one])
    assert fingerprint([]) == fingerprint(())

"""A day of appeals, compressed: what the benchmark sends, when, and through which channel.

Pure and deterministic for a given seed. Content comes from the city's own data: the labelled
appeals (text with address) and the matter catalog's examples placed at gazetteer addresses,
so the router sees the wording and places it would see in production. Send times follow a
hotline day (quiet night, a morning peak around 10:00 and an evening peak around 20:00)
squeezed into the run's duration; ``flat`` spreads them evenly (the soak).

Duplicates, 5% by default, come in the two kinds intake must cope with:
- ``resend``: the same request again with the same Idempotency-Key (a client retry), which
  intake must answer with the stored appeal, not a new one;
- ``near_duplicate``: a second resident reporting the same matter at the same place in other
  words, a new appeal that the appeals service may flag as a suspected duplicate.
"""

from __future__ import annotations

import bisect
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.city import City

__all__ = [
    "DAY_WEIGHTS",
    "AppealSample",
    "PlannedAppeal",
    "peak_factor",
    "plan_day",
    "samples_from_city",
    "send_times",
]

Channel = Literal["web", "hotline"]
Kind = Literal["new", "resend", "near_duplicate"]

# Relative call volume of each hour of a 12345 hotline day, 00:00 to 23:00: near silence
# before dawn, the biggest peak mid-morning, a second one after dinner.
DAY_WEIGHTS: tuple[float, ...] = (
    0.15, 0.10, 0.08, 0.07, 0.07, 0.10, 0.25, 0.55, 1.00, 1.45, 1.55, 1.30,
    0.90, 1.00, 1.20, 1.20, 1.10, 1.00, 1.00, 1.30, 1.40, 1.10, 0.60, 0.30,
)  # fmt: skip


@dataclass(frozen=True)
class AppealSample:
    """Something a resident might say, where, and the matter an operator would pick."""

    text: str
    address: str | None
    location: tuple[float, float] | None
    matter: str | None


@dataclass(frozen=True)
class PlannedAppeal:
    """One request of the run: when (seconds from the start), where to, and what."""

    at: float
    channel: Channel
    body: dict[str, Any]
    idempotency_key: str
    kind: Kind = "new"
    # For a resend or near-duplicate, the index of the appeal it repeats.
    of: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The intake endpoint of the channel."""
        return "/api/v1/hotline/appeals" if self.channel == "hotline" else "/api/v1/appeals"


def _addresses(city: City) -> list[tuple[str, tuple[float, float] | None]]:
    """Every gazetteer entry as a concrete address, with its community's centre."""
    found: list[tuple[str, tuple[float, float] | None]] = []
    rng = random.Random(7)
    for _district, _street, community in city.jurisdiction.communities():
        centre = None
        if community.boundary:
            lons = [p[0] for p in community.boundary]
            lats = [p[1] for p in community.boundary]
            centre = (sum(lons) / len(lons), sum(lats) / len(lats))
        for rule in community.addresses:
            if rule.estate is not None:
                found.append((f"{rule.estate}{rng.randint(1, 30)}号楼", centre))
            else:
                low = rule.from_ or 1
                high = rule.to or low + 200
                found.append((f"{rule.road}{rng.randint(low, high)}号", centre))
    return found


def samples_from_city(city: City, labelled: Path | None = None) -> list[AppealSample]:
    """The labelled appeals (if given) plus every catalog example at a gazetteer address."""
    samples: list[AppealSample] = []
    if labelled is not None and labelled.is_file():
        for line in labelled.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            location = row.get("location")
            expected = row.get("expected") or {}
            if not row.get("address") and not location:
                continue  # intake needs an address or a location
            samples.append(
                AppealSample(
                    text=row["text"],
                    address=row.get("address"),
                    location=(location["lon"], location["lat"]) if location else None,
                    matter=expected.get("matter"),
                )
            )
    addresses = _addresses(city)
    rng = random.Random(11)
    for matter in city.catalog.matters:
        for example in matter.examples:
            address, centre = rng.choice(addresses)
            samples.append(
                AppealSample(
                    text=f"{address}，{example}",
                    address=address,
                    location=centre if rng.random() < 0.2 else None,
                    matter=matter.code,
                )
            )
    if not samples:
        raise ValueError("the city has no catalog examples and no labelled appeals to send")
    return samples


def send_times(
    count: int, duration: float, *, shape: Literal["day", "flat"], rng: random.Random
) -> list[float]:
    """``count`` send times in [0, duration), sorted, following the day's volume or flat."""
    if count <= 0:
        return []
    if shape == "flat":
        step = duration / count
        return [i * step for i in range(count)]
    # Inverse-CDF sampling of the piecewise-constant hourly intensity: each draw lands in an
    # hour with probability proportional to its weight, uniformly within it.
    total = sum(DAY_WEIGHTS)
    cumulative: list[float] = []
    acc = 0.0
    for weight in DAY_WEIGHTS:
        acc += weight / total
        cumulative.append(acc)
    hour_len = duration / len(DAY_WEIGHTS)
    times = []
    for _ in range(count):
        u = rng.random()
        hour = min(bisect.bisect_left(cumulative, u), len(DAY_WEIGHTS) - 1)
        times.append((hour + rng.random()) * hour_len)
    times.sort()
    return times


def peak_factor(shape: Literal["day", "flat"]) -> float:
    """Peak rate over mean rate for a shape."""
    if shape == "flat":
        return 1.0
    return max(DAY_WEIGHTS) / (sum(DAY_WEIGHTS) / len(DAY_WEIGHTS))


def _body(
    sample: AppealSample, channel: Channel, rng: random.Random, call_id: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"text": sample.text}
    if sample.address:
        body["address"] = sample.address
    if sample.location:
        body["location"] = {"lon": sample.location[0], "lat": sample.location[1]}
    phone = f"138{rng.randrange(10**8):08d}"
    if channel == "hotline":
        # No operator_id: the service takes the operator from the login the request carries.
        body["call_id"] = call_id
        body["caller_phone"] = phone
        # An operator picks a matter for about half the calls; web residents rarely do.
        if sample.matter and rng.random() < 0.5:
            body["matter"] = sample.matter
    elif rng.random() < 0.6:
        body["contact"] = {"phone": phone}
    return body


def plan_day(
    samples: Sequence[AppealSample],
    *,
    rate: float,
    duration: float,
    shape: Literal["day", "flat"] = "day",
    duplicate_share: float = 0.05,
    hotline_share: float = 0.55,
    seed: int = 12345,
) -> list[PlannedAppeal]:
    """The run's requests in send order: ``rate`` per second on average over ``duration``.

    ``duplicate_share`` of the requests repeat an earlier one: three fifths of them resends
    with the same Idempotency-Key, two fifths near-duplicates (same place, same matter, other
    words). Each repeat follows its original by a short delay, as a retry or a neighbour would.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    rng = random.Random(seed)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    times = send_times(round(rate * duration), duration, shape=shape, rng=rng)
    by_matter: dict[str, list[AppealSample]] = {}
    for sample in samples:
        if sample.matter:
            by_matter.setdefault(sample.matter, []).append(sample)
    planned: list[PlannedAppeal] = []
    originals: list[int] = []
    for i, at in enumerate(times):
        repeat = bool(originals) and rng.random() < duplicate_share
        if repeat:
            of = rng.choice(originals[-200:])  # repeats follow their original closely
            original = planned[of]
            if rng.random() < 0.6:
                planned.append(
                    PlannedAppeal(
                        at=at,
                        channel=original.channel,
                        body=original.body,
                        idempotency_key=original.idempotency_key,
                        kind="resend",
                        of=of,
                        extra=original.extra,
                    )
                )
                continue
            base = original.extra["sample"]
            others = [s for s in by_matter.get(base.matter or "", []) if s.text != base.text]
            words = rng.choice(others).text if others else f"还是{base.text}"
            # The second report names the same address; only the complaint's words differ.
            sample = AppealSample(
                text=words, address=base.address, location=base.location, matter=base.matter
            )
            kind: Kind = "near_duplicate"
        else:
            sample = rng.choice(samples)
            of = None
            kind = "new"
        channel: Channel = "hotline" if rng.random() < hotline_share else "web"
        key = f"bench-{run}-{i}"
        planned.append(
            PlannedAppeal(
                at=at,
                channel=channel,
                body=_body(sample, channel, rng, call_id=key),
                idempotency_key=key,
                kind=kind,
                of=of,
                # Which of the logged-in operators takes the call (hotline intake needs one).
                extra={"sample": sample, "operator": rng.randrange(1000)},
            )
        )
        originals.append(len(planned) - 1)
    return planned

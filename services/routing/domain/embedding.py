"""A second opinion on the matter from sentence embeddings (语义向量), for unseen wording.

The bag-of-words model knows only the words it was trained on. A resident who says the scale
weighs short (秤有问题) or that only a few drops come out of the tap (只滴几滴) uses none of the
catalog's words for price fraud or a supply outage, and the model, rightly, is unsure: the appeal
goes to triage. A multilingual sentence encoder places texts of similar meaning close together
whatever their words, so "which training text is this closest to?" is evidence the words alone
cannot give.

``EmbeddingView`` keeps one vector per training text (the catalog's names, keywords and examples,
and any labelled appeals) and reads an appeal's vector two ways:

* nearest text: per matter, the cosine of its most similar training text, turned into a
  distribution over matters by a softmax at ``temperature``;
* linear: a logistic regression fitted on the training vectors, which weighs every dimension
  of meaning by how well it separates the matters, where the nearest text only asks "which
  single text is closest".

The classifier adds both log-distributions (each with its weight) to its own log-probabilities.
The router asks for this second opinion when the words alone are not sure (their confidence
below ``ask_below``); docs/routing.md has the measurements behind the settings and that choice.

The encoder itself is a port (``TextEmbedder``): the adapter runs a model, this module only does
arithmetic on the vectors it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

__all__ = ["EmbeddingSettings", "EmbeddingView", "TextEmbedder", "class_log_proba"]


class TextEmbedder(Protocol):
    """A sentence encoder: texts in, one L2-normalised row per text out."""

    @property
    def name(self) -> str:
        """Which model (vectors of different models are not comparable)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of training texts (an adapter may keep them: they recur at every start)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one appeal's text."""
        ...


@dataclass(frozen=True)
class EmbeddingSettings:
    """Chosen on dev cross-validation and the pooled probes 1-8 (docs/routing.md, session 10)."""

    # Weight of the nearest-text log-distribution against the classifier's log-probabilities.
    nearest_weight: float = 1.0
    # Cosines of a sentence encoder crowd together (0.80-0.95 for unrelated and related texts
    # alike), so the softmax needs a low temperature to tell the nearest matter from the rest.
    temperature: float = 0.02
    # Weight of the linear read of the vector (logistic regression on the training vectors).
    linear_weight: float = 1.0
    # Its inverse regularisation: few texts per matter, so the fit may follow them closely.
    linear_c: float = 100.0
    # The words' confidence under which the encoder is asked. Above the dispatch threshold too:
    # the words are sometimes sure and wrong (a shed inside an estate read as a street-front
    # one), and only a second reading can pull such an appeal back under the threshold.
    ask_below: float = 0.9


class EmbeddingView:
    """The training texts' vectors, read per matter by nearest text and by a linear model."""

    def __init__(
        self,
        vectors: np.ndarray,
        matters: Sequence[int],
        n_matters: int,
        model: str,
        settings: EmbeddingSettings | None = None,
    ) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(matters):
            raise ValueError(
                f"one vector per training text: got {vectors.shape} for {len(matters)} texts"
            )
        if any(not 0 <= m < n_matters for m in matters):
            raise ValueError("a training text names a matter outside the catalog")
        self.settings = settings or EmbeddingSettings()
        self.model = model
        self.n_matters = n_matters
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._matters = np.asarray(matters, dtype=np.intp)
        # The linear read needs two matters to separate; with one, the nearest text is all.
        self._coef: np.ndarray | None = None
        self._intercept: np.ndarray | None = None
        self._classes: np.ndarray | None = None
        if len(set(self._matters.tolist())) >= 2:
            linear = LogisticRegression(C=self.settings.linear_c, max_iter=3000)
            # One BLAS thread: the fit runs beside the worker's routing (a background thread).
            with threadpool_limits(1):
                linear.fit(self._vectors, self._matters)
            self._coef = np.asarray(linear.coef_, dtype=np.float64)
            self._intercept = np.asarray(linear.intercept_, dtype=np.float64)
            self._classes = np.asarray(linear.classes_, dtype=np.intp)

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Per matter, the largest cosine of ``query`` to its texts (-1 for a matter without)."""
        if query.shape != (self.dim,):
            raise ValueError(f"query vector of shape {query.shape}, expected ({self.dim},)")
        cosines = self._vectors @ query.astype(np.float32)
        best = np.full(self.n_matters, -1.0)
        np.maximum.at(best, self._matters, cosines)
        return best

    def log_distribution(self, query: np.ndarray) -> np.ndarray:
        """Log-probabilities over matters: a softmax of the nearest cosines."""
        return _log_softmax(self.similarities(query) / self.settings.temperature)

    def linear_log_distribution(self, query: np.ndarray) -> np.ndarray | None:
        """Log-probabilities over matters from the linear model (None when it has none).

        A matter without a training text gets a log-probability far below the rest.
        """
        if self._coef is None or self._intercept is None or self._classes is None:
            return None
        if query.shape != (self.dim,):
            raise ValueError(f"query vector of shape {query.shape}, expected ({self.dim},)")
        logits = self._coef @ query.astype(np.float64) + self._intercept
        result = np.full(self.n_matters, -30.0)
        result[self._classes] = class_log_proba(logits)
        return result

    def evidence(self, query: np.ndarray) -> np.ndarray:
        """What the classifier adds to its log-probabilities: both reads, weighted."""
        total = self.settings.nearest_weight * self.log_distribution(query)
        linear = self.linear_log_distribution(query)
        if linear is not None:
            total = total + self.settings.linear_weight * linear
        return total


def class_log_proba(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities per class from a fitted logistic regression's logits (``coef @ x +
    intercept``), as scikit-learn's ``predict_log_proba`` gives them. With two classes
    scikit-learn keeps one column of log-odds: it is spread over both classes."""
    if logits.shape[0] == 1:
        logits = np.array([-logits[0], logits[0]]) / 2
    return _log_softmax(logits)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result

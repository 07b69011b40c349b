"""Lexical and hybrid search: identifier-aware BM25 (bm25s), reciprocal rank fusion, several queries merged."""

import pytest

from retrieval._search import fuse, merge, tokens

pytest.importorskip("bm25s")  # a declared dependency; without it only dense search works


def test_identifiers_give_their_parts_and_themselves():
    words = tokens("run = mlflow.log_metric(key, stepValue) # the loss")
    assert {"mlflow", "log_metric", "log", "metric", "key", "stepvalue", "step", "value", "run", "loss"} <= set(words)
    assert "the" not in words and "=" not in words


def test_reciprocal_rank_fusion_rewards_agreement():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (1, 5.0), (9, 1.0)]
    fused = fuse([dense, lexical])
    assert [p for p, _ in fused][:2] == [1, 3] and {p for p, _ in fused} == {1, 2, 3, 9}
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_several_queries_keep_each_chunks_best_score():
    assert merge([[(1, 0.2), (2, 0.5)], [(1, 0.9)], []], k=5) == [(1, 0.9), (2, 0.5)]
    assert merge([[(1, 0.2), (2, 0.5)]], k=1) == [(2, 0.5)]


def test_lexical_search_finds_the_entry_that_names_the_api(use_corpus_cache):
    corpus = use_corpus_cache["dvc"]
    top = corpus.search("dvc_repo.push(remote='storage')", k=3, method="lexical")
    assert any("dvc.repo.Repo.push" in d["text"].splitlines()[0] for d in top)
    assert [d["score"] for d in top] == sorted((d["score"] for d in top), reverse=True)


def test_hybrid_search_fuses_both_and_unknown_methods_are_refused(use_corpus_cache):
    from retrieval import CorpusError

    corpus = use_corpus_cache["dvc"]
    query = "Upload tracked files or directories to remote storage"
    hybrid = corpus.search([query, "push data"], k=4, method="hybrid")
    assert len(hybrid) == 4 and all(0 < d["score"] < 1 for d in hybrid)  # fused scores are sums of 1/(60+rank)
    assert "cli/push.html" in " ".join(d["source"] for d in hybrid)
    with pytest.raises(CorpusError, match="unknown search method"):
        corpus.search(query, method="sparse")

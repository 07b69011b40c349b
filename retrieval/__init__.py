"""Retrieval for Translation prompts: documentation corpora, the crawler, curation, and the search strategies.

    from retrieval import retrieve_for_task, retrieval_eval, build_corpus, get_corpus

- corpora: `corpora/<component>.toml` defines a component's `installed` source (its own docstrings and CLI help,
  rendered to HTML, served on 127.0.0.1 and crawled; the default, offline) and `web` source (the study's sites).
  Built corpora (manifest.json, chunks.jsonl, index.faiss) live in `$ADAPTBENCH_CACHE/corpora/<component>/`
  and are built on first use.
- registries: `FETCHERS` (selenium, http), `SOURCES` (installed, web), `EMBEDDERS` (minilm, openai, hashing),
  `STRATEGIES` (none, docs-search, llm-search, llm-docs-search, oracle-docs).
- retrievals: a strategy with options, `docs-search+hybrid+focus` (`OPTIONS`, `parse_retrieval`); the name is
  what a run records, so every sample says how its documents were found.
"""

from __future__ import annotations

from ._corpus import (
    SOURCES,
    BuildOptions,
    Corpus,
    CorpusError,
    CorpusSource,
    CorpusSpec,
    available_components,
    build_corpus,
    corpus_dir,
    corpus_source,
    get_corpus,
    load_corpus,
    load_spec,
)
from ._embed import EMBEDDERS, Embedder, embedder, get_embedder
from ._evaluate import DEFAULT_KS, coverage, entry_recall, eval_markdown, mean_coverage, retrieval_eval, summarise_eval
from ._options import OPTIONS, RetrievalSpec, check_retrieval, parse_retrieval
from ._strategies import (
    DEFAULT_K,
    STRATEGIES,
    Strategy,
    get_strategy,
    oracle_documents,
    source_symbols,
    strategy,
    target_symbols,
)
from ._symbols import Symbol, used_symbols
from .crawler import FETCHERS, CrawlLimits, CrawlResult, Fetcher, Page, crawl, fetcher, normalise_url


def retrieve_for_task(task, strategy: str, k: int = DEFAULT_K, model=None) -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """(Docs-X, Docs-Y) for a Translation task: tuples of {"title", "text", "source", "score"} dicts.
    `strategy` is a retrieval name, with options if any (`docs-search+hybrid`); `model` is the LLM of the LLM
    strategies and options (a model name, a backend, or None for the default `embedded`).
    Answers for a model given by name are memoised per process (the run loop asks once per group)."""
    key = (task.id, str(task.folder), strategy, k, model, str(corpus_dir("")))
    if (isinstance(model, str) or model is None) and key in _RETRIEVED:
        return _RETRIEVED[key]
    docs_x, docs_y = get_strategy(strategy, k=k, model=model).retrieve(task)
    result = tuple(docs_x), tuple(docs_y)
    if isinstance(model, str) or model is None:
        _RETRIEVED[key] = result
    return result


_RETRIEVED: dict[tuple, tuple] = {}


__all__ = [
    "DEFAULT_K",
    "DEFAULT_KS",
    "EMBEDDERS",
    "FETCHERS",
    "OPTIONS",
    "SOURCES",
    "STRATEGIES",
    "BuildOptions",
    "Corpus",
    "CorpusError",
    "CorpusSource",
    "CorpusSpec",
    "CrawlLimits",
    "CrawlResult",
    "Embedder",
    "Fetcher",
    "Page",
    "RetrievalSpec",
    "Strategy",
    "Symbol",
    "available_components",
    "build_corpus",
    "check_retrieval",
    "corpus_dir",
    "corpus_source",
    "coverage",
    "crawl",
    "embedder",
    "entry_recall",
    "eval_markdown",
    "fetcher",
    "get_corpus",
    "get_embedder",
    "get_strategy",
    "load_corpus",
    "load_spec",
    "mean_coverage",
    "normalise_url",
    "oracle_documents",
    "parse_retrieval",
    "retrieval_eval",
    "retrieve_for_task",
    "source_symbols",
    "strategy",
    "summarise_eval",
    "target_symbols",
    "used_symbols",
]

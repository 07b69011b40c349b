"""Retrieval strategies for Translation prompts (the study's prompt-construction pipeline), a registry.

Every strategy but `none` starts the same way: the task's input code (Code-X) is searched top-k in the source
component's store -> Docs-X. They differ in how Docs-Y (the target component's documentation) is obtained:

- `docs-search`     (DocsSearch)     the Docs-X texts are searched top-k in Y's store;
- `llm-search`      (LLMSearch)      an LLM writes Docs-Y from Docs-X (one document per Docs-X document);
- `llm-docs-search` (LLM-DocsSearch) an LLM names the Y functionality matching each Docs-X document, and those
                                     answers are searched top-k in Y's store;
- `oracle-docs`     (upper bound)    the Y chunks documenting the symbols the reference solution uses.

Options (`docs-search+hybrid`, see `_options`) change how the stores are searched (`hybrid`, `rerank`), what Code-X
is searched as (`focus`, `rewrite`) or which stores are used (`summarised`); with none, a strategy is the study's.

Adding one: subclass `Strategy`, implement `retrieve_target(task, docs_x)`, and decorate it with `@strategy("name")`.
"""

from __future__ import annotations

import logging
from abc import ABC
from collections.abc import Iterable
from typing import ClassVar

from benchmark.errors import AdaptbenchError
from benchmark.prompts import COMPONENT_NAMES
from benchmark.registry import Registry
from benchmark.types import Category, Component, Task

from ._corpus import BuildOptions, Corpus, as_document, get_corpus, load_spec
from ._llm import LLMSpec, ask, render, resolve_llm
from ._options import parse_retrieval
from ._queries import code_windows, focused_code, focused_queries, rerank, rewritten_queries
from ._symbols import Symbol, used_symbols

log = logging.getLogger(__name__)

DEFAULT_K = 3
LLM_SEARCH_TOKENS = 160
LLM_DOCS_SEARCH_TOKENS = 80
RERANK_POOL = 3  # a reranked search reads RERANK_POOL * k candidates
Docs = list[dict]


class Strategy(ABC):
    """Turns a Translation task into (Docs-X, Docs-Y): lists of {title, text, source, score} dicts."""

    uses_llm: ClassVar[bool] = False

    def __init__(self, k: int = DEFAULT_K, model: LLMSpec = None, options: Iterable[str] = ()):
        if k < 1:
            raise AdaptbenchError(f"k must be at least 1 (got {k})", "pass -k 1 or more")
        self.k, self.model, self.options = k, model, frozenset(options)

    @property
    def llm(self):
        return resolve_llm(self.model)

    @property
    def method(self) -> str:
        return "hybrid" if "hybrid" in self.options else "dense"

    def retrieve(self, task: Task) -> tuple[Docs, Docs]:
        docs_x = self.retrieve_source(task)
        return docs_x, self.retrieve_target(task, docs_x)

    def retrieve_source(self, task: Task) -> Docs:
        """Docs-X: top-k of Code-X in X's store (Code-X as windows, or as the options make it)."""
        return self.search(self.source_corpus(task), self.source_queries(task), task, "source")

    def retrieve_target(self, task: Task, docs_x: Docs) -> Docs:
        raise NotImplementedError

    # -------------------------------------------------------- what the options change
    def source_queries(self, task: Task) -> list[str]:
        code = task.input_code()
        queries = []
        if "focus" in self.options:
            queries = focused_queries(code, _roots(task, source=True))
        elif "rewrite" in self.options:
            queries = rewritten_queries(self.llm, task, code, names(task)["source_name"])
        if not queries and self.options & {"focus", "rewrite"}:
            log.warning("%s: no query from %s; searching Code-X windows", task.id, "+".join(sorted(self.options)))
        return queries or code_windows(code)

    def search(self, corpus: Corpus, queries: list[str], task: Task, stage: str) -> Docs:
        """Top-k of `queries` in `corpus`; with `rerank`, the LLM's k best of RERANK_POOL * k candidates."""
        search = corpus.search_overview if stage == "target" and "overview" in self.options else corpus.search
        if "rerank" not in self.options:
            return search(queries, self.k, self.method)
        candidates = search(queries, RERANK_POOL * self.k, self.method)
        return rerank(self.llm, task, candidates, self.k, self._rerank_context(task, stage))

    def _rerank_context(self, task: Task, stage: str) -> dict:
        labels = names(task)
        library = labels["source_name"] if stage == "source" else labels["target_name"]
        goal = (f"Pick the {library} documentation that explains what this code does." if stage == "source" else
                f"Pick the {library} documentation needed to write this code with {library}.")
        return {"goal": goal, "library_name": library, "code": focused_code(task.input_code(),
                                                                             _roots(task, source=True)), **labels}

    def corpus(self, component: str) -> Corpus:
        if "summarised" not in self.options:
            return get_corpus(component)
        return get_corpus(component, BuildOptions(summarise=True, model=self.model))

    def source_corpus(self, task: Task) -> Corpus:
        return self.corpus(_components(task)[0].value)

    def target_corpus(self, task: Task) -> Corpus:
        return self.corpus(_components(task)[1].value)


STRATEGIES: Registry[Strategy] = Registry("retrieval strategy", Strategy)


def strategy(name: str):
    return STRATEGIES.register(name)


def get_strategy(name: str, k: int = DEFAULT_K, model: LLMSpec = None) -> Strategy:
    """A strategy by its retrieval name: `docs-search`, or with options, `docs-search+hybrid+focus`."""
    spec = parse_retrieval(name)
    return STRATEGIES.get(spec.strategy)(k=k, model=model, options=spec.options)


# ---------------------------------------------------------------- helpers


def _components(task: Task) -> tuple[Component, Component]:
    if task.category is not Category.translation or task.source_component is None:
        raise AdaptbenchError(f"task '{task.id}' is not a Translation task: retrieval needs a source component",
                              "use --strategy none, or pick a translation task (adaptbench list)")
    return task.source_component, task.component


def _roots(task: Task, source: bool) -> list[str]:
    return load_spec(_components(task)[0 if source else 1].value).import_roots


def source_corpus(task: Task) -> Corpus:
    return get_corpus(_components(task)[0].value)


def target_corpus(task: Task) -> Corpus:
    return get_corpus(_components(task)[1].value)


def names(task: Task) -> dict[str, str]:
    source, target = _components(task)
    return {"source_name": COMPONENT_NAMES[source][0], "target_name": COMPONENT_NAMES[target][0]}


# ---------------------------------------------------------------- the strategies


@strategy("none")
class NoRetrieval(Strategy):
    def retrieve(self, task: Task) -> tuple[Docs, Docs]:
        return [], []


@strategy("docs-search")
class DocsSearch(Strategy):
    def retrieve_target(self, task: Task, docs_x: Docs) -> Docs:
        return self.search(self.target_corpus(task), [d["text"] for d in docs_x], task, "target")


@strategy("llm-search")
class LLMSearch(Strategy):
    uses_llm = True

    def retrieve_target(self, task: Task, docs_x: Docs) -> Docs:
        llm, labels = self.llm, names(task)
        out = []
        for doc in docs_x:
            text = ask(llm, render("llm_search", doc=doc["text"], **labels), LLM_SEARCH_TOKENS, task, "llm-search")
            if text.strip():
                out.append({"title": f"{labels['target_name']} documentation written by {llm.name} "
                                     f"(after: {doc['title']})", "text": text, "source": f"llm:{llm.name}",
                            "score": None})
        return out


@strategy("llm-docs-search")
class LLMDocsSearch(Strategy):
    uses_llm = True

    def retrieve_target(self, task: Task, docs_x: Docs) -> Docs:
        llm, labels = self.llm, names(task)
        queries = [ask(llm, render("llm_docs_search", doc=doc["text"], **labels), LLM_DOCS_SEARCH_TOKENS, task,
                       "llm-docs-search") for doc in docs_x]
        queries = [q for q in queries if q.strip()]
        if not queries:
            log.warning("%s: the LLM named no %s functionality; searching with Docs-X instead", task.id,
                        labels["target_name"])
            queries = [d["text"] for d in docs_x]
        return self.search(self.target_corpus(task), queries, task, "target")


@strategy("oracle-docs")
class OracleDocs(Strategy):
    """Not a method of the study: an upper bound on what retrieval can give the prompt."""

    def retrieve_target(self, task: Task, docs_x: Docs) -> Docs:
        return oracle_documents(self.target_corpus(task), target_symbols(task))


# ---------------------------------------------------------------- symbols and the oracle


def target_symbols(task: Task) -> list[Symbol]:
    """The target-library symbols the reference solution uses."""
    return _symbols(task.reference_code(), _components(task)[1].value)


def source_symbols(task: Task) -> list[Symbol]:
    """The source-library symbols the input code uses."""
    return _symbols(task.input_code(), _components(task)[0].value)


def _symbols(code: str, component: str) -> list[Symbol]:
    spec = load_spec(component)
    cli = spec.cli
    return used_symbols(code, spec.import_roots, cli.program if cli else None, cli.groups if cli else None)


def oracle_documents(corpus: Corpus, symbols: list[Symbol]) -> Docs:
    """For each symbol, the chunk that best documents it (one whose heading names it, else one mentioning it);
    each chunk once. A symbol the corpus never mentions gets nothing."""
    picked: list[int] = []
    scores: dict[int, float] = {}
    for symbol in symbols:
        best = _best_chunk(corpus.chunks, symbol)
        if best is None:
            log.info("oracle-docs: %s mentions no %s", corpus.component, symbol.name)
            continue
        position, score = best
        if position not in scores:
            picked.append(position)
        scores[position] = max(score, scores.get(position, 0.0))
    return [as_document(corpus.chunks[p], scores[p]) for p in picked]


def _best_chunk(chunks: list[dict], symbol: Symbol) -> tuple[int, float] | None:
    """The chunk whose heading is the symbol's own entry, else one whose heading names it, else one mentioning
    it; the shortest of equals."""
    best, best_rank = None, None
    for position, chunk in enumerate(chunks):
        text = chunk.get("raw") or chunk["text"]
        if not symbol.mentioned_in(text):
            continue
        rank = (symbol.defined_in(text), symbol.entry_of(text), -len(text))
        if best_rank is None or rank > best_rank:
            best, best_rank = (position, 1.0 if rank[0] else 0.5), rank
    return best

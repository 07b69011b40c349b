"""Retrieval options: improvements over the study's strategies, each recorded in the retrieval's name.

A retrieval is written `STRATEGY[+OPTION...]`, e.g. `docs-search`, `docs-search+hybrid`,
`llm-docs-search+focus+hybrid+rerank`. The name is what a run records for every sample (and what a report shows as
the row), so a run always says which options built its prompts. The strategies alone are the study's methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import AdaptbenchError

OPTIONS: dict[str, str] = {
    "hybrid": "every store search fuses BM25 (bm25s) with the dense FAISS scores by reciprocal rank fusion",
    "focus": "Code-X is searched as the statements that use the source library, each with the API name it calls "
             "(read from the AST), instead of as windows of the whole script",
    "rewrite": "an LLM rewrites Code-X into the operations it performs; each operation is a query for Docs-X",
    "rerank": "an LLM reranks the 3k best candidates of each store search and keeps k",
    "overview": "small-to-big: the Y entries are matched as usual, and each is returned as the part of its module's "
                "API summary or class' member list that lists it (name, parameters, first sentence of each entry)",
    "summarised": "the stores hold LLM summaries of the chunks (the study's --summarise), built on first use",
}
LLM_OPTIONS = frozenset({"rewrite", "rerank", "summarised"})
EXCLUSIVE = (frozenset({"focus", "rewrite"}),)  # both replace the Code-X queries


@dataclass(frozen=True)
class RetrievalSpec:
    strategy: str
    options: tuple[str, ...] = ()  # sorted, each once

    @property
    def name(self) -> str:
        return "+".join([self.strategy, *self.options])

    @property
    def uses_llm_options(self) -> bool:
        return bool(LLM_OPTIONS & set(self.options))


def parse_retrieval(name: str) -> RetrievalSpec:
    """`docs-search+hybrid+focus` -> RetrievalSpec("docs-search", ("focus", "hybrid")); bad names raise."""
    from ._strategies import STRATEGIES

    strategy, *options = [part.strip() for part in name.strip().split("+")]
    STRATEGIES.get(strategy)  # unknown -> "did you mean ... / available: ..."
    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise AdaptbenchError(f"unknown retrieval option '{unknown[0]}' in '{name}'",
                              f"options: {', '.join(OPTIONS)} (joined with '+', e.g. docs-search+hybrid)")
    if len(set(options)) != len(options):
        raise AdaptbenchError(f"retrieval '{name}' names an option twice", "name each option once")
    if strategy == "none" and options:
        raise AdaptbenchError("retrieval 'none' takes no options", "use plain 'none'")
    for group in EXCLUSIVE:
        if len(group & set(options)) > 1:
            raise AdaptbenchError(f"retrieval '{name}' combines {' and '.join(sorted(group))}",
                                  "they both replace the Code-X queries: choose one")
    return RetrievalSpec(strategy, tuple(sorted(options)))


def check_retrieval(name: str) -> str:
    """The canonical name of a valid retrieval (options sorted); a bad name raises a one-line error."""
    return parse_retrieval(name).name

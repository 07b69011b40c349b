"""How Code-X becomes queries, and how candidates are reranked.

- `code_windows` (the study's): Code-X split along Python structure into windows of about one chunk each;
- `focused_queries` (option `focus`): one query per source-library API name the code uses, with the statements that
  use it (`git.Repo.index.add` + `repo.index.add([...])`), read from the AST: no model;
- `rewritten_queries` (option `rewrite`): an LLM lists the operations the code performs, one query per line;
- `rerank` (option `rerank`): an LLM picks the k most useful of the candidates (listwise, one call); an answer that
  names no valid candidate keeps the search's order.
"""

from __future__ import annotations

import logging
import re

from benchmark.backends import ModelBackend
from benchmark.types import Task

from ._llm import ask, render

log = logging.getLogger(__name__)

WINDOW_SIZE = 1000  # characters of Code-X per query window: about what the embedder reads whole
STATEMENTS_PER_QUERY = 3
REWRITE_TOKENS = 200
RERANK_TOKENS = 40
RERANK_EXCERPT = 300  # characters of each candidate the reranker reads
CODE_EXCERPT = 2500  # characters of Code-X (or its focused statements) the LLM reads


def code_windows(code: str) -> list[str]:
    """Code-X split along Python structure into windows of about one chunk each."""
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter.from_language(Language.PYTHON, chunk_size=WINDOW_SIZE, chunk_overlap=0)
    return [w for w in splitter.split_text(code) if w.strip()]


def focused_queries(code: str, roots: list[str]) -> list[str]:
    """One query per library API name the code uses: the name, then (up to 3 of) the statements using it."""
    from ._pyapi import python_uses

    lines = code.splitlines()
    queries = []
    for name, numbers in python_uses(code, roots).items():
        statements = list(dict.fromkeys(lines[n - 1].strip() for n in numbers if 0 < n <= len(lines)))
        queries.append("\n".join([name, *statements[:STATEMENTS_PER_QUERY]]))
    return queries


def focused_code(code: str, roots: list[str]) -> str:
    """The statements of `code` that use the library, in order (what a reranker needs to see)."""
    from ._pyapi import python_uses

    lines = code.splitlines()
    numbers = sorted({n for found in python_uses(code, roots).values() for n in found})
    return "\n".join(lines[n - 1].strip() for n in numbers if 0 < n <= len(lines)) or code[:CODE_EXCERPT]


def rewritten_queries(llm: ModelBackend, task: Task, code: str, source_name: str) -> list[str]:
    prompt = render("rewrite", code=code[: CODE_EXCERPT * 2], source_name=source_name)
    answer = ask(llm, prompt, REWRITE_TOKENS, task, "rewrite")
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip() for line in answer.splitlines()]
    return [line for line in lines if len(line) > 3][:10]


def rerank(llm: ModelBackend, task: Task, candidates: list[dict], k: int, context: dict) -> list[dict]:
    """The k candidates the LLM ranks most useful, in its order; the search's order fills any gap."""
    if len(candidates) <= 1:
        return candidates[:k]
    excerpts = [{"title": c["title"], "text": c["text"][:RERANK_EXCERPT]} for c in candidates]
    prompt = render("rerank", candidates=excerpts, k=k, **context)
    answer = ask(llm, prompt, RERANK_TOKENS, task, "rerank")
    chosen = []
    for number in re.findall(r"\d+", answer):
        index = int(number) - 1
        if 0 <= index < len(candidates) and index not in chosen:
            chosen.append(index)
    if not chosen:
        log.info("%s: the reranker named no candidate (%r); keeping the search's order", task.id, answer[:80])
    chosen += [i for i in range(len(candidates)) if i not in chosen]
    return [candidates[i] for i in chosen[:k]]

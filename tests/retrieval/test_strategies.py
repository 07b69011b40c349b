"""The strategies on the real Translation tasks with a scripted LLM: shapes, LLM use, the oracle's coverage."""

import pytest

from benchmark.backends import get_backend
from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.prompts import render_prompt
from benchmark.tasks import load_tasks
from retrieval import STRATEGIES, coverage, get_corpus, get_strategy, retrieval_eval, retrieve_for_task, target_symbols

KEYS = {"title", "text", "source", "score"}
ANSWER = "Use dvc push (Repo.push) to upload the data to the remote storage."


@pytest.fixture(scope="module")
def tasks():
    return {t.id: t for t in load_tasks(["dvc-from-gitpython-dataset", "dvc-from-gitpython-data-and-model"])}


@pytest.fixture
def mock():
    return get_backend("mock", {"default": ANSWER})


def _shape(docs, k=None):
    assert all(set(d) == KEYS and d["text"].strip() for d in docs)
    if k is not None:
        assert len(docs) <= k


def test_the_five_strategies_are_registered():
    assert {"none", "docs-search", "llm-search", "llm-docs-search", "oracle-docs"} <= set(STRATEGIES.names())
    with pytest.raises(UnknownNameError):
        get_strategy("docsearch")


@pytest.mark.parametrize("name", ["docs-search", "llm-search", "llm-docs-search", "oracle-docs"])
def test_strategy_returns_docs_of_the_right_shape(use_corpus_cache, tasks, mock, name):
    task = tasks["dvc-from-gitpython-dataset"]
    docs_x, docs_y = retrieve_for_task(task, name, k=2, model=mock)
    assert isinstance(docs_x, tuple) and isinstance(docs_y, tuple)
    _shape(docs_x, 2)
    assert len(docs_x) == 2 and all(d["source"].startswith("installed://gitpython/") for d in docs_x)
    _shape(docs_y, None if name == "oracle-docs" else 2)
    assert docs_y
    prompt = render_prompt(task, "zero-shot", docs_x, docs_y, retrieval=name)  # what the runner does
    assert len(prompt.retrieved) == len(docs_x) + len(docs_y)


def test_llm_search_writes_docs_y_from_each_docs_x(use_corpus_cache, tasks, mock):
    docs_x, docs_y = retrieve_for_task(tasks["dvc-from-gitpython-dataset"], "llm-search", k=2, model=mock)
    assert [d["text"] for d in docs_y] == [ANSWER, ANSWER] and docs_y[0]["source"] == "llm:mock"
    assert len(mock.calls) == 2
    for call, doc in zip(mock.calls, docs_x):
        user = call.prompt.messages[-1]["content"]
        assert doc["text"] in user and "DVC" in user and "GitPython" in user


def test_llm_docs_search_searches_the_llm_answer_in_the_target_store(use_corpus_cache, tasks, mock):
    _, docs_y = retrieve_for_task(tasks["dvc-from-gitpython-dataset"], "llm-docs-search", k=3, model=mock)
    assert len(mock.calls) == 3 and "Name the DVC functionality" in mock.calls[0].prompt.messages[-1]["content"]
    assert list(docs_y) == get_corpus("dvc").search(ANSWER, k=3)  # the three answers, searched in Y's store


def test_docs_search_does_not_call_an_llm(use_corpus_cache, tasks, mock):
    _, docs_y = retrieve_for_task(tasks["dvc-from-gitpython-data-and-model"], "docs-search", k=3, model=mock)
    assert mock.calls == [] and len(docs_y) == 3
    assert retrieve_for_task(tasks["dvc-from-gitpython-dataset"], "none", model=mock) == ((), ())


@pytest.mark.parametrize("task_id", ["dvc-from-gitpython-dataset", "dvc-from-gitpython-data-and-model"])
def test_oracle_docs_covers_every_symbol_the_reference_uses(use_corpus_cache, tasks, task_id):
    task = tasks[task_id]
    _, docs_y = retrieve_for_task(task, "oracle-docs", k=3)
    symbols = target_symbols(task)
    assert symbols and coverage(symbols, docs_y) == 1.0
    assert all(d["source"].startswith("installed://dvc/") for d in docs_y)


def test_retrieval_eval_rows(use_corpus_cache, tasks, mock):
    rows = retrieval_eval(tasks.values(), ["none", "oracle-docs", "llm-search"], ks=2, model=mock)
    assert len(rows) == 6
    by = {(r["task"], r["strategy"]): r for r in rows}
    assert by[("dvc-from-gitpython-dataset", "none")]["coverage"] == 0.0
    assert by[("dvc-from-gitpython-dataset", "oracle-docs")]["coverage"] == 1.0
    assert by[("dvc-from-gitpython-dataset", "oracle-docs")]["missing"] == []
    # the scripted answer names `dvc push` and Repo.push: exactly that symbol is covered
    assert by[("dvc-from-gitpython-data-and-model", "llm-search")]["coverage"] == pytest.approx(1 / 4)
    assert by[("dvc-from-gitpython-dataset", "llm-search")]["coverage"] == pytest.approx(1 / 5)


def test_inlining_tasks_are_refused():
    task = load_tasks(["mlflow-tracking-sklearn-tree"])[0]
    with pytest.raises(AdaptbenchError, match="not a Translation task"):
        retrieve_for_task(task, "docs-search")

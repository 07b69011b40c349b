"""Retrieval options: names that record them, and what each changes in a strategy (scripted LLM where one is used)."""

import pytest

from benchmark.backends import get_backend
from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.tasks import load_tasks
from retrieval import (
    OPTIONS,
    BuildOptions,
    build_corpus,
    check_retrieval,
    corpus_dir,
    get_corpus,
    get_strategy,
    parse_retrieval,
    retrieve_for_task,
)
from retrieval._queries import focused_queries

TASK = "dvc-from-gitpython-dataset"


@pytest.fixture(scope="module")
def task():
    return load_tasks([TASK])[0]


def test_a_retrieval_name_records_its_options_in_one_spelling():
    spec = parse_retrieval("docs-search+hybrid+focus")
    assert (spec.strategy, spec.options, spec.name) == ("docs-search", ("focus", "hybrid"), "docs-search+focus+hybrid")
    assert check_retrieval("llm-docs-search") == "llm-docs-search" and parse_retrieval("oracle-docs").options == ()
    assert set(OPTIONS) == {"hybrid", "focus", "rewrite", "rerank", "overview", "summarised"}


@pytest.mark.parametrize("name, message", [
    ("docs-search+bm25", "unknown retrieval option 'bm25'"),
    ("docs-search+hybrid+hybrid", "names an option twice"),
    ("none+hybrid", "'none' takes no options"),
    ("docs-search+focus+rewrite", "combines focus and rewrite"),
])
def test_bad_retrieval_names_are_one_line_errors(name, message):
    with pytest.raises(AdaptbenchError, match=message):
        parse_retrieval(name)


def test_an_unknown_strategy_suggests_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        parse_retrieval("docsearch+hybrid")
    assert "did you mean docs-search" in err.value.hint


def test_the_cli_lists_the_same_options():
    from benchmark.cli.retrieval import OPTION_NAMES

    assert OPTION_NAMES == list(OPTIONS)


def test_focus_searches_the_statements_that_use_the_source_library(task):
    queries = focused_queries(task.input_code(), ["git"])
    heads = [q.splitlines()[0] for q in queries]
    assert {"git.Repo.index.add", "git.Repo.index.commit", "git.Repo.create_remote"} <= set(heads)
    add = queries[heads.index("git.Repo.index.add")]
    assert "repo.index.add(" in add and "import" not in add


def test_hybrid_and_focus_change_the_searches(use_corpus_cache, task):
    plain = get_strategy("docs-search", k=3)
    assert plain.method == "dense" and get_strategy("docs-search+hybrid").method == "hybrid"
    focused = get_strategy("docs-search+focus", k=3).source_queries(task)
    assert focused != plain.source_queries(task) and focused[0].startswith("git.")
    docs_x, docs_y = retrieve_for_task(task, "docs-search+focus+hybrid", k=3)
    assert len(docs_x) == 3 and len(docs_y) == 3
    assert (docs_x, docs_y) != retrieve_for_task(task, "docs-search", k=3)


def test_rewrite_asks_the_llm_for_the_operations(use_corpus_cache, task):
    mock = get_backend("mock", {"default": "1. repo.index.add(paths): stage files\n- origin.push(): upload"})
    queries = get_strategy("docs-search+rewrite", k=2, model=mock).source_queries(task)
    assert queries == ["repo.index.add(paths): stage files", "origin.push(): upload"]
    prompt = mock.calls[0].prompt.messages[-1]["content"]
    assert "List the GitPython operations it performs" in prompt and "repo.index.commit(" in prompt


def test_rerank_keeps_the_llms_choice_in_its_order(use_corpus_cache, task):
    strategy = get_strategy("docs-search+rerank", k=2, model=get_backend("mock", {"default": "3, 1"}))
    candidates = get_corpus("gitpython").search(strategy.source_queries(task), k=6)
    docs_x = strategy.retrieve_source(task)
    assert docs_x == [candidates[2], candidates[0]]
    prompt = strategy.llm.calls[0].prompt.messages[-1]["content"]
    assert "[6] " in prompt and "[7] " not in prompt and "numbers of the 2 most useful entries" in prompt


def test_a_reranker_answer_without_numbers_keeps_the_search_order(use_corpus_cache, task):
    strategy = get_strategy("docs-search+rerank", k=2, model=get_backend("mock", {"default": "the first one"}))
    assert strategy.retrieve_source(task) == get_corpus("gitpython").search(strategy.source_queries(task), k=2)


def test_summarised_stores_are_kept_beside_the_plain_ones(use_corpus_cache, task):
    mock = get_backend("mock")
    mock.respond_with(lambda request, i: "Summary: use dvc push (Repo.push) to upload data.")
    quick = {"fetcher": "http", "embedder": "hashing", "max_modules": 1, "max_commands": 1}
    for component in ("gitpython", "dvc"):
        built = build_corpus(component, BuildOptions(summarise=True, model=mock, **quick))
        assert built.folder == corpus_dir(component, "summarised-mock") and built.manifest["variant"] == "summarised-mock"
    assert get_corpus("dvc").manifest["summariser"] is None  # the plain corpus is untouched
    _, docs_y = retrieve_for_task(task, "docs-search+summarised", k=2, model=mock)
    assert [d["text"] for d in docs_y] == ["Summary: use dvc push (Repo.push) to upload data."] * 2


def test_overview_returns_the_summary_part_that_lists_the_matched_entry(use_corpus_cache, task):
    corpus = use_corpus_cache["dvc"]
    push = next(i for i, c in enumerate(corpus.chunks) if c["text"].startswith("### dvc.repo.Repo.push("))
    parent = corpus.chunks[corpus.summary_parts()[push]]
    assert parent["title"].startswith("dvc.repo.Repo — class › dvc.repo.Repo members")
    assert "\ndvc.repo.Repo.push(targets, jobs, remote" in parent["text"]
    docs = corpus.search_overview("dvc.repo.Repo.push upload to remote storage", k=2, method="lexical")
    assert any(d["text"] == parent["text"] for d in docs)
    _, docs_y = retrieve_for_task(task, "docs-search+overview", k=3)
    plain = {d["title"] for d in retrieve_for_task(task, "docs-search", k=3)[1]}
    assert len(docs_y) == 3 and {d["title"] for d in docs_y} != plain

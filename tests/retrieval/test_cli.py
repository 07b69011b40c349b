"""The retrieval subcommands as a user meets them."""

import json

from benchmark.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_search(capsys, use_corpus_cache):
    code, out, _ = run(capsys, "corpus", "search", "dvc", "Add a new data remote", "-k", "2")
    assert code == 0 and out.startswith("1. [") and "<installed://dvc/cli/remote.html>" in out


def test_retrieve_json(capsys, use_corpus_cache):
    code, out, _ = run(capsys, "retrieve", "--task", "dvc-from-gitpython-data-and-model", "--strategy",
                       "oracle-docs", "--json")
    docs = json.loads(out)
    assert code == 0 and docs["docs_source"] and {"dvc add", "dvc push"} <= {
        d["title"].split(" › ")[-1] for d in docs["docs_target"]} | {"dvc add", "dvc push"}
    assert all(set(d) == {"title", "text", "source", "score"} for d in docs["docs_target"])


def test_retrieval_eval_prints_and_writes_the_table(capsys, use_corpus_cache, tmp_path):
    # only the gitpython->dvc tasks: the others would build the mlflow and wandb corpora (minutes)
    out_file = tmp_path / "eval.md"
    code, out, _ = run(capsys, "retrieval-eval", "--tasks", "dvc-from-gitpython-dataset,dvc-from-gitpython-data-and-model",
                       "--strategies", "none,docs-search,oracle-docs", "--options", "hybrid", "-k", "1,2",
                       "--out", str(out_file))
    assert code == 0
    table = out_file.read_text()
    assert table in out and "| retrieval | coverage@1 | coverage@2 | recall@2 | first relevant (of 2) |" in table
    assert "| `oracle-docs` | 100% | 100% | 100% | 1.0 (2/2 found) |" in table
    assert "| `none` | 0% | 0% | 0% | 3.0 (0/2 found) |" in table
    assert "| `docs-search+hybrid` |" in table and "option hybrid: every store search fuses BM25" in table
    rows = json.loads(out_file.with_suffix(".json").read_text())["rows"]
    assert len(rows) == 2 * 4 * 2  # tasks x retrievals x k
    assert "dvc-from-gitpython-dataset" in out and "dvc-from-gitpython-data-and-model" in out


def test_retrieval_options_reach_the_retrieve_command(capsys, use_corpus_cache):
    code, out, _ = run(capsys, "retrieve", "--task", "dvc-from-gitpython-dataset", "--strategy",
                       "docs-search+focus+hybrid", "-k", "2", "--json")
    docs = json.loads(out)
    assert code == 0 and len(docs["docs_source"]) == 2 and len(docs["docs_target"]) == 2
    code, _, err = run(capsys, "retrieve", "--task", "dvc-from-gitpython-dataset", "--strategy", "docs-search+bm25")
    assert code == 2 and "unknown retrieval option 'bm25'" in err


def test_unknown_strategy_is_a_one_line_error(capsys):
    code, _, err = run(capsys, "retrieve", "--task", "dvc-from-gitpython-dataset", "--strategy", "docsearch")
    assert code == 2 and "unknown retrieval strategy 'docsearch'" in err and "did you mean docs-search" in err

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


def test_retrieval_eval_prints_coverage_per_strategy(capsys, use_corpus_cache):
    # only the gitpython->dvc tasks: the others would build the mlflow and wandb corpora (minutes)
    code, out, _ = run(capsys, "retrieval-eval", "--tasks", "dvc-from-gitpython-dataset,dvc-from-gitpython-data-and-model",
                       "--strategies", "none,oracle-docs", "-k", "2")
    assert code == 0
    assert "mean coverage@2 oracle-docs      100%" in out and "mean coverage@2 none             0%" in out
    assert "dvc-from-gitpython-dataset" in out and "dvc-from-gitpython-data-and-model" in out


def test_unknown_strategy_is_a_one_line_error(capsys):
    code, _, err = run(capsys, "retrieve", "--task", "dvc-from-gitpython-dataset", "--strategy", "docsearch")
    assert code == 2 and "unknown retrieval strategy 'docsearch'" in err and "did you mean docs-search" in err

"""Corpora built offline from the installed packages: manifest, cache, reload, search."""

import json
import time
from importlib.metadata import version

import pytest

from benchmark.errors import UnknownNameError
from retrieval import BuildOptions, available_components, build_corpus, corpus_dir, get_corpus, load_corpus, load_spec
from retrieval._chunking import CHUNK_SIZE


def test_every_component_has_a_definition_with_both_sources():
    components = available_components()
    assert {"gitpython", "dvc", "mlflow", "wandb", "optuna", "nncf"} <= set(components)
    for name in components:
        spec = load_spec(name)
        assert spec.installed.modules and spec.web and spec.web.start_urls and spec.web.depth >= 1


def test_unknown_component_suggests_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        load_spec("dvcc")
    assert "did you mean dvc" in err.value.hint


@pytest.mark.parametrize("component, package", [("dvc", "dvc"), ("gitpython", "GitPython")])
def test_installed_build_records_the_package_version(use_corpus_cache, component, package):
    folder = corpus_dir(component)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == "installed" and manifest["package_version"] == version(package)
    assert manifest["schema_version"] == 3 and manifest["depth"] == 2 and manifest["summariser"] is None
    assert manifest["chunker"] == "entries" and manifest["chunk_size"] == CHUNK_SIZE and manifest["variant"] == ""
    assert manifest["pages"] > 5 and manifest["chunks"] >= manifest["pages"]
    assert manifest["embedder"] == "hashing:words-1024" and manifest["built_at"]
    assert (folder / "index.faiss").is_file() and (folder / "chunks.jsonl").is_file()
    started = time.perf_counter()
    again = load_corpus(component)
    assert time.perf_counter() - started < 1.0 and len(again.chunks) == manifest["chunks"]


def test_dvc_corpus_documents_its_api_and_command_line(use_corpus_cache):
    corpus = get_corpus("dvc")
    sources = {c["source"] for c in corpus.chunks}
    assert {"installed://dvc/cls/dvc.repo.Repo.html", "installed://dvc/cli/push.html",
            "installed://dvc/cli/remote.html"} <= sources
    top = corpus.search("Upload tracked files or directories to remote storage", k=3)  # words of `dvc push --help`
    assert top[0]["source"] == "installed://dvc/cli/push.html"
    assert set(top[0]) == {"title", "text", "source", "score"} and top[0]["score"] >= top[-1]["score"]


def test_caps_limit_a_quick_build(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path))
    corpus = build_corpus("dvc", BuildOptions(fetcher="http", embedder="hashing", max_modules=1, max_commands=2))
    assert corpus.manifest["modules"] == ["dvc.api"] and corpus.manifest["caps"] == {"max_modules": 1,
                                                                                     "max_commands": 2}
    pages = {c["source"].removeprefix("installed://dvc/") for c in corpus.chunks}
    assert {"index.html", "mod/dvc.api.html", "cli/index.html", "cli/add.html", "cli/artifacts.html"} <= pages
    assert not any(p.startswith(("mod/dvc.repo", "cli/push")) for p in pages)


@pytest.mark.slow
def test_default_build_selenium_and_minilm(tmp_path, monkeypatch):
    """The CLI default: Selenium crawl of the rendered pages, all-MiniLM-L6-v2 embeddings (minutes here)."""
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path))
    corpus = build_corpus("dvc")
    assert corpus.manifest["fetcher"] == "selenium" and corpus.manifest["embedder"] == "minilm:all-MiniLM-L6-v2"
    assert corpus.manifest["pages"] >= 50
    top = corpus.search("upload the tracked data to remote storage", k=3)
    assert "installed://dvc/cli/push.html" in [d["source"] for d in top]


def test_summarise_replaces_chunk_texts_and_keeps_the_raw_text(tmp_path, monkeypatch):
    from benchmark.backends import get_backend

    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path))
    mock = get_backend("mock")
    mock.respond_with(lambda request, i: "SUMMARY of " + request.prompt.messages[-1]["content"].split("(", 1)[1][:20])
    corpus = build_corpus("dvc", BuildOptions(fetcher="http", embedder="hashing", max_modules=1, max_commands=1,
                                              summarise=True, model=mock))
    assert corpus.manifest["summariser"] == "mock" and len(mock.calls) == corpus.manifest["chunks"]
    assert all(c["text"].startswith("SUMMARY of ") and c["raw"] and c["raw"] != c["text"] for c in corpus.chunks)
    assert "Summarise this passage from the dvc documentation" in mock.calls[0].prompt.messages[-1]["content"]

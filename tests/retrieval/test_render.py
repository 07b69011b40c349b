"""The installed-docs pages as the corpora hold them: API summaries, cleaned signatures, commands linked to the API."""

from retrieval._chunking import CHUNK_SIZE
from retrieval._render import _public_members, _short_signature, _signature


def _chunk(corpus, first_line_has):
    return next(c for c in corpus.chunks if first_line_has in c["text"].splitlines()[0])


def test_a_packages_top_level_names_count_even_when_all_leaves_them_out():
    import wandb

    assert "Artifact" not in wandb.__all__  # the reason for the rule
    assert {"Artifact", "init", "Run", "log"} <= {name for name, _ in _public_members(wandb)}


class Repo:
    """Stands in for an API class named in a postponed annotation."""


class Stage:
    """Another one."""


def test_signatures_read_as_code():
    def push(repo: "Repo", targets: "list[str] | None" = None, *, remote: str = "origin", **kwargs) -> "'Stage'":
        """Push."""

    assert _signature(push) == "(repo: Repo, targets: list[str] | None = None, *, remote: str = 'origin', **kwargs) -> Stage"
    assert _short_signature(push, "method") == "(targets, remote, **kwargs)"
    assert _short_signature(push, "function") == "(repo, targets, remote, **kwargs)"


def test_undocumented_dvc_methods_say_which_command_they_run(use_corpus_cache):
    corpus = use_corpus_cache["dvc"]
    push = _chunk(corpus, "### dvc.repo.Repo.push(")
    assert "Runs behind the command line dvc push: Upload tracked files or directories to remote storage" in push["text"]
    edit = _chunk(corpus, "### dvc.config.Config.edit(")
    assert "dvc remote add" in edit["text"]  # `self.config.edit()` in the remote commands
    cli = next(c for c in corpus.chunks if c["source"].endswith("cli/push.html"))
    assert "Python API: dvc.repo.Repo.push(targets, jobs, remote" in cli["text"]


def test_classes_and_modules_open_with_a_summary_of_their_api(use_corpus_cache):
    corpus = use_corpus_cache["dvc"]
    members = [c for c in corpus.chunks if c["title"].startswith("dvc.repo.Repo — class › dvc.repo.Repo members")]
    listed = "\n".join(c["text"] for c in members)
    assert len(members) >= 2 and all(len(c["text"]) <= CHUNK_SIZE for c in members)
    assert "dvc.repo.Repo.add(targets, no_commit" in listed and "— runs `dvc add`: Track data files" in listed
    # the documented surface first (here: the methods behind a command), then the undocumented members
    assert listed.index("dvc.repo.Repo.push(targets") < listed.index("\ndvc.repo.Repo.tmp_dir")
    assert listed.index("dvc.repo.Repo.reproduce(") < listed.index("\ndvc.repo.Repo.brancher(")
    api = next(c for c in corpus.chunks if c["title"] == "dvc.api — module › dvc.api API summary")
    assert "dvc.api.read(path, repo, rev" in api["text"]


def _package(tmp_path, monkeypatch):
    """A small real package, `tinyapi`: a class, a module function that is the class' method re-exported (as
    W&B's `wandb.log` is `wandb.Run.log`), and a function without docstring."""
    import functools
    import sys
    import types

    module = types.ModuleType("tinyapi", "A tiny API.")

    class Runner:
        """Runs things."""

        def log(self, data: "list[float]", step: "int | None" = None) -> None:
            """Upload run data.

            Example: run.log({"loss": 0.5})."""

    @functools.wraps(Runner.log)
    def log(*args, **kwargs):
        return None

    def stub(targets: list, all_branches: bool = False):
        return None

    for obj in (Runner, log, stub):
        obj.__module__ = "tinyapi"
        module.__dict__[obj.__name__] = obj
    Runner.__qualname__ = "Runner"
    monkeypatch.setitem(sys.modules, "tinyapi", module)
    from retrieval._render import RenderOptions, render_site

    render_site("tinyapi", "1.0", RenderOptions(modules=["tinyapi"]), tmp_path)
    from bs4 import BeautifulSoup

    from retrieval.crawler import main_text

    return {p.name: main_text(BeautifulSoup(p.read_text(), "html.parser")) for p in tmp_path.rglob("*.html")}


def test_an_entry_is_headed_by_its_name_and_parameters_and_holds_its_full_signature(tmp_path, monkeypatch):
    runner = _package(tmp_path, monkeypatch)["tinyapi.Runner.html"]
    entry = runner[runner.index("### tinyapi.Runner.log"):]
    assert entry.startswith("### tinyapi.Runner.log(data, step)\n")
    assert "Signature: tinyapi.Runner.log(self, data: list[float], step: int | None = None) -> None" in entry
    assert entry.index("Upload run data.") < entry.index("Signature:") < entry.index('run.log({"loss": 0.5})')


def test_one_function_under_two_names_is_documented_once(tmp_path, monkeypatch):
    module = _package(tmp_path, monkeypatch)["tinyapi.html"]
    entry = module[module.index("### tinyapi.log"):]
    assert "The same function as tinyapi.Runner.log (documented there): Upload run data." in entry
    assert "run.log(" not in entry  # the example stays with the entry that documents it


def test_an_entry_without_docstring_is_only_its_summary_line(tmp_path, monkeypatch):
    module = _package(tmp_path, monkeypatch)["tinyapi.html"]
    assert "\ntinyapi.stub(targets, all_branches)" in module and "### tinyapi.stub" not in module

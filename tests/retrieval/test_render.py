"""The installed-docs pages as the corpora hold them: API summaries, cleaned signatures, commands linked to the API."""

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
    assert len(members) >= 2 and all(len(c["text"]) <= 2000 for c in members)
    assert "dvc.repo.Repo.add(targets, no_commit" in listed and "— runs `dvc add`: Track data files" in listed
    # the documented surface first (here: the methods behind a command), then the undocumented members
    assert listed.index("dvc.repo.Repo.push(targets") < listed.index("\ndvc.repo.Repo.tmp_dir")
    assert listed.index("dvc.repo.Repo.reproduce(") < listed.index("\ndvc.repo.Repo.brancher(")
    api = next(c for c in corpus.chunks if c["title"] == "dvc.api — module › dvc.api API summary")
    assert "dvc.api.read(path, repo, rev" in api["text"]

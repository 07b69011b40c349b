"""The AST analysis behind oracle-docs and coverage@k, and coverage on a hand-made example."""

import pytest

from benchmark.tasks import load_tasks
from retrieval import Symbol, coverage, source_symbols, target_symbols, used_symbols

GROUPS = ["remote", "stage"]


def names(symbols):
    return [s.name for s in symbols]


def test_reference_solutions_of_the_translation_tasks():
    tasks = {t.id: t for t in load_tasks(["dvc-from-gitpython-*"])}
    assert names(target_symbols(tasks["dvc-from-gitpython-dataset"])) == [
        "dvc.repo.Repo", "dvc.repo.Repo.add", "dvc.repo.Repo.config.edit", "dvc.repo.Repo.init",
        "dvc.repo.Repo.push"]
    assert names(target_symbols(tasks["dvc-from-gitpython-data-and-model"])) == [
        "dvc add", "dvc init", "dvc push", "dvc remote add"]
    source = names(source_symbols(tasks["dvc-from-gitpython-dataset"]))
    assert {"git.Repo", "git.Repo.index.add", "git.Repo.index.commit", "git.Repo.create_remote"} <= set(source)


def test_instances_annotations_aliases_and_command_lines():
    code = '''
import subprocess, os
import dvc.api
from dvc.repo import Repo as R
from git import Repo

def save(r: R, path):
    r.add(path)
    r.scm.add(["x"])                      # chain through an attribute
    out = r.status()                      # a method's result is not typed: out.keys() is ignored
    out.keys()

def run(*args):
    subprocess.run(["dvc", *args], check=True)

with R.init(".") as repo:
    repo.push(remote="s")
dvc.api.read("data.csv")
run("remote", "add", "-d", "s", "/tmp/s")
run("-v", "pull")
subprocess.check_call(["dvc", "stage", "add", "-n", "train"])
os.system("dvc gc -w")
Repo(".").index.commit("not dvc")
'''
    got = names(used_symbols(code, ["dvc"], "dvc", GROUPS))
    assert got == ["dvc.api.read", "dvc.repo.Repo", "dvc.repo.Repo.add", "dvc.repo.Repo.init", "dvc.repo.Repo.push",
                   "dvc.repo.Repo.scm.add", "dvc.repo.Repo.status", "dvc gc", "dvc pull", "dvc remote add",
                   "dvc stage add"]


def test_mentions_are_whole_words_and_case_insensitive():
    add = Symbol("dvc.repo.Repo.add")
    assert add.tail == "Repo.add"
    assert add.mentioned_in("### dvc.repo.Repo.add(self, targets)")
    assert add.mentioned_in("call repo.add('data.csv')")
    assert not add.mentioned_in("Repo.addition is something else")
    assert not add.mentioned_in("MyRepo.add")
    cli = Symbol("dvc remote add", "cli")
    assert cli.mentioned_in("usage: dvc remote  add [-h] name url")
    assert not cli.mentioned_in("dvc remote modify") and not cli.mentioned_in("dvc remote add-on")
    assert cli.defined_in("intro\nusage: dvc remote add [-h]") and not cli.defined_in("run dvc remote add first")


def test_coverage_on_a_hand_made_example():
    symbols = [Symbol("dvc.repo.Repo.add"), Symbol("dvc.repo.Repo.push"), Symbol("dvc remote add", "cli"),
               Symbol("dvc.repo.Repo.config.edit")]
    docs = [{"title": "Repo.add", "text": "Track files with DVC.", "source": "x"},
            {"title": "t", "text": "Run `dvc remote add -d storage /tmp/s` first.", "source": "y"},
            {"title": "t", "text": "Repo.pushing is not Repo.push_all.", "source": "z"}]
    assert coverage(symbols, docs) == pytest.approx(2 / 4)
    assert coverage(symbols, []) == 0.0
    assert coverage([], docs) is None
    docs.append({"title": "Config", "text": "dvc.config.Config.edit(level=None)", "source": "w"})
    assert coverage(symbols, docs) == pytest.approx(3 / 4)


# ---------------------------------------------------------------- values returned by calls, scopes (issue 16, gap 6)


def test_values_returned_by_library_calls_are_followed():
    code = '''
import wandb
import mlflow
from git import Repo

run = wandb.init(project="p")
run.log({"loss": 1.0}, step=1)
run.summary["best"] = 0.5
config = run.config
config.lr                                   # a key the config answers at run time: not an API name
with mlflow.start_run() as active:
    active.info.run_id
repo = Repo.init(".")
repo.remote("origin").push().raise_if_error()   # through a call in the middle of a chain
branch = repo.active_branch                 # a property whose annotation names a class
branch.checkout()
'''
    assert names(used_symbols(code, ["wandb"])) == ["wandb.Run.config", "wandb.Run.log", "wandb.Run.summary",
                                                   "wandb.init"]
    assert names(used_symbols(code, ["mlflow"])) == ["mlflow.ActiveRun.info.run_id", "mlflow.start_run"]
    assert {"git.Repo.init", "git.Repo.remote", "git.Remote.push", "git.Head.checkout",
            "git.Repo.active_branch"} <= set(names(used_symbols(code, ["git"])))


def test_names_are_resolved_scope_by_scope():
    code = '''
import dvc.api
from dvc.repo import Repo as DvcRepo
from git import Repo


def open_repositories() -> tuple[Repo, DvcRepo]:
    dvc = DvcRepo.init(".")                 # a local name: the module `dvc` stays visible elsewhere
    dvc.config.edit()
    return Repo("."), dvc


def unannotated():
    return DvcRepo(".")


def read():
    return dvc.api.read("data.csv")


def shadowed(dvc):
    dvc.api.read("x")                       # a parameter of unknown type hides the module: no symbol


def main():
    repo, dvc = open_repositories()         # the annotation of the script's own function
    dvc.push()
    unannotated().checkout()                # what its return statement gives
    repo.index.commit("m")
'''
    assert names(used_symbols(code, ["dvc"])) == ["dvc.api.read", "dvc.repo.Repo", "dvc.repo.Repo.checkout",
                                                 "dvc.repo.Repo.config.edit", "dvc.repo.Repo.init",
                                                 "dvc.repo.Repo.push"]
    assert "git.Repo.index.commit" in names(used_symbols(code, ["git"]))


def test_a_library_that_is_not_installed_falls_back_to_the_names_shape():
    code = "import nolib_here\nclient = nolib_here.Client.connect('x')\nclient.send(1)\nnolib_here.util()\n"
    assert names(used_symbols(code, ["nolib_here"])) == ["nolib_here.Client.connect", "nolib_here.Client.send",
                                                        "nolib_here.util"]


def test_translation_references_name_what_their_run_objects_do():
    tasks = {t.id: t for t in load_tasks(["wandb-from-mlflow-kmeans-sweep", "dvc-from-gitpython-revision"])}
    wandb_symbols = names(target_symbols(tasks["wandb-from-mlflow-kmeans-sweep"]))
    assert {"wandb.init", "wandb.Run.log", "wandb.Run.log_artifact", "wandb.Run.summary.update"} <= set(wandb_symbols)
    revision = names(target_symbols(tasks["dvc-from-gitpython-revision"]))
    assert "dvc.api.read" in revision and "dvc.repo.Repo.api.read" not in revision

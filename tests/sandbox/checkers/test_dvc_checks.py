"""The DVC checker and the GitPython -> DVC translation tasks, judged end to end: references and other correct
adaptations pass, untouched inputs fail as their task says, and broken adaptations fail with the right code.

Scripts really run (grade()); further defects are made by altering a copy of a passing work dir and
re-judging it (judge()), which is how stored executions are re-judged anyway."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmark.tasks import load_task
from sandbox.checkers import CHECKERS, CheckContext
from sandbox.checkers._warm import warm_record
from sandbox.checkers.dvc_checks import attribute_matches, load_outs, read_dvc_config
from sandbox.environment import build_env
from sandbox.grading import Graded, grade, judge
from sandbox.probes import read_events

from .grading_helpers import describe, mutate

TASKS = Path(__file__).resolve().parents[3] / "tasks"
VARIANTS = Path(__file__).resolve().parent / "dvc_variants"
DATASET, MODEL = "dvc-from-gitpython-dataset", "dvc-from-gitpython-data-and-model"


def run_task(task_id: str, code: str, root: Path) -> Graded:
    return grade(load_task(TASKS / task_id), code, root / "work")


def rejudge(task_id: str, graded: Graded, root: Path, alter) -> str:
    """Copy a passing work dir, alter the copy, and judge it again; returns the verdict code."""
    copy = root / "copy"
    shutil.copytree(graded.execution.workdir, copy, symlinks=True)
    alter(copy)
    return judge(load_task(TASKS / task_id), graded.execution.model_copy(update={"workdir": copy})).code


def git(workdir: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=workdir, env=build_env(workdir), check=True, capture_output=True)


@pytest.fixture(scope="module")
def dataset_reference(tmp_path_factory) -> Graded:
    return run_task(DATASET, load_task(TASKS / DATASET).reference_code(), tmp_path_factory.mktemp("dataset-ref"))


@pytest.fixture(scope="module")
def model_reference(tmp_path_factory) -> Graded:
    return run_task(MODEL, load_task(TASKS / MODEL).reference_code(), tmp_path_factory.mktemp("model-ref"))


# ---------------------------------------------------------------- what must pass


def test_dataset_reference_passes_and_dvc_agrees(dataset_reference):
    assert dataset_reference.verdict.passed, describe(dataset_reference)
    # DVC's own status(cloud=True) was asked, by the warm probe at the script's exit, and found it in sync
    record = warm_record(read_events(dataset_reference.execution.workdir).events, "dvc_status_probe")
    assert record is not None and record["status"] == {} and record["remote"] == "storage"
    assert not list((dataset_reference.execution.workdir / ".adaptbench").glob("probe*.py"))  # no fresh probe


def test_model_reference_passes(model_reference):
    assert model_reference.verdict.passed, describe(model_reference)
    assert model_reference.verdict.checks[0].details["tracking"] == ["data.dvc", "models/wine_rf.joblib.dvc"]


@pytest.mark.slow  # ~20-35 s on 2 busy cores; the model reference already covers this task in the fast run
def test_model_api_variant_passes(tmp_path):
    graded = run_task(MODEL, (VARIANTS / "data_and_model_api.py").read_text(), tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.slow  # 7 `dvc` command lines: ~30-40 s on 2 busy cores
def test_dataset_cli_variant_passes(tmp_path):
    graded = run_task(DATASET, (VARIANTS / "dataset_cli.py").read_text(), tmp_path)
    assert graded.verdict.passed, describe(graded)


# ---------------------------------------------------------------- what must fail


@pytest.mark.parametrize("task_id", [DATASET, MODEL])
def test_untouched_input_fails_as_declared(task_id, tmp_path):
    task = load_task(TASKS / task_id)
    graded = grade(task, task.input_code(), tmp_path / "work")
    assert graded.execution.exit_code == 0, describe(graded)  # the input itself works: only the DVC part is missing
    assert graded.verdict.code == task.input_fails_with, describe(graded)


ADD_TO_GIT = 'repo.index.add([f"{DATA_FILE}.dvc", '
NO_PUSH = ("pushed = dvc.push()", "pushed = 0")
LAST_PUSH = "        push(repo, dvc)\n"  # the last line of main()'s loop over dataset versions
REMOTE_CONFIG = """    with dvc.config.edit() as conf:
        conf["remote"][DVC_REMOTE] = {"url": DVC_STORAGE}
        conf["core"]["remote"] = DVC_REMOTE
"""
DATASET_MUTANTS = {
    "dvc_file_not_committed": ([(ADD_TO_GIT, "repo.index.add([")], "dvc.not_committed"),
    "not_pushed": ([NO_PUSH], "dvc.not_pushed"),
    "data_also_in_git": ([(LAST_PUSH, LAST_PUSH + "    repo.index.add([str(DATA_FILE)])\n"
                                                 "    repo.index.commit('keep a copy in git too')\n")],
                         "dvc.data_in_git"),
    "no_remote": ([(REMOTE_CONFIG, ""), NO_PUSH], "dvc.no_remote"),
}


@pytest.mark.parametrize("name", sorted(DATASET_MUTANTS))
def test_dataset_mutant_fails_with_its_code(name, tmp_path):
    edits, expected = DATASET_MUTANTS[name]
    code = mutate(load_task(TASKS / DATASET).reference_code(), *edits)
    graded = run_task(DATASET, code, tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == expected, describe(graded)


def _drop_remote_objects(workdir: Path) -> None:
    shutil.rmtree(workdir / "dvc-storage" / "files")


def _corrupt_remote_objects(workdir: Path) -> None:
    for obj in (workdir / "dvc-storage" / "files").rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.write_text("not the data\n")


def _point_remote_elsewhere(workdir: Path) -> None:
    config = workdir / ".dvc" / "config"
    config.write_text(config.read_text().replace("../dvc-storage", "../elsewhere"))
    shutil.copytree(workdir / "dvc-storage", workdir / "elsewhere")


def _commit_lfs_rule(workdir: Path) -> None:
    (workdir / ".gitattributes").write_text("*.csv filter=lfs diff=lfs merge=lfs -text\n")
    git(workdir, "add", ".gitattributes")
    git(workdir, "commit", "-q", "-m", "lfs")


def _commit_copy_of_data(workdir: Path) -> None:
    (workdir / "backup").mkdir()
    shutil.copy(workdir / "data" / "readings.csv", workdir / "backup" / "readings-v2.csv")
    git(workdir, "add", "backup")
    git(workdir, "commit", "-q", "-m", "backup")


def _edit_data(workdir: Path) -> None:
    with open(workdir / "data" / "readings.csv", "a") as fh:
        fh.write("2030-01-01 00:00:00,north,1.0,1.0,9\n")


@pytest.mark.parametrize(("alter", "expected"), [
    (_drop_remote_objects, "dvc.not_pushed"),
    (_corrupt_remote_objects, "dvc.not_pushed"),
    (_point_remote_elsewhere, "dvc.no_remote"),
    (_commit_lfs_rule, "dvc.lfs_left"),
    (_commit_copy_of_data, "dvc.data_in_git"),
    (_edit_data, "dvc.stale"),
])
def test_altered_dataset_workdir_fails(dataset_reference, tmp_path, alter, expected):
    assert dataset_reference.verdict.passed, describe(dataset_reference)
    assert rejudge(DATASET, dataset_reference, tmp_path, alter) == expected


def _drop_one_directory_entry(workdir: Path) -> None:
    import hashlib

    md5 = hashlib.md5((workdir / "data" / "train.csv").read_bytes()).hexdigest()
    (workdir / "dvc-storage" / "files" / "md5" / md5[:2] / md5[2:]).unlink()


def test_directory_entry_missing_from_remote_fails(model_reference, tmp_path):
    assert model_reference.verdict.passed, describe(model_reference)
    assert rejudge(MODEL, model_reference, tmp_path, _drop_one_directory_entry) == "dvc.not_pushed"


def _tag_older_commit(workdir: Path) -> None:
    git(workdir, "tag", "-f", "v1.0", "HEAD~1")


def _delete_tag(workdir: Path) -> None:
    git(workdir, "tag", "-d", "v1.0")


def _lfs_pointer_for_model(workdir: Path) -> None:
    (workdir / "models" / ".gitignore").unlink()
    model = workdir / "models" / "wine_rf.joblib"
    model.rename(workdir / "model.bak")
    model.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 1234\n")
    git(workdir, "add", "-A", "models")
    git(workdir, "commit", "-q", "-m", "pointer")
    (workdir / "model.bak").replace(model)


@pytest.mark.parametrize(("alter", "expected"), [
    (_tag_older_commit, "dvc.no_tag"), (_delete_tag, "dvc.no_tag"), (_lfs_pointer_for_model, "dvc.lfs_left")])
def test_altered_model_workdir_fails(model_reference, tmp_path, alter, expected):
    assert model_reference.verdict.passed, describe(model_reference)
    assert rejudge(MODEL, model_reference, tmp_path, alter) == expected


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status": {}}, "ok"),
    ({"status": {"data/readings.csv": "new"}}, "dvc.not_pushed"),
    ({"dvc_error": "ConfigError: bad remote"}, "dvc.status_error"),
    ({"error": "probe printed no JSON (exit 1)"}, "harness_error"),
])
def test_dvc_status_answer_decides_after_the_file_checks(dataset_reference, answer, expected):
    """What DVC's own status(cloud=True), run in the sandbox, says is the last word."""
    assert dataset_reference.verdict.passed, describe(dataset_reference)
    task = load_task(TASKS / DATASET)
    cls = CHECKERS.get("dvc_tracking")
    sent: list[str] = []
    ctx = CheckContext(task=task, workdir=dataset_reference.execution.workdir, execution=dataset_reference.execution,
                       events=[], run_probe=lambda source: sent.append(source) or answer)
    result = cls(cls.Args.model_validate(task.checks[0].args)).check(ctx)
    assert result.code == expected
    assert "'data/readings.csv.dvc'" in sent[0].replace('"', "'") and "cloud=True" in sent[0]


@pytest.mark.parametrize("record", [
    {"remote": "storage", "status": {"data/readings.csv": "new"}},  # out of sync: the fresh probe says how
    {"remote": "elsewhere", "status": {}},  # in sync with another remote than the one the checker found
    {"dvc_error": "ConfigError: bad remote"},
])
def test_a_warm_status_that_is_not_clean_goes_to_the_fresh_probe(dataset_reference, record):
    task = load_task(TASKS / DATASET)
    cls = CHECKERS.get("dvc_tracking")
    sent: list[str] = []
    ctx = CheckContext(task=task, workdir=dataset_reference.execution.workdir, execution=dataset_reference.execution,
                       events=[{"kind": "dvc_status_probe", **record}],
                       run_probe=lambda source: sent.append(source) or {"status": {"data/readings.csv": "new"}})
    assert cls(cls.Args.model_validate(task.checks[0].args)).check(ctx).code == "dvc.not_pushed"
    assert len(sent) == 1


def test_a_clean_warm_status_needs_no_fresh_probe(dataset_reference):
    task = load_task(TASKS / DATASET)
    cls = CHECKERS.get("dvc_tracking")
    ctx = CheckContext(task=task, workdir=dataset_reference.execution.workdir, execution=dataset_reference.execution,
                       events=[{"kind": "dvc_status_probe", "remote": "storage", "status": {}}],
                       run_probe=lambda source: pytest.fail("the fresh probe ran"))
    assert cls(cls.Args.model_validate(task.checks[0].args)).check(ctx).passed


# ---------------------------------------------------------------- several versions: history beyond HEAD

REVISION, BRANCHES, PIPELINE = "dvc-from-gitpython-revision", "dvc-from-gitpython-branches", "dvc-from-gitpython-pipeline"
EACH_PUSH = "    dvc.push()  # this version's data, while it is the workspace's\n"
PUSH_ONCE = ("    origin = repo.remote(\"origin\")\n", "    dvc_repo.push()\n    origin = repo.remote(\"origin\")\n")
HISTORY_CASES = {
    # name: (task, edits of its reference, code, evidence the reason names)
    "revision_pushes_only_the_latest": (REVISION, [(EACH_PUSH, ""), PUSH_ONCE], "dvc.version_not_pushed",
                                        "data/patients.csv at 'data-v1'"),
    "dataset_pushes_only_the_latest": (DATASET, [(LAST_PUSH, ""), ("\n\nif __name__", "    push(repo, dvc)\n\n\nif __name__")],
                                       "dvc.version_not_pushed", "data/readings.csv at commit"),
    # one push per version through the command line, right after its tag
    "revision_pushes_each_version_with_the_cli": (REVISION, [(EACH_PUSH, ("    __import__('subprocess').run(['dvc', "
                                                  "'push', '-q'], check=True)\n"))],
                                                  "ok", "versions data-v1, data-v2 pushed too"),
    # each version pushed as it is committed, by target (DVC cannot push every commit at once to a remote
    # given relative to the project: in an old commit's tree the url resolves against the tree's root)
    "dataset_pushes_each_version_by_target": (DATASET, [("    commit = repo.index.commit(",
                                              "    dvc.push(targets=[str(DATA_FILE)])\n    commit = repo.index.commit("),
                                              ("pushed = dvc.push()", "pushed = 0")],
                                              "ok", "every version in the git history pushed"),
}


SLOW_HISTORY = {"revision_pushes_each_version_with_the_cli", "dataset_pushes_only_the_latest"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_HISTORY else n
                                  for n in sorted(HISTORY_CASES)])
def test_every_version_must_reach_the_remote(name, tmp_path):
    task_id, edits, expected, evidence = HISTORY_CASES[name]
    graded = run_task(task_id, mutate(load_task(TASKS / task_id).reference_code(), *edits), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == expected, describe(graded)
    assert evidence in graded.verdict.reason, graded.verdict.reason


@pytest.fixture(scope="module")
def revision_reference(tmp_path_factory) -> Graded:
    task = load_task(TASKS / REVISION)
    return run_task(REVISION, task.reference_code(), tmp_path_factory.mktemp("revision-ref"))


def _retag_v1_without_dvc_file(workdir: Path) -> None:
    git(workdir, "tag", "-f", "data-v1", "main~2")  # the repository's first commit: no .dvc file yet


def _commit_v1_data_to_git_at_its_tag(workdir: Path) -> None:
    data = workdir / "data" / "patients.csv"
    kept = data.read_bytes()
    git(workdir, "checkout", "-q", "data-v1")
    git(workdir, "add", "-f", "data/patients.csv")
    git(workdir, "commit", "-q", "-m", "data in git")
    git(workdir, "tag", "-f", "data-v1")
    git(workdir, "checkout", "-q", "main")  # removes the file git tracked at the tag: put the workspace back
    data.write_bytes(kept)


@pytest.mark.parametrize(("alter", "expected"), [
    (_retag_v1_without_dvc_file, "dvc.version_not_tracked"),
    (_commit_v1_data_to_git_at_its_tag, "dvc.data_in_git")])
def test_an_earlier_version_must_be_a_dvc_version(revision_reference, tmp_path, alter, expected):
    assert revision_reference.verdict.passed, describe(revision_reference)
    assert rejudge(REVISION, revision_reference, tmp_path, alter) == expected


# ---------------------------------------------------------------- the pipeline task


@pytest.fixture(scope="module")
def pipeline_reference(tmp_path_factory) -> Graded:
    task = load_task(TASKS / PIPELINE)
    return run_task(PIPELINE, task.reference_code(), tmp_path_factory.mktemp("pipeline-ref"))


def test_pipeline_reference_passes(pipeline_reference):
    assert pipeline_reference.verdict.passed, describe(pipeline_reference)
    assert "pipeline stages prepare, train, evaluate run by DVC" in pipeline_reference.verdict.reason


BY_HAND = [  # dvc.yaml is written, but the script runs the stages itself: DVC never ran the pipeline
    ("    run_pipeline(dvc)\n    run_pipeline(dvc)  # a second run finds nothing to do\n",
     "    for name, *_ in STAGES:\n        run_stage(name)\n"),
    (("str(LOCK_FILE), str(METRICS_FILE),\n                    str(PREPARED.parent / \".gitignore\"), "
     "str(MODEL_FILE.parent / \".gitignore\"),"), "str(METRICS_FILE),"),
]
PARAMS_EDITED = [("    log.info(\"results committed as %s\"",
                  ("    PARAMS_FILE.write_text(PARAMS_FILE.read_text().replace(\"C: 1.0\", \"C: 2.0\"))\n"
                  "    log.info(\"results committed as %s\""))]


@pytest.mark.parametrize(("edits", "expected", "evidence"), [
    (BY_HAND, "dvc.pipeline_not_run", "dvc repro"),
    pytest.param(PARAMS_EDITED, "dvc.pipeline_stale", "parameter train.C in params.yaml changed (1.0 when it ran, now 2.0)",
                 marks=pytest.mark.slow),
])
def test_a_pipeline_dvc_did_not_run_fails(edits, expected, evidence, tmp_path):
    graded = run_task(PIPELINE, mutate(load_task(TASKS / PIPELINE).reference_code(), *edits), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == expected, describe(graded)
    assert evidence in graded.verdict.reason, graded.verdict.reason


def _drop_evaluate_stage(workdir: Path) -> None:
    import yaml

    doc = yaml.safe_load((workdir / "dvc.yaml").read_text())
    del doc["stages"]["evaluate"]
    (workdir / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    git(workdir, "commit", "-q", "-am", "two stages")


def _model_added_instead(workdir: Path) -> None:
    import yaml

    lock = yaml.safe_load((workdir / "dvc.lock").read_text())
    out = lock["stages"]["train"].pop("outs")[0]
    (workdir / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    (workdir / "models" / "model.joblib.dvc").write_text(yaml.safe_dump({"outs": [out | {"path": "model.joblib"}]}))
    git(workdir, "add", "dvc.lock", "models/model.joblib.dvc")
    git(workdir, "commit", "-q", "-m", "model by dvc add")


@pytest.mark.parametrize(("alter", "expected"), [
    (_drop_evaluate_stage, "dvc.no_pipeline"), (_model_added_instead, "dvc.not_pipeline_output")])
def test_an_altered_pipeline_fails(pipeline_reference, tmp_path, alter, expected):
    assert pipeline_reference.verdict.passed, describe(pipeline_reference)
    assert rejudge(PIPELINE, pipeline_reference, tmp_path, alter) == expected


@pytest.mark.slow  # eight `dvc` command lines
def test_pipeline_cli_variant_passes(tmp_path):
    graded = run_task(PIPELINE, (VARIANTS / "pipeline_cli.py").read_text(), tmp_path)
    assert graded.verdict.passed, describe(graded)


# ---------------------------------------------------------------- pieces


def test_args_reject_unknown_fields_and_empty_paths():
    args = CHECKERS.get("dvc_tracking").Args
    with pytest.raises(ValidationError):
        args.model_validate({"paths": ["data"], "remote_url": "x"})
    with pytest.raises(ValidationError):
        args.model_validate({"paths": []})


@pytest.mark.parametrize(("attr_file", "line", "path", "expected"), [
    (".gitattributes", "*.joblib filter=lfs diff=lfs merge=lfs -text", "models/m.joblib", True),
    (".gitattributes", "*.joblib filter=lfs", "models/m.pkl", False),
    (".gitattributes", "/data/*.csv filter=lfs", "data/train.csv", True),
    (".gitattributes", "data/*.csv filter=lfs", "other/data/train.csv", False),
    ("models/.gitattributes", "*.joblib filter=lfs", "models/m.joblib", True),
    ("models/.gitattributes", "*.joblib filter=lfs", "other/m.joblib", False),
    (".gitattributes", "data/**/*.csv filter=lfs", "data/train.csv", True),
    (".gitattributes", "# *.csv filter=lfs", "data/train.csv", False),
])
def test_gitattributes_patterns(attr_file, line, path, expected):
    assert attribute_matches(attr_file, line, path) is expected


def test_local_config_overrides_the_default_remote(tmp_path):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text(
        "[core]\n    remote = a\n['remote \"a\"']\n    url = ../a\n['remote \"b\"']\n    url = /abs/b\n")
    (tmp_path / ".dvc" / "config.local").write_text("[core]\n    remote = b\n")
    assert read_dvc_config(tmp_path) == {"remotes": {"a": "../a", "b": "/abs/b"}, "default": "b"}


def test_pipeline_outputs_in_dvc_lock_count_as_tracking(tmp_path):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prepare.py\n    outs:\n"
        "    - path: data/train.csv\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n      size: 3\n"
        "    - path: ../outside.csv\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.joblib.dvc").write_text("outs:\n- md5: abc.dir\n  path: m.joblib\n")
    outs = {o.path: o for o in load_outs(tmp_path)}
    assert set(outs) == {"data/train.csv", "models/m.joblib"}  # the path escaping the work dir is ignored
    assert outs["data/train.csv"].source == "dvc.lock" and not outs["data/train.csv"].legacy
    assert outs["models/m.joblib"].is_dir and outs["models/m.joblib"].legacy  # no `hash: md5`: DVC 2.x layout

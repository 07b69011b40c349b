"""The W&B tracking checker and the PyTorch W&B tasks, judged end to end: references and other correct
adaptations pass, untouched inputs fail as their task says, and broken adaptations fail with the right code.

Scripts really run (grade()) with WANDB_MODE=offline; the checker reads the offline run they leave behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmark.tasks import load_task
from sandbox.checkers import CHECKERS, wandb_checks
from sandbox.checkers.wandb_checks import (
    find_run_dirs,
    read_run_from_records,
    read_run_with_leet,
)
from sandbox.environment import build_env, make_dirs
from sandbox.grading import Graded, grade, judge

from .grading_helpers import describe, mutate

TASKS = Path(__file__).resolve().parents[3] / "tasks"
MNIST, VAE = "wandb-tracking-pytorch-mnist", "wandb-tracking-pytorch-vae"


def run_task(task_id: str, code: str, root: Path) -> Graded:
    return grade(load_task(TASKS / task_id), code, root / "work")


def reference(task_id: str = MNIST) -> str:
    return load_task(TASKS / task_id).reference_code()


@pytest.fixture(scope="module")
def mnist_reference(tmp_path_factory) -> Graded:
    return run_task(MNIST, reference(), tmp_path_factory.mktemp("mnist-ref"))


# ---------------------------------------------------------------- what must pass


def test_mnist_reference_passes_with_its_metrics_and_config(mnist_reference):
    assert mnist_reference.verdict.passed, describe(mnist_reference)
    run = mnist_reference.verdict.checks[0].details["runs"][0]
    assert run["history_rows"] == 2  # one row per epoch, two epochs in smoke mode
    assert {"train_loss", "test_loss", "test_accuracy"} <= set(run["metrics"])
    assert {"lr", "batch_size", "epochs"} <= set(run["config_keys"])


def test_vae_reference_passes(tmp_path):
    graded = run_task(VAE, reference(VAE), tmp_path)
    assert graded.verdict.passed, describe(graded)
    assert "samples" in graded.verdict.checks[0].details["runs"][0]["metrics"]  # a wandb.Image counts as one metric


def test_per_step_logging_with_module_api_and_late_config_passes(tmp_path):
    """Another correct style: module-level wandb.log every batch, config set after init, no explicit finish."""
    code = mutate(
        reference(),
        ("    run = wandb.init(project=\"digits-convnet\", config=vars(args))\n",
         "    run = wandb.init(project=\"digits-convnet\")\n    wandb.config.update(vars(args))\n"),
        ("        optimizer.step()\n", "        optimizer.step()\n        wandb.log({\"batch_loss\": loss.item()})\n"),
        ("        run.log({", "        wandb.log({"),
        ("    run.finish()\n", ""),
    )
    graded = run_task(MNIST, code, tmp_path)
    assert graded.verdict.passed, describe(graded)
    run = graded.verdict.checks[0].details["runs"][0]
    assert run["history_rows"] > 10 and "batch_loss" in run["metrics"]


# ---------------------------------------------------------------- what must fail


@pytest.mark.parametrize("task_id", [MNIST, VAE])
def test_untouched_input_fails_as_the_task_says(task_id, tmp_path):
    task = load_task(TASKS / task_id)
    graded = grade(task, task.input_code(), tmp_path / "work")
    assert graded.verdict.code == task.input_fails_with == "wandb.no_run", describe(graded)


def test_init_without_log_fails_no_history(tmp_path):
    code = mutate(reference(), ("        run.log({", "        dict({"))
    graded = run_task(MNIST, code, tmp_path)
    assert graded.verdict.code == "wandb.no_history", describe(graded)


def test_run_without_config_fails_no_config(tmp_path):
    code = mutate(reference(), ("config=vars(args))", ")"))
    graded = run_task(MNIST, code, tmp_path)
    assert graded.verdict.code == "wandb.no_config", describe(graded)


def test_run_marked_failed_fails_run_failed(tmp_path):
    code = mutate(reference(), ("    run.finish()\n", "    run.finish(exit_code=1)\n"))
    graded = run_task(MNIST, code, tmp_path)
    assert graded.execution.exit_code == 0  # the script itself ended well: only the run record tells
    assert graded.verdict.code == "wandb.run_failed", describe(graded)


def test_hard_coded_online_mode_crashes_without_a_key(tmp_path):
    code = mutate(reference(), ('project="digits-convnet",', 'project="digits-convnet", mode="online",'))
    graded = run_task(MNIST, code, tmp_path)
    assert graded.verdict.code == "runtime_error", describe(graded)
    assert "API key" in graded.verdict.reason or "api_key" in graded.execution.stderr_tail


def test_hard_coded_online_mode_with_error_handling_leaves_no_run(tmp_path):
    """The study's prompt asks to 'handle potential errors during the logging process': a script that swallows
    the failed init trains fine but tracked nothing."""
    code = mutate(
        reference(),
        ("    run = wandb.init(project=\"digits-convnet\", config=vars(args))\n",
         ("    try:\n        run = wandb.init(project=\"digits-convnet\", mode=\"online\", config=vars(args))\n"
         "    except Exception:\n        log.warning(\"W&B unavailable; not tracking\")\n"
         "        run = wandb.init(mode=\"disabled\")\n")),
    )
    graded = run_task(MNIST, code, tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == "wandb.no_run", describe(graded)


def test_a_garbled_log_is_a_failed_run_not_a_checker_crash(mnist_reference, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(mnist_reference.execution.workdir, copy, symlinks=True)
    for log_file in copy.glob("wandb/offline-run-*/*.wandb"):
        log_file.write_bytes(b"not a wandb log at all" * 10)
    verdict = judge(load_task(TASKS / MNIST), mnist_reference.execution.model_copy(update={"workdir": copy}))
    assert verdict.code == "wandb.no_history", verdict.reason
    assert verdict.checks[0].details["runs"][0]["reader"] == "unreadable"


# ---------------------------------------------------------------- the two readers agree


def test_leet_and_the_record_decoder_agree_on_the_reference_run(mnist_reference):
    workdir = mnist_reference.execution.workdir
    (rundir,) = find_run_dirs(workdir)
    leet, records = read_run_with_leet(rundir, workdir), read_run_from_records(rundir)
    fields = ("history_rows", "metrics", "config", "exit_code", "name", "group", "tags", "steps", "axes", "summary",
              "files", "media", "has_model")
    assert {f: getattr(leet, f) for f in fields} == {f: getattr(records, f) for f in fields}
    assert leet.steps and leet.summary  # what translation checks compare is really read


def test_decoder_follows_records_across_32k_blocks(tmp_path):
    """A run long enough that records span the log's 32 KiB blocks, written by wandb itself."""
    make_dirs(tmp_path)
    script = ("import wandb\nrun = wandb.init(project='p', config={'lr': 0.1})\n"
              "for i in range(1500):\n    run.log({'loss': 1.0 / (i + 1), 'note': 'x' * 40})\nrun.finish()\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=build_env(tmp_path), check=True,
                   capture_output=True, timeout=120)
    (rundir,) = find_run_dirs(tmp_path)
    assert next(rundir.glob("*.wandb")).stat().st_size > 3 * 32 * 1024
    decoded = read_run_from_records(rundir)
    assert decoded.history_rows == 1500 and decoded.config == {"lr": 0.1} and decoded.exit_code == 0
    assert read_run_with_leet(rundir, tmp_path).history_rows == 1500


def test_checker_reads_the_log_in_process_without_leet(mnist_reference, monkeypatch):
    monkeypatch.setattr(wandb_checks, "wandb_executable", lambda: "/nonexistent/wandb")
    verdict = judge(load_task(TASKS / MNIST), mnist_reference.execution)
    assert verdict.passed, verdict.reason
    assert verdict.checks[0].details["runs"][0]["reader"] == "records"


def test_checker_asks_leet_when_the_decoder_cannot_read_the_log(mnist_reference, monkeypatch):
    def unreadable(rundir):
        raise ValueError("a record layout this decoder does not know")

    monkeypatch.setattr(wandb_checks, "read_run_from_records", unreadable)
    verdict = judge(load_task(TASKS / MNIST), mnist_reference.execution)
    assert verdict.passed, verdict.reason
    assert verdict.checks[0].details["runs"][0]["reader"] == "leet"


# ---------------------------------------------------------------- arguments


def test_args_are_validated():
    cls = CHECKERS.get("wandb_tracking")
    with pytest.raises(ValidationError):
        cls.Args.model_validate({"min_history_row": 2})
    with pytest.raises(ValidationError):
        cls.Args.model_validate({"min_history_rows": 0})
    assert cls.Args.model_validate({}).require_finished is True

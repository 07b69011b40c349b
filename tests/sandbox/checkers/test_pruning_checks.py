"""The pruning checker and the PyTorch pruning tasks (NNCF and torch.nn.utils.prune), judged end to end:
references and other correct adaptations pass, untouched inputs fail as their task says, and broken
adaptations fail with the right code.

Scripts really run (grade()); the checker's probe watches their optimizer steps. Defects that need no new
run are made by re-judging a finished work dir (judge()): under another task, with other checker args, or
with its model file altered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from benchmark.tasks import load_task
from benchmark.types import CheckSpec, Task
from sandbox.checkers import CHECKERS
from sandbox.checkers.pruning_checks import load_sparsity
from sandbox.grading import Graded, grade, judge
from sandbox.probes import SEALED_FILE

from .grading_helpers import describe, mutate

TASKS = Path(__file__).resolve().parents[3] / "tasks"
NNCF, TORCH = "nncf-pruning-pytorch-mnist", "torch-prune-pytorch-mnist"
NNCF_VAE, TORCH_VAE = "nncf-pruning-pytorch-vae", "torch-prune-pytorch-vae"


def task(task_id: str) -> Task:
    return load_task(TASKS / task_id)


def run_task(task_id: str, code: str, root: Path) -> Graded:
    return grade(task(task_id), code, root / "work")


def rejudge(task_id: str, graded: Graded, **pruning_args) -> Graded:
    """Judge a finished execution again, under `task_id` and with the pruning check's args overridden."""
    t = task(task_id)
    checks = tuple(CheckSpec(name=c.name, args={**c.args, **pruning_args}) if c.name == "pruning" else c
                   for c in t.checks)
    return Graded(graded.execution, judge(t.model_copy(update={"checks": checks}), graded.execution))


def altered_copy(graded: Graded, root: Path, alter) -> Graded:
    copy = root / "copy"
    shutil.copytree(graded.execution.workdir, copy, symlinks=True)
    alter(copy)
    return Graded(graded.execution.model_copy(update={"workdir": copy}), graded.verdict)


def observed(graded: Graded) -> dict:
    return graded.verdict.checks[0].details["observed"]


@pytest.fixture(scope="module")
def nncf_reference(tmp_path_factory) -> Graded:
    return run_task(NNCF, task(NNCF).reference_code(), tmp_path_factory.mktemp("nncf-ref"))


@pytest.fixture(scope="module")
def torch_reference(tmp_path_factory) -> Graded:
    return run_task(TORCH, task(TORCH).reference_code(), tmp_path_factory.mktemp("torch-ref"))


@pytest.fixture(scope="module")
def untouched_input(tmp_path_factory) -> Graded:
    return run_task(NNCF, task(NNCF).input_code(), tmp_path_factory.mktemp("input"))


# ---------------------------------------------------------------- what must pass


def test_nncf_reference_passes_pruned_at_every_step(nncf_reference):
    assert nncf_reference.verdict.passed, describe(nncf_reference)
    seen = observed(nncf_reference)
    assert seen["nncf_used"] and not seen["torch_prune_used"]
    assert seen["steps_pruned"]["nncf"] == seen["optimizer_steps"] > 0
    saved = nncf_reference.verdict.checks[0].details["saved"]
    assert saved["masks"]["nncf"] == 4 and 0.45 <= saved["sparsity"] <= 0.55  # conv1, conv2, fc1, fc2


def test_torch_reference_passes(torch_reference):
    assert torch_reference.verdict.passed, describe(torch_reference)
    seen = observed(torch_reference)
    assert seen["torch_prune_used"] and seen["steps_pruned"]["torch_prune"] == seen["optimizer_steps"]


@pytest.mark.parametrize("task_id", [NNCF_VAE, TORCH_VAE])
def test_vae_references_pass(task_id, tmp_path):
    graded = run_task(task_id, task(task_id).reference_code(), tmp_path)
    assert graded.verdict.passed, describe(graded)


def test_nncf_global_one_shot_with_strip_passes(tmp_path):
    """Global magnitude mode, one fixed ratio before training, no scheduler, real zeros saved after nncf.strip."""
    code = mutate(
        task(NNCF).reference_code(),
        ("    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL\n", "    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL\n"),
        ("ratio=0.0,", "ratio=args.sparsity,"),
        ("    pruning = MultiStepMagnitudePruningScheduler(model, mode=mode, steps={0: args.sparsity / 2, 1: args.sparsity})\n", ""),
        ("        pruning.step()\n", ""),
        ("    torch.save(model.state_dict(), args.save_path)",
         ("    stripped = nncf.strip(model, do_copy=True, strip_format=nncf.StripFormat.IN_PLACE)\n"
         "    torch.save(stripped.state_dict(), args.save_path)")),
    )
    graded = run_task(NNCF, code, tmp_path)
    assert graded.verdict.passed, describe(graded)
    saved = graded.verdict.checks[0].details["saved"]
    assert saved["masks"]["nncf"] == 0 and saved["sparsity"] >= 0.45  # judged from real zeros


def test_torch_per_layer_masks_in_a_checkpoint_dict_pass(tmp_path):
    """Per-layer l1_unstructured once before training; masks kept (weight_orig/weight_mask) in a checkpoint
    dict that also holds the optimizer's state."""
    code = mutate(
        task(TORCH).reference_code(),
        ("        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)\n", ""),
        ("    sparsity = 0.0\n",
         ("    for module, name in prunable(model):\n"
         "        prune.l1_unstructured(module, name=name, amount=args.sparsity)\n"
         "    sparsity = args.sparsity\n")),
        ("    for module, name in prunable(model):\n        prune.remove(module, name)  # make the zeros permanent: a plain state_dict\n", ""),
        ("    torch.save(model.state_dict(), args.save_path)",
         ("    torch.save({\"model_state_dict\": model.state_dict(), \"optimizer_state_dict\": optimizer.state_dict(),"
         " \"epoch\": args.epochs}, args.save_path)")),
    )
    graded = run_task(TORCH, code, tmp_path)
    assert graded.verdict.passed, describe(graded)
    assert graded.verdict.checks[0].details["saved"]["masks"]["torch"] == 4


def test_torch_prune_and_remove_after_each_epoch_passes(tmp_path):
    """Iterative pruning that makes the zeros permanent after every epoch: no mask is left while the next
    epoch trains, but the weights it updates are sparse."""
    code = mutate(
        task(TORCH).reference_code(),
        ("        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)\n", ""),
        ("        scheduler.step()\n",
         ("        scheduler.step()\n"
         "        prune_to(model, args.sparsity * epoch / args.epochs, 0.0)\n"
         "        for module, name in prunable(model):\n"
         "            prune.remove(module, name)\n")),
        ("    for module, name in prunable(model):\n        prune.remove(module, name)  # make the zeros permanent: a plain state_dict\n", ""),
    )
    graded = run_task(TORCH, code, tmp_path)
    assert graded.verdict.passed, describe(graded)


# ---------------------------------------------------------------- what must fail


def test_untouched_input_fails_as_both_tasks_say(untouched_input):
    assert untouched_input.verdict.code == task(NNCF).input_fails_with == "pruning.none", describe(untouched_input)
    assert rejudge(TORCH, untouched_input).verdict.code == task(TORCH).input_fails_with == "pruning.none"
    assert observed(untouched_input)["optimizer_steps"] > 0  # the probe saw the training: it just was not pruned


def test_untouched_vae_input_fails_as_both_tasks_say(tmp_path):
    graded = run_task(NNCF_VAE, task(NNCF_VAE).input_code(), tmp_path)
    assert graded.verdict.code == task(NNCF_VAE).input_fails_with, describe(graded)
    assert rejudge(TORCH_VAE, graded).verdict.code == task(TORCH_VAE).input_fails_with


def test_importing_nncf_without_pruning_fails_none(tmp_path):
    code = mutate(task(NNCF).input_code(), ("import torch\n", "import nncf  # noqa: F401\nimport torch\n"))
    graded = run_task(NNCF, code, tmp_path)
    assert graded.verdict.code == "pruning.none", describe(graded)


def test_nncf_pruning_only_after_training_fails(tmp_path):
    code = mutate(
        task(NNCF).reference_code(),
        (("    model = nncf.prune(model, mode=mode, ratio=0.0, examples_inputs=torch.zeros(1, 1, 8, 8))\n"
         "    pruning = MultiStepMagnitudePruningScheduler(model, mode=mode, steps={0: args.sparsity / 2, 1: args.sparsity})\n"), ""),
        ("        pruning.step()\n        log.info(\"epoch %d: pruning ratio %.2f\", epoch, nncf.pruning_statistic(model).pruning_ratio)\n", ""),
        ("    torch.save(model.state_dict(), args.save_path)",
         ("    model = nncf.prune(model, mode=mode, ratio=args.sparsity, examples_inputs=torch.zeros(1, 1, 8, 8))\n"
         "    torch.save(model.state_dict(), args.save_path)")),
    )
    graded = run_task(NNCF, code, tmp_path)
    assert graded.verdict.code == "pruning.not_during_training", describe(graded)
    assert graded.verdict.checks[0].details["saved"]["sparsity"] >= 0.45  # the file alone would have passed


def test_torch_pruning_only_after_training_fails(tmp_path):
    code = mutate(
        task(TORCH).reference_code(),
        ("        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)\n", ""),
        ("    for module, name in prunable(model):\n        prune.remove",
         "    prune_to(model, args.sparsity, 0.0)\n    for module, name in prunable(model):\n        prune.remove"),
    )
    graded = run_task(TORCH, code, tmp_path)
    assert graded.verdict.code == "pruning.not_during_training", describe(graded)


def test_pruning_a_copy_while_training_the_original_fails(tmp_path):
    """Pruned during training, but not the model the optimizer trains: the saved (copied) model is sparse."""
    code = mutate(
        task(TORCH).reference_code(),
        ("import argparse\n", "import argparse\nimport copy\n"),
        ("        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)\n",
         ("        pruned = copy.deepcopy(model)\n"
         "        sparsity = prune_to(pruned, args.sparsity, 0.0)\n")),
        (("    for module, name in prunable(model):\n        prune.remove(module, name)  # make the zeros permanent: a plain state_dict\n"
         "    torch.save(model.state_dict(), args.save_path)"),
         "    torch.save(pruned.state_dict(), args.save_path)"),
    )
    graded = run_task(TORCH, code, tmp_path)
    assert graded.verdict.code == "pruning.not_during_training", describe(graded)
    assert observed(graded)["torch_prune_used"]


def test_the_other_library_fails_wrong_method(nncf_reference, torch_reference):
    torch_for_nncf = rejudge(NNCF, torch_reference)
    assert torch_for_nncf.verdict.code == "pruning.wrong_method", describe(torch_for_nncf)
    nncf_for_torch = rejudge(TORCH, nncf_reference)
    assert nncf_for_torch.verdict.code == "pruning.wrong_method", describe(nncf_for_torch)


@pytest.mark.parametrize("args, code", [({"min_sparsity": 0.6}, "pruning.low_sparsity"),
                                        ({"max_sparsity": 0.4}, "pruning.too_sparse"),
                                        ({"min_sparsity": 0.45}, "ok")])
def test_sparsity_bounds_are_enforced(nncf_reference, torch_reference, args, code):
    for task_id, graded in ((NNCF, nncf_reference), (TORCH, torch_reference)):
        assert rejudge(task_id, graded, **args).verdict.code == code


def test_missing_model_file_fails(nncf_reference, tmp_path):
    copy = altered_copy(nncf_reference, tmp_path, lambda w: (w / "model.pt").unlink())
    assert rejudge(NNCF, copy).verdict.code == "pruning.no_model_file"


def test_a_pickled_model_object_is_not_accepted_as_data(torch_reference, tmp_path):
    copy = altered_copy(torch_reference, tmp_path,
                        lambda w: torch.save(torch.nn.Linear(4, 4), w / "model.pt"))  # a module, not a state_dict
    graded = rejudge(TORCH, copy)
    assert graded.verdict.code == "pruning.no_model_file"
    assert "weights_only" in graded.verdict.reason


# ---------------------------------------------------------------- the saved model, unit level


def test_sparsity_of_a_saved_state_dict_counts_masks_and_zeros(tmp_path):
    weight = torch.ones(4, 5)
    mask = torch.zeros(4, 5)
    mask[:, :2] = 1  # 60 % pruned
    nncf_mask = torch.ones(4, 5, dtype=torch.bool)
    nncf_mask[0] = False  # 25 % pruned
    zeros = torch.ones(4, 5)
    zeros[:2] = 0  # 50 % pruned
    state = {"a.weight_orig": weight, "a.weight_mask": mask, "a.bias": torch.ones(4),
             "b.weight": weight.clone(), "__nncf_hooks.post_hooks.b:weight__0.0.binary_mask": nncf_mask,
             "c.weight": zeros}
    torch.save(state, tmp_path / "m.pt")
    saved = load_sparsity(tmp_path / "m.pt")
    assert saved.error is None and saved.masks == {"torch": 1, "nncf": 1}
    assert saved.weights == 60 and saved.zeros == 12 + 5 + 10  # biases (1-D) and masks are not weights


def test_optimizer_state_in_a_checkpoint_is_not_counted(tmp_path):
    torch.save({"model": {"fc.weight": torch.zeros(3, 3)}, "optimizer": {"state": {0: {"m": torch.ones(30, 30)}}}},
               tmp_path / "m.pt")
    assert load_sparsity(tmp_path / "m.pt").sparsity == 1.0


# ---------------------------------------------------------------- which weights each method can prune


def test_sparsity_counts_only_what_the_method_can_prune(tmp_path):
    half = torch.cat([torch.zeros(2, 4), torch.ones(2, 4)])
    state = {"embed.weight": half.clone(), "rnn.weight_ih_l0": torch.ones(4, 4), "rnn.weight_hh_l0": torch.ones(4, 4),
             "cross.in_proj_weight": torch.ones(12, 4), "self.in_proj_weight": torch.ones(12, 4),
             "__nncf_hooks.post_hooks.self:in_proj_weight__0.0.binary_mask": torch.cat(
                 [torch.zeros(6, 4), torch.ones(6, 4)]).bool(),
             "pos_embed": torch.ones(1, 5, 4), "cls_token": torch.ones(1, 1, 4)}
    torch.save(state, tmp_path / "m.pt")
    nncf = load_sparsity(tmp_path / "m.pt", "nncf")
    # the embedding (8 of 16 zero) and the self-attention projection NNCF masked (24 of 48 zero)
    assert (nncf.weights, nncf.zeros) == (16 + 48, 8 + 24) and nncf.sparsity == 0.5
    assert set(nncf.left_out) == {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "cross.in_proj_weight", "pos_embed",
                                  "cls_token"}
    torch_prune = load_sparsity(tmp_path / "m.pt", "torch_prune")  # can also mask RNN and attention matrices
    assert torch_prune.weights == 16 + 16 + 16 + 48 + 48 and set(torch_prune.left_out) == {"pos_embed", "cls_token"}
    assert nncf.overall == torch_prune.overall < nncf.sparsity  # every matrix, for the record


def test_args_are_validated():
    cls = CHECKERS.get("pruning")
    with pytest.raises(ValidationError):
        cls.Args.model_validate({"method": "nncf", "min_sparisty": 0.5})
    with pytest.raises(ValidationError):
        cls.Args.model_validate({"method": "tfmot"})
    assert cls.Args.model_validate({"method": "torch_prune"}).model_file == "model.pt"


def test_a_broken_probe_is_the_harness_fault_not_the_candidate(torch_reference, tmp_path):
    def break_probe(workdir: Path) -> None:  # what the harness sealed: only a probe error, no step
        (workdir / SEALED_FILE).write_text(json.dumps({"format": 1, "events": [
            {"kind": "probe_error", "probe": "pruning", "error": "RuntimeError()"}]}))

    graded = rejudge(TORCH, altered_copy(torch_reference, tmp_path, break_probe))
    assert graded.verdict.status.value == "error" and graded.verdict.code == "harness_error"


# ---------------------------------------------------------------- the LSTM language model: NNCF cannot mask nn.LSTM

WORD_LM = "nncf-pruning-pytorch-word-lm"
WORD_LM_SPARSITY = '    parser.add_argument("--sparsity", type=float, default=0.7,'


@pytest.mark.slow
@pytest.mark.parametrize("edits, code", [
    # half the embedding and decoder weights: 50 % of what NNCF can prune, ~33 % of every matrix (failed before)
    ([(WORD_LM_SPARSITY, WORD_LM_SPARSITY.replace("0.7", "0.5"))], "ok"),
    # the same target per layer instead of over the whole model
    ([(WORD_LM_SPARSITY, WORD_LM_SPARSITY.replace("0.7", "0.55")),
      ("    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL\n", "    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL\n")],
     "ok"),
    ([(WORD_LM_SPARSITY, WORD_LM_SPARSITY.replace("0.7", "0.3"))], "pruning.low_sparsity"),
])
def test_lstm_weights_are_not_counted_against_nncf(edits, code, tmp_path):
    graded = run_task(WORD_LM, mutate(task(WORD_LM).reference_code(), *edits), tmp_path)
    assert graded.verdict.code == code, describe(graded)
    saved = graded.verdict.checks[0].details["saved"]
    assert "rnn.weight_ih_l0" in saved["not_prunable"] and saved["overall_sparsity"] < saved["sparsity"]
    if code != "ok":
        assert "not counted: rnn.weight_hh_l0" in graded.verdict.reason

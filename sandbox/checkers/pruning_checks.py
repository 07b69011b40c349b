"""During-training pruning (NNCF or torch.nn.utils.prune), judged from what the script did and left behind.

Two sources of evidence, neither of them the script's own output:

* a probe (sitecustomize) that watches every optimizer step. torch's global registration hooks tell it which
  modules received a torch-prune mask (`<name>_mask` buffer beside a `<name>_orig` parameter) and which models
  received an NNCF hook storage (`__nncf_hooks`); a global optimizer pre-step hook then measures, for the
  parameters that optimizer is about to update, how many carry a mask and how sparse the masks are. Pruning
  that only happens after the last step, or on a copy of the model, is never seen at a step.
* the saved model file (`torch.load(weights_only=True)`: a state_dict is data), whose effective sparsity over
  weight tensors (>= 2-D) is computed from `_orig`*`_mask`, NNCF `binary_mask` buffers, or plain zeros.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

STEP_EVENT = "pruning_step"
TORCH_MASK_EVENT = "pruning_torch_mask"
NNCF_STORAGE_EVENT = "pruning_nncf_storage"
ZERO_ACTIVITY = 0.05  # exact zeros in updated weights this common only come from pruning (e.g. prune + remove)

PROBE = r'''
import weakref as _pr_weakref


class _PrState:
    torch_modules = _pr_weakref.WeakSet()  # modules that received a torch.nn.utils.prune mask
    nncf_models = _pr_weakref.WeakSet()  # models that received an NNCF hook storage
    seen = set()
    step = 0
    last = None


def _pr_on_buffer(module, name, buffer):
    if name.endswith("_mask") and (name[:-5] + "_orig") in getattr(module, "_parameters", {}):
        _PrState.torch_modules.add(module)
        key = ("torch", id(module), name)
        if key not in _PrState.seen:
            _PrState.seen.add(key)
            _adaptbench_event("pruning_torch_mask", module=type(module).__name__, tensor=name[:-5],
                              step=_PrState.step)


def _pr_on_module(parent, name, child):
    if name == "__nncf_hooks" and child is not None:
        _PrState.nncf_models.add(parent)
        key = ("nncf", id(parent))
        if key not in _PrState.seen:
            _PrState.seen.add(key)
            _adaptbench_event("pruning_nncf_storage", model=type(parent).__name__, step=_PrState.step)


def _pr_torch_masks(params):
    """(masked tensors, masked elements, pruned elements) over optimised `_orig` parameters."""
    n = total = pruned = 0
    for module in list(_PrState.torch_modules):
        for pname, param in list(module._parameters.items()):
            if not pname.endswith("_orig") or id(param) not in params:
                continue
            mask = module._buffers.get(pname[:-5] + "_mask")
            if mask is None:
                continue
            n += 1
            total += mask.numel()
            pruned += int((mask == 0).sum())
    return n, total, pruned


def _pr_nncf_mask(hook):
    mask = getattr(hook, "binary_mask", None)
    if mask is not None:
        return mask.bool()
    logits = getattr(hook, "mask", None)  # regularization-based: a learnt logit per weight
    if logits is not None and hasattr(logits, "sigmoid"):
        return logits.detach().sigmoid() > 0.5
    return None


def _pr_nncf_masks(params):
    n = total = pruned = 0
    for model in list(_PrState.nncf_models):
        storage = model._modules.get("__nncf_hooks")
        if storage is None:
            continue
        for hname, hook in storage.named_modules():
            parts = hname.split(".")
            if len(parts) < 3 or "__" not in parts[-2]:
                continue
            mask = _pr_nncf_mask(hook)
            if mask is None:
                continue
            try:
                param = model.get_parameter(parts[-2].rsplit("__", 1)[0].replace(":", "."))
            except (AttributeError, ValueError):
                continue
            if id(param) not in params:
                continue
            n += 1
            total += mask.numel()
            pruned += int((~mask).sum())
    return n, total, pruned


def _pr_zero_fraction(tensors):
    total = zeros = 0
    for t in tensors:
        if t.dim() >= 2 and t.is_floating_point():
            total += t.numel()
            zeros += int((t.detach() == 0).sum())
    return zeros / total if total else 0.0


def _pr_sampled(step):
    return step <= 20 or (step <= 200 and step % 10 == 0) or step % 100 == 0


def _pr_pre_step(optimizer, args, kwargs):
    _PrState.step += 1
    tensors = [p for group in optimizer.param_groups for p in group["params"]]
    params = {id(p) for p in tensors}
    tn, ttotal, tpruned = _pr_torch_masks(params)
    nn_, ntotal, npruned = _pr_nncf_masks(params)
    state = dict(opt_params=len(tensors), torch_masked=tn, torch_sparsity=round(tpruned / ttotal, 4) if ttotal else 0.0,
                 nncf_masked=nn_, nncf_sparsity=round(npruned / ntotal, 4) if ntotal else 0.0,
                 zero_fraction=round(_pr_zero_fraction(tensors), 4))
    coarse = (len(tensors), tn, nn_, state["torch_sparsity"] // 0.01, state["nncf_sparsity"] // 0.01,
              state["zero_fraction"] >= 0.05)
    if coarse != _PrState.last or _pr_sampled(_PrState.step):
        _adaptbench_event("pruning_step", step=_PrState.step, optimizer=type(optimizer).__name__, **state)
    _PrState.last = coarse


def _pr_install(torch_module):
    import torch.nn.modules.module as _m
    import torch.optim.optimizer as _o

    _m.register_module_buffer_registration_hook(_pr_on_buffer)
    _m.register_module_module_registration_hook(_pr_on_module)
    _o.register_optimizer_step_pre_hook(_pr_pre_step)


_adaptbench_on_import("torch", _pr_install)
'''


class PruningArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["nncf", "torch_prune"]
    min_sparsity: float = Field(0.2, ge=0.0, le=1.0)  # over the saved weights the method can prune
    max_sparsity: float = Field(0.99, ge=0.0, le=1.0)  # an all-zero model is not a pruned model
    model_file: str = "model.pt"


@dataclass
class Observed:
    """What the probe saw while the script ran."""

    steps: int = 0
    torch_used: bool = False
    nncf_used: bool = False
    active: dict[str, list[int]] = field(default_factory=lambda: {"nncf": [], "torch_prune": []})
    mask_step: dict[str, int] = field(default_factory=dict)  # optimizer steps done when the first mask appeared
    probe_errors: list[str] = field(default_factory=list)

    def method_seen(self, method: str) -> bool:
        return self.nncf_used if method == "nncf" else self.torch_used

    def summary(self) -> dict[str, Any]:
        return {"optimizer_steps": self.steps, "torch_prune_used": self.torch_used, "nncf_used": self.nncf_used,
                "steps_pruned": {m: len(s) for m, s in self.active.items()},
                "first_pruned_step": {m: (s[0] if s else None) for m, s in self.active.items()}}


def observe(events: list[dict[str, Any]]) -> Observed:
    seen = Observed()
    for e in events:
        kind = e.get("kind")
        if kind == TORCH_MASK_EVENT:
            seen.torch_used = True
            seen.mask_step.setdefault("torch_prune", int(e.get("step", 0)))
        elif kind == NNCF_STORAGE_EVENT:
            seen.nncf_used = True
            seen.mask_step.setdefault("nncf", int(e.get("step", 0)))
        elif kind == STEP_EVENT:
            seen.steps = max(seen.steps, int(e.get("step", 0)))
            for method in _active_methods(e, seen):
                seen.active[method].append(int(e.get("step", 0)))
        elif kind == "probe_error" and (e.get("probe") == "pruning" or e.get("module") == "torch"):
            seen.probe_errors.append(str(e.get("error")))
    return seen


def _active_methods(e: dict[str, Any], seen: Observed) -> list[str]:
    """Methods whose pruning acted on the parameters updated at this step."""
    zeros = float(e.get("zero_fraction", 0)) >= ZERO_ACTIVITY
    out = []
    if (e.get("nncf_masked", 0) and e.get("nncf_sparsity", 0) > 0) or (zeros and seen.nncf_used):
        out.append("nncf")
    if (e.get("torch_masked", 0) and e.get("torch_sparsity", 0) > 0) or (zeros and seen.torch_used):
        out.append("torch_prune")
    return out


@checker("pruning")
class PruningChecker(Checker):
    Args = PruningArgs
    version = 2
    probe = PROBE

    def check(self, ctx: CheckContext):
        method, other = self.args.method, ("torch_prune" if self.args.method == "nncf" else "nncf")
        seen = observe(ctx.events)
        saved = load_sparsity(ctx.workdir / self.args.model_file, method)
        details = {"observed": seen.summary(), "saved": saved.summary(), "probe_errors": seen.probe_errors[:3]}
        if seen.probe_errors and not seen.steps:  # the observer broke, not the candidate
            return self.fail("harness_error", f"the pruning probe failed: {seen.probe_errors[0]}", **details)
        if saved.error:
            return self.fail("pruning.no_model_file", _missing_file_reason(ctx.workdir, self.args.model_file,
                                                                           saved.error), **details)
        if not (seen.torch_used or seen.nncf_used) and saved.sparsity < ZERO_ACTIVITY:
            return self.fail("pruning.none", f"no pruning happened: no {_NAMES[method]} mask was ever attached to a "
                             f"model and {self.args.model_file} has {saved.sparsity:.1%} zero weights; "
                             f"{_HOW[method]} before or during training", **details)
        if not seen.method_seen(method):
            how = _NAMES[other] if seen.method_seen(other) else "hand-written code (weights set to zero)"
            return self.fail("pruning.wrong_method", f"the model was pruned with {how}, but the task asks for "
                             f"{_NAMES[method]}, which never attached a mask: {_HOW[method]}", **details)
        if seen.steps == 0:
            return self.fail("pruning.not_during_training", f"{_NAMES[method]} attached masks, but no torch "
                             "optimizer step ever ran: train the pruned model with optimizer.step()", **details)
        if not seen.active[method]:
            return self.fail("pruning.not_during_training", _not_during_reason(seen, method), **details)
        return self._judge_sparsity(saved, seen, method, details)

    def _judge_sparsity(self, saved: SavedSparsity, seen: Observed, method: str, details: dict[str, Any]):
        over = f"over the {saved.weights:,} weights {_NAMES[method]} can prune" + (
            f" (not counted: {_names(saved.left_out)})" if saved.left_out else "")
        if saved.sparsity < self.args.min_sparsity:
            return self.fail("pruning.low_sparsity", f"{self.args.model_file} is {saved.sparsity:.1%} sparse {over}; "
                             f"at least {self.args.min_sparsity:.0%} is expected: raise the pruning ratio (or "
                             "amount) and keep the masks until the model is saved", **details)
        if saved.sparsity > self.args.max_sparsity:
            return self.fail("pruning.too_sparse", f"{self.args.model_file} is {saved.sparsity:.1%} sparse {over}: "
                             f"almost every weight is zero (at most {self.args.max_sparsity:.0%} makes sense); "
                             "lower the pruning ratio", **details)
        steps = seen.active[method]
        return self.ok(f"{_NAMES[method]} pruning active at {len(steps)} sampled optimizer step(s) of "
                       f"{seen.steps} (from step {steps[0]}); {self.args.model_file} is {saved.sparsity:.1%} sparse "
                       f"{over}", **details)


_HOW = {"nncf": "apply nncf.prune(model, mode=..., ratio=..., examples_inputs=...) to the model that is trained",
        "torch_prune": "apply torch.nn.utils.prune (e.g. prune.l1_unstructured(module, 'weight', amount=...)) to "
                       "the layers of the model that is trained"}


def _names(keys: list[str], shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _missing_file_reason(workdir: Path, model_file: str, error: str) -> str:
    others = sorted(p.name for p in Path(workdir).glob("*.p*t*") if p.is_file() and p.name != model_file)[:5]
    found = f" (model files in the work dir: {', '.join(others)})" if others else ""
    return f"{error}{found}; save the pruned model's state_dict with torch.save(model.state_dict(), '{model_file}')"


def _not_during_reason(seen: Observed, method: str) -> str:
    attached = seen.mask_step.get(method)
    when = (f"its masks were attached after optimizer step {attached} of {seen.steps}" if attached is not None
            and attached >= seen.steps else "its masks never covered the parameters the optimizer updated")
    return (f"{_NAMES[method]} did not prune during training: {when}; prune the model before the training loop "
            "and pass that model's parameters to the optimizer")


_NAMES = {"nncf": "NNCF", "torch_prune": "torch.nn.utils.prune"}


# ---------------------------------------------------------------- the saved model

SKIP_IN_CHECKPOINT = re.compile(r"optim|sched", re.IGNORECASE)  # optimizer moments are not weights
NNCF_MASK = re.compile(r"^(?P<prefix>.*?)__nncf_hooks\.(pre|post)_hooks\.(?P<op>[^.]+)__\d+\.\d+\.(?P<kind>binary_mask|mask)$")


@dataclass
class SavedSparsity:
    sparsity: float = 0.0  # over the weights the method can prune
    weights: int = 0  # elements in those weights
    zeros: int = 0
    masks: dict[str, int] = field(default_factory=dict)  # how many masks of each kind the file holds
    error: str | None = None
    overall: float = 0.0  # over every weight matrix (>= 2-D, floating point), for the record
    left_out: list[str] = field(default_factory=list)  # weight matrices the method cannot prune

    def summary(self) -> dict[str, Any]:
        return {"sparsity": round(self.sparsity, 4), "weights": self.weights, "zeros": self.zeros,
                "masks": self.masks, "error": self.error, "overall_sparsity": round(self.overall, 4),
                "not_prunable": self.left_out[:20]}


def load_sparsity(path: Path, method: str = "torch_prune") -> SavedSparsity:
    """Sparsity of the saved model over the weights `method` can prune (see `prunable`)."""
    if not path.is_file():
        return SavedSparsity(error=f"the pruned model was not saved to {path.name}")
    tensors, error = _load_tensors(path)
    if error:
        return SavedSparsity(error=error)
    effective, masks, masked = effective_weights(tensors)
    matrices = {k: t for k, t in effective.items() if t.dim() >= 2 and t.is_floating_point()}
    if not matrices:
        return SavedSparsity(error=f"{path.name} holds no weight tensors (expected the model's state_dict)")
    kept = {k: t for k, t in matrices.items() if prunable(k, method, masked)}
    total = sum(t.numel() for t in kept.values())
    zeros = sum(int((t == 0).sum()) for t in kept.values())
    all_total = sum(t.numel() for t in matrices.values())
    all_zeros = sum(int((t == 0).sum()) for t in matrices.values())
    return SavedSparsity(sparsity=zeros / total if total else 0.0, weights=total, zeros=zeros, masks=masks,
                         overall=all_zeros / all_total, left_out=sorted(set(matrices) - set(kept)))


# the last part of a tensor's name: which kind of weight it is
LAYER_WEIGHT = re.compile(r"^weight$")  # Linear, Conv*, ConvTranspose*, Embedding*, and custom `weight` matrices
TORCH_PRUNE_EXTRA = re.compile(r"^(weight_(ih|hh)_l\d+(_reverse)?|in_proj_weight|[qkv]_proj_weight)$")  # RNN, attention


def prunable(key: str, method: str, masked: set[str]) -> bool:
    """Whether the method can prune this saved tensor. NNCF masks the weights of convolutions, linear layers,
    embeddings and matrix products whose weight is a constant: a layer's `weight`, and whatever it masked
    (self-attention's packed input projection). It cannot mask nn.LSTM/GRU weights or cross-attention input
    projections. torch.nn.utils.prune can mask any parameter; positional embeddings and class tokens are not
    weights anybody prunes, so both methods are measured over layer weights, RNN and attention matrices
    (torch prune) and masked tensors."""
    if key in masked:
        return True
    last = key.rsplit(".", 1)[-1]
    return bool(LAYER_WEIGHT.match(last) or (method == "torch_prune" and TORCH_PRUNE_EXTRA.match(last)))


def _load_tensors(path: Path) -> tuple[dict[str, Any], str | None]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        return {}, (f"{path.name} cannot be loaded as data (torch.load(weights_only=True)): {type(exc).__name__}; "
                    "save the model's state_dict(), not the model object")
    flat: dict[str, Any] = {}
    _flatten(obj, "", flat, torch.Tensor)
    return flat, None


def _flatten(obj: Any, prefix: str, out: dict[str, Any], tensor_type: type) -> None:
    """A state_dict, or a checkpoint dict holding one (e.g. {"model_state_dict": ..., "epoch": 3})."""
    if isinstance(obj, tensor_type):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if not SKIP_IN_CHECKPOINT.search(str(key)):
                _flatten(value, f"{prefix}{key}.", out, tensor_type)


def effective_weights(tensors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int], set[str]]:
    """Weights as the pruned model uses them: torch `_orig * _mask`, NNCF `weight * mask`, else as saved;
    with how many masks of each kind, and the names of the masked tensors."""
    out = {k: v for k, v in tensors.items() if not k.endswith("_mask") and not NNCF_MASK.match(k)}
    masks = {"torch": 0, "nncf": 0}
    masked: set[str] = set()
    for key, mask in tensors.items():
        if key.endswith("_mask") and key[:-5] + "_orig" in tensors:
            base = key[:-5]
            out.pop(base + "_orig", None)
            out[base] = tensors[base + "_orig"] * (mask != 0)
            masks["torch"] += 1
            masked.add(base)
        elif (m := NNCF_MASK.match(key)) and (target := m["prefix"] + m["op"].replace(":", ".")) in tensors:
            keep = mask.bool() if m["kind"] == "binary_mask" else mask.float().sigmoid() > 0.5
            if keep.shape == tensors[target].shape:
                out[target] = tensors[target] * keep
                masks["nncf"] += 1
                masked.add(target)
    return out, masks, masked

"""Translation between trackers (W&B <-> MLflow): what the source script logged must arrive in the target.

A task lists what its untouched source logs, run by run (`ExpectedRun`, in the tracking checker's
`expect_runs` arg; tests/sandbox/checkers prove each list against the source's real logs). Each tracker's
checker reads the target's runs into the neutral `LoggedRun`; `judge_translation` pairs every expected run with
the logged run that misses least and names what is missing.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

MODEL_SUFFIXES = (".pkl", ".pt", ".pth", ".joblib", ".keras", ".h5", ".onnx", ".safetensors")
STEP_KEYS = ("epoch", "step", "global_step", "iteration")  # a custom x-axis logged beside a metric
SHOWN = 4


class ExpectedRun(BaseModel):
    """One run of the source script, as the target must show it."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None  # the run's name (MLflow run name, W&B display name)
    parent: str | None = None  # MLflow: the name of its parent run (a nested run)
    group: str | None = None  # W&B: the group it belongs to
    params: dict[str, Any] = {}  # parameter / config key -> the value the source logged
    metrics: dict[str, list[int] | int] = {}  # metric -> the steps the source logged it at (or how many values)
    summary: list[str] = []  # final values (W&B summary keys, MLflow metrics)
    artifacts: list[str] = []  # file names logged as artifacts (a model file may also arrive as a logged model)
    tables: list[str] = []  # tables / JSON documents, by name (an artifact file with that stem also counts)
    tags: dict[str, str] = {}  # MLflow tags; in W&B the value or "key:value" among the run's tags, or in config

    def label(self) -> str:
        if self.name:
            return f"run '{self.name}'"
        shown = ", ".join(f"{k}={v}" for k, v in list(self.params.items())[:2])
        return f"the run with {shown}" if shown else "the run"


@dataclass
class LoggedRun:
    """What the target tracker holds for one run, whichever tracker it is."""

    run_id: str
    name: str | None = None
    parent: str | None = None
    group: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    tag_list: list[str] = field(default_factory=list)  # W&B's plain tags
    params: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, list[float]] = field(default_factory=dict)  # metric -> the steps it was logged at
    axes: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # metric -> step key -> values beside it
    summary: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)  # artifact file paths (relative, posix)
    tables: set[str] = field(default_factory=set)  # logged tables / media, by key
    has_model: bool = False  # a model logged with a flavour (MLflow) or a model-type artifact (W&B)

    def describe(self) -> str:
        return f"'{self.name}'" if self.name else self.run_id


@dataclass(frozen=True)
class Gap:
    code: str
    text: str  # what was found and what was expected, for one expected run


def judge_translation(expected: list[ExpectedRun], logged: list[LoggedRun]) -> list[Gap]:
    """The gaps of the pairing that leaves the fewest: each expected run takes the closest unused run."""
    if not expected:
        return []
    if not logged:
        return [Gap("translation.missing_runs", f"no run to compare with the source's {len(expected)} run(s)")]
    gaps: list[Gap] = []
    free = list(logged)
    for want in expected:
        if not free:
            gaps.append(_layout_gap(want, None))
            continue
        found, index = min(((run_gaps(want, run), i) for i, run in enumerate(free)), key=lambda g: (len(g[0]), g[1]))
        free.pop(index)
        gaps += found
    return gaps


def run_gaps(want: ExpectedRun, run: LoggedRun) -> list[Gap]:
    checks = (_layout_gap, _params_gap, _metrics_gap, _summary_gap, _files_gap, _tables_gap, _tags_gap)
    return [gap for gap in (check(want, run) for check in checks) if gap is not None]


def _layout_gap(want: ExpectedRun, run: LoggedRun | None) -> Gap | None:
    if run is None:
        return Gap("translation.missing_runs", f"{want.label()} of the source has no counterpart")
    wrong = [f"{what} {actual!r} instead of {wanted!r}" for what, wanted, actual in (
        ("name", want.name, run.name), ("parent run", want.parent, run.parent), ("group", want.group, run.group))
        if wanted is not None and actual != wanted]
    if wrong:
        return Gap("translation.run_layout", f"{want.label()}: the closest run {run.describe()} has {'; '.join(wrong)}")
    return None


def _params_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    missing = [k for k in want.params if k not in run.params]
    changed = [f"{k}={run.params[k]!r} (source: {want.params[k]!r})" for k in want.params
               if k in run.params and not same_param(want.params[k], run.params[k])]
    if not missing and not changed:
        return None
    parts = [f"missing {_names(missing)}" if missing else "", f"changed {_names(changed)}" if changed else ""]
    return Gap("translation.missing_params", f"{want.label()} ({run.describe()}): parameters {'; '.join(p for p in parts if p)}"
               f" (logged: {_names(sorted(run.params)) or 'none'})")


def _metrics_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    missing = [k for k in want.metrics if k not in run.steps]
    if missing:
        return Gap("translation.missing_metrics", f"{want.label()} ({run.describe()}): metric history "
                   f"{_names(missing)} missing (logged: {_names(sorted(run.steps)) or 'none'})")
    for key, steps in want.metrics.items():
        problem = _steps_problem(key, steps, run)
        if problem:
            return Gap("translation.steps_changed", f"{want.label()} ({run.describe()}): {problem}")
    return None


def _steps_problem(key: str, steps: list[int] | int, run: LoggedRun) -> str | None:
    logged = run.steps[key]
    if isinstance(steps, int):
        if len(logged) >= steps:
            return None
        return f"'{key}' has {len(logged)} value(s), the source logged {steps}"
    axes = [logged, *run.axes.get(key, {}).values()]
    if any(_covers(axis, steps) for axis in axes):
        return None
    return f"'{key}' was logged at steps {_show_steps(logged)}, the source at {_show_steps(steps)}"


def _covers(axis: list[float], steps: list[int]) -> bool:
    have = {round(float(s), 6) for s in axis}
    return all(round(float(s), 6) in have for s in steps)


def _summary_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    missing = [k for k in want.summary if k not in run.summary and k not in run.steps]
    if missing:
        return Gap("translation.missing_summary", f"{want.label()} ({run.describe()}): final value(s) "
                   f"{_names(missing)} missing")
    return None


def _files_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    names = {PurePosixPath(f).name for f in run.files}
    missing = [f for f in want.artifacts if f not in names
               and not (run.has_model and f.endswith(MODEL_SUFFIXES))]
    if missing:
        found = _names(sorted(names)) or "none"
        return Gap("translation.missing_artifacts", f"{want.label()} ({run.describe()}): artifact(s) "
                   f"{_names(missing)} missing (artifact files: {found}{'; a logged model' if run.has_model else ''})")
    return None


def _tables_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    stems = {PurePosixPath(f).stem for f in run.files} | run.tables
    missing = [t for t in want.tables if t not in stems]
    if missing:
        return Gap("translation.missing_tables", f"{want.label()} ({run.describe()}): table(s) {_names(missing)} "
                   "missing (log them as a table or an artifact file of that name)")
    return None


def _tags_gap(want: ExpectedRun, run: LoggedRun) -> Gap | None:
    plain = {t.lower() for t in run.tag_list}
    missing = [k for k, v in want.tags.items()
               if str(run.tags.get(k, "")).lower() != str(v).lower()
               and not plain & {str(v).lower(), f"{k}:{v}".lower(), f"{k}={v}".lower()}
               and not same_param(v, run.params.get(k, object()))]
    if missing:
        return Gap("translation.missing_tags", f"{want.label()} ({run.describe()}): tag(s) "
                   f"{_names([f'{k}={want.tags[k]}' for k in missing])} missing (tags: "
                   f"{_names(sorted({*run.tags, *run.tag_list})) or 'none'})")
    return None


# ---------------------------------------------------------------- values


def normalise(value: Any) -> Any:
    """Parameters as comparable data: MLflow keeps strings ('0.05', '(64,)'), W&B keeps JSON."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value.strip()
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    return value


def same_param(a: Any, b: Any) -> bool:
    a, b = normalise(a), normalise(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_param(x, y) for x, y in zip(a, b))
    return a == b or str(a) == str(b)


def _names(items: list[str]) -> str:
    shown = [str(i) for i in items[:SHOWN]]
    return ", ".join(shown) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _show_steps(steps: list[Any]) -> str:
    values = [int(s) if float(s).is_integer() else s for s in steps]
    return str(values if len(values) <= 6 else values[:3] + ["..."] + values[-2:])

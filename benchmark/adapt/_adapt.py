"""`adaptbench adapt`: the user's script becomes a task (benchmark.adapt._prepare) and goes through the same
Runner as every benchmark sample — render, generate, extract/apply the edit, execute+judge, repair or escalate —
one sample at a time until one is verified (or all n with `best_of`). The verified script, its diff against the
input and a report with the evidence are written beside the input; the input is never touched."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..cache import Cache, default_cache_dir
from ..errors import BadOptionError
from ..loop import SampleState
from ..types import (
    Attempt,
    Budget,
    FailureCategory,
    GenerationConfig,
    LoopSpec,
    SampleRecord,
    Setting,
    Status,
)
from ._errors import ModelUnreachableError
from ._prepare import Prepared, Say, prepare
from ._report import render_report
from ._script import FRAMEWORK_MODULES

log = logging.getLogger(__name__)
DEFAULT_MODEL = "embedded/qwen2.5-coder-1.5b"
DEFAULT_LOOP = LoopSpec(rounds=2, merge_elided=True)
# how far a failing attempt got, best first: it ran and only some check failed ... nothing could be read
PROGRESS = (FailureCategory.check_failed, FailureCategory.timeout, FailureCategory.memory,
            FailureCategory.runtime_error, FailureCategory.api_error, FailureCategory.import_error,
            FailureCategory.syntax_error, FailureCategory.edit_failed, FailureCategory.no_code,
            FailureCategory.budget, FailureCategory.harness_error)


class AdaptRequest(BaseModel):
    """Everything `adaptbench adapt` was asked for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    script: Path
    to: str
    model: str = DEFAULT_MODEL
    model_options: dict[str, str] = Field(default_factory=dict)
    n: int = Field(3, ge=1)
    temperature: float = 0.2
    setting: Setting = Setting.docprompt
    loop: LoopSpec = DEFAULT_LOOP
    budget: Budget = Budget()
    max_tokens: int = 2048
    seed: int | None = None
    instruction: str = ""
    fixtures: tuple[Path, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float | None = None
    framework: str | None = None
    out: Path | None = None
    best_of: bool = False  # generate all n and keep the best, instead of stopping at the first verified one
    cache_dir: Path | None = None


@dataclass
class AdaptOutcome:
    status: str  # verified | failed | already
    prepared: Prepared
    records: list[SampleRecord] = field(default_factory=list)
    attempt: Attempt | None = None  # the verified attempt, or the best failing one
    written: dict[str, Path] = field(default_factory=dict)  # script | diff | report
    message: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.status == "verified"


def adapt(request: AdaptRequest, say: Say | None = None) -> AdaptOutcome:
    say = say or log.info
    _check_output(request)
    cache_root = Path(request.cache_dir) if request.cache_dir else default_cache_dir()
    backends = _backends(request)  # an unknown model, a bad option or a missing key fails before any sandbox run
    prepared = prepare(request.script, request.to, cache_root, framework=request.framework,
                       fixtures=list(request.fixtures), instruction=request.instruction, env=request.env,
                       timeout_s=request.timeout_s, say=say)
    _say_plan(prepared, request, say)
    if prepared.already_adapted:
        reason = prepared.baseline.verdict.reason
        return AdaptOutcome("already", prepared, message=f"{prepared.script.path.name} already has "
                            f"{prepared.target.describe()}: the checks pass on the untouched script ({reason}); "
                            "nothing was written")
    runner = _runner(request, prepared, cache_root, backends, say)
    records = _run_samples(runner, request, say)
    outcome = _conclude(prepared, records, request)
    outcome.stats = dict(runner.stats)
    outcome.written = write_outputs(outcome, request)
    return outcome


def _check_output(request: AdaptRequest) -> None:
    out = output_path(request)
    if out.resolve() == Path(request.script).expanduser().resolve():
        raise BadOptionError(f"--out {out} is the input script itself", "adapt never overwrites its input: "
                             "choose another --out")


def output_path(request: AdaptRequest, failed: bool = False) -> Path:
    script = Path(request.script).expanduser()
    from ._target import requested

    component = requested(request.to)[1].value
    base = Path(request.out) if request.out is not None else script.with_name(f"{script.stem}.{component}.py")
    return base.with_name(f"{base.stem}.failed{base.suffix or '.py'}") if failed else base


def _backends(request: AdaptRequest):
    from ..backends import get_backend
    from ..runner import chain_members

    return {m: get_backend(m, request.model_options or None) for m in chain_members([request.model])}


def _say_plan(prepared: Prepared, request: AdaptRequest, say: Say) -> None:
    framework = prepared.framework
    modules = {m for f, group in FRAMEWORK_MODULES if f is framework for m in group}
    seen = sorted(prepared.script.imports & modules)
    how = ("as --framework says" if request.framework else
           f"detected from its imports: {', '.join(seen)}" if seen else "no training framework among its imports")
    say(f"{prepared.script.path.name}: {framework.value} ({how}); target {prepared.target.describe()}; "
        f"checks {', '.join(c.name for c in prepared.task.checks)}")
    for note in prepared.draft.choices.notes:
        say(f"  {note}")


def _runner(request: AdaptRequest, prepared: Prepared, cache_root: Path, backends, say: Say):
    from ..matrix import make_spec
    from ..runner import Runner, chain_members
    from ..types import RuntimeConfig

    members = chain_members([request.model])
    options = {m: dict(request.model_options) for m in members} if request.model_options else {}
    spec = make_spec([prepared.task], [request.model], [request.temperature], [request.setting], request.n,
                     ("none",), options, GenerationConfig(max_tokens=request.max_tokens, seed=request.seed),
                     None, "adapt", request.loop, request.budget)

    def on_attempt(state: SampleState, attempt: Attempt) -> None:
        v = attempt.verdict
        say(f"sample {state.key.sample_index + 1}/{request.n}, attempt {attempt.round} ({attempt.model}): "
            f"{v.status.value.upper()} [{v.code}] {v.reason[:180]}")

    return Runner(spec, [prepared.task], prepared.folder / "runs" / spec.run_id, Cache(cache_root),
                  RuntimeConfig(workers=1, progress=False), backends=backends, on_attempt=on_attempt)


def _run_samples(runner, request: AdaptRequest, say: Say) -> list[SampleRecord]:
    """One sample at a time, stopping at the first verified one; samples already in the run log are reused."""
    if request.best_of:
        return _checked(runner.run(), request)
    records: list[SampleRecord] = []
    for index in range(request.n):
        before = {r.key.sample_index for r in runner.runlog.records()}
        records = runner.run(samples=[index])
        mine = [r for r in records if r.key.sample_index == index]
        if index in before and mine:
            say(f"sample {index + 1}/{request.n}: reusing its recorded result [{mine[0].verdict.code}]")
        _checked(mine, request)
        if any(r.verdict.passed for r in mine):
            break
    return [r for r in records if r.key.sample_index <= index]


def _checked(records: list[SampleRecord], request: AdaptRequest) -> list[SampleRecord]:
    """A model that answered nothing at all (no server, wrong URL, no key) stops the adaptation with its error."""
    attempts = [a for r in records for a in r.all_attempts()]
    if attempts and all(a.completion.error is not None for a in attempts):
        error = attempts[-1].completion.error
        raise ModelUnreachableError(f"model '{request.model}' is not reachable: {error}",
                                    "check --model and its -M options (base_url, api key variable), start the "
                                    "server, and run the same command again: the baseline is kept")
    return records


def _conclude(prepared: Prepared, records: list[SampleRecord], request: AdaptRequest) -> AdaptOutcome:
    passed = [r.all_attempts()[-1] for r in records if r.verdict.passed]
    if passed:
        best = min(passed, key=lambda a: _changed_lines(prepared.script.code, a.extraction.code or ""))
        return AdaptOutcome("verified", prepared, records, best, message=best.verdict.reason)
    tried = [a for r in records for a in r.all_attempts() if a.extraction.code is not None]
    best = min(tried, key=_progress_rank) if tried else (records[-1].all_attempts()[-1] if records else None)
    why = best.verdict.reason if best else "no sample was made"
    return AdaptOutcome("failed", prepared, records, best, message=f"not verified: [{best.verdict.code if best else '-'}] {why}")


def _progress_rank(attempt: Attempt) -> tuple:
    v = attempt.verdict
    category = PROGRESS.index(v.category) if v.category in PROGRESS else len(PROGRESS)
    passed_checks = sum(1 for c in v.checks if c.passed)
    return (v.status is Status.error, category, -passed_checks, attempt.round)


def _changed_lines(before: str, after: str) -> int:
    return sum(1 for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---")))


def unified_diff(before: str, after: str, old_name: str, new_name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a/{old_name}", tofile=f"b/{new_name}"))


def write_outputs(outcome: AdaptOutcome, request: AdaptRequest) -> dict[str, Path]:
    """The script (verified, or the best failing attempt as <name>.failed.py), its diff and the report."""
    if outcome.attempt is None or outcome.attempt.extraction.code is None:
        script_path = None
    else:
        script_path = output_path(request, failed=not outcome.verified)
    base = script_path or output_path(request, failed=True)
    written: dict[str, Path] = {}
    if script_path is not None:
        code = outcome.attempt.extraction.code
        code = code if code.endswith("\n") else code + "\n"
        script_path.parent.mkdir(parents=True, exist_ok=True)
        script_path.write_text(code)
        written["script"] = script_path
        diff = base.with_suffix(".diff")
        diff.write_text(unified_diff(outcome.prepared.script.code, code, outcome.prepared.script.path.name,
                                     script_path.name))
        written["diff"] = diff
    report = base.with_suffix(".report.md")
    report.write_text(_report(outcome, request, written))
    written["report"] = report
    return written


def _report(outcome: AdaptOutcome, request: AdaptRequest, written: dict[str, Path]) -> str:
    p, loop = outcome.prepared, request.loop
    attempts = sum(len(r.all_attempts()) for r in outcome.records)
    execution = outcome.attempt.execution if outcome.attempt else None
    summary = [
        (f"- input: `{p.script.path}` ({p.framework.value}; local modules: "
        f"{', '.join(str(e.target) for e in p.fixtures if e.auto) or 'none'})"),
        (f"- target: {p.target.describe()} ({p.target.category.value}); checks: "
        f"{', '.join(f'{c.name} {c.args}' for c in p.task.checks)}"),
        (f"- model: {request.model}; {attempts} attempt(s) over {len(outcome.records)} of {request.n} sample(s), "
        f"up to {loop.rounds} round(s) each; temperature {request.temperature}, {request.setting.value}, "
        f"edit format {loop.edit_format}"),
        f"- written: {', '.join(f'`{path}`' for key, path in written.items())}",
    ]
    if p.task.env:
        summary.append(f"- trial runs' environment: {' '.join(f'{k}={v}' for k, v in p.task.env.items())}")
    if execution is not None:
        summary.append(f"- sandbox: {execution.isolation}, ran {execution.duration_s:.1f} s; its work dir with the "
                       f"stores: `{execution.workdir}`")
    b = p.baseline
    baseline = [f"Ran in {b.execution.duration_s:.1f} s under '{b.execution.isolation}' isolation and wrote: "
                f"{', '.join(b.facts.outputs[:20]) or 'no files'}" + (f"; committed to git: {', '.join(b.facts.committed)}"
                                                                      if b.facts.committed else "") + ".",
                (f"Judged as the task's input it fails with `{b.verdict.code}` ({b.verdict.reason}), as it must "
                "before the adaptation.")]
    steps = [(f"- grade any version yourself: `adaptbench --tasks-dir {p.task.folder.parent} check {p.task.id} "
             f"{written.get('script', 'SCRIPT')}`")]
    if not outcome.verified:
        steps.append("- try more samples or repair rounds (-n, --rounds), a stronger model (--model), or say more "
                     "with --instruction")
    title = f"adaptbench adapt: {p.script.path.name} → {p.target.describe()}"
    return render_report(title=title, verified=outcome.verified, summary=summary, attempt=outcome.attempt,
                         records=outcome.records, baseline=baseline, next_steps=steps)

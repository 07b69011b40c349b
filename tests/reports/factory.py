"""A fixed, synthetic run for the report tests: every functionality (translation included), two models, temperatures
0/0.2/1, both prompt settings, n = 3, varied verdicts, failure categories, extraction kinds and usage. Its records are
schema version 1 (one attempt, no loop axes, no recorded cost), as runs written before the adaptation loop.

Outcomes are pseudo-random but deterministic (a hash of the sample key), so the golden files never change unless the
code that renders them does.

`make_loop_record` builds schema version 2 records with several attempts (repair rounds, cascades, edits, costs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmark.types import (
    Attempt,
    Category,
    CheckResult,
    Completion,
    Component,
    Cost,
    ExecutionResult,
    Extraction,
    FailureCategory,
    Framework,
    Functionality,
    GenerationConfig,
    LoopSpec,
    Prompt,
    RunSpec,
    SampleKey,
    SampleRecord,
    Setting,
    Status,
    Usage,
    Verdict,
)

MODELS = ("wizardcoder_15b", "gpt-3.5-turbo")  # the underscore exercises escaping in Markdown and LaTeX
TEMPERATURES = (0.0, 0.2, 1.0)
SETTINGS = (Setting.zero_shot, Setting.docprompt)
RETRIEVALS = ("docs-search", "llm-search", "llm-docs-search")
N = 3
CREATED = "2024-05-01T12:00:00+00:00"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> & | _ % {}"

# (task id, functionality, component, source component, framework)
TASKS = (
    ("nncf-prune-resnet", "model_optimization", "nncf", None, "pytorch"),
    ("nncf-prune-mlp", "model_optimization", "nncf", None, "pytorch"),
    ("torch-prune-cnn", "model_optimization", "torch_prune", None, "pytorch"),
    ("mlflow-tracking-lightning", "experiment_tracking", "mlflow", None, "lightning"),
    ("mlflow-tracking-keras", "experiment_tracking", "mlflow", None, "keras"),
    ("mlflow-tracking-sklearn-tree", "experiment_tracking", "mlflow", None, "sklearn"),
    ("mlflow-tracking-sklearn-svm", "experiment_tracking", "mlflow", None, "sklearn"),
    ("wandb-tracking-pytorch", "experiment_tracking", "wandb", None, "pytorch"),
    ("mlflow-registry-keras", "model_registration", "mlflow", None, "keras"),
    ("mlflow-registry-sklearn", "model_registration", "mlflow", None, "sklearn"),
    ("optuna-hpo-lightning", "hyperparameter_optimization", "optuna", None, "lightning"),
    ("optuna-hpo-sklearn", "hyperparameter_optimization", "optuna", None, "sklearn"),
    ("dvc-from-git-basic", "version_control", "dvc", "gitpython", "none"),
    ("dvc-from-git-branches", "version_control", "dvc", "gitpython", "none"),
)
FAIL_CATEGORIES = ("check_failed", "check_failed", "runtime_error", "import_error", "api_error", "syntax_error",
                   "timeout", "no_code", "memory", "harness_error")
CHECK_CODES = {"mlflow": "mlflow.no_run", "wandb": "wandb.no_history", "optuna": "optuna.no_study",
               "nncf": "nncf.not_compressed", "torch_prune": "prune.no_sparsity", "dvc": "dvc.not_tracked"}
# The one deliberately short cell: 2 samples, so its Pass@3 is undefined ("–").
SHORT = ("optuna-hpo-sklearn", "wizardcoder_15b", 1.0, Setting.zero_shot, "none")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) / 2**32


def _pass_probability(model: str, temperature: float, setting: Setting, retrieval: str) -> float:
    p = 0.3 if model == "gpt-3.5-turbo" else 0.08
    p += 0.1 if setting is Setting.docprompt else 0.0
    p += {"docs-search": 0.0, "llm-search": -0.05, "llm-docs-search": 0.15}.get(retrieval, 0.0)
    return p + 0.05 * temperature


def make_spec(run_id: str = "golden-run") -> RunSpec:
    return RunSpec(schema_version=1, run_id=run_id, tasks=tuple(sorted(t[0] for t in TASKS)), models=MODELS,
                   temperatures=TEMPERATURES, settings=SETTINGS, retrievals=("none",) + RETRIEVALS, n=N, k=(1, 3),
                   git_sha="0123456789abcdef", versions={"mlflow": "3.17.2"}, created_at=CREATED)


def _cells(task: tuple):
    functionality = task[1]
    for model in MODELS:
        for temperature in TEMPERATURES:
            if functionality == "version_control":
                for retrieval in RETRIEVALS:
                    yield model, temperature, Setting.docprompt, retrieval
            else:
                for setting in SETTINGS:
                    yield model, temperature, setting, "none"


def make_records(run_id: str = "golden-run", shift: float = 0.0) -> list[SampleRecord]:
    """All records of the synthetic run; `shift` raises every pass probability (a 'better' run for comparisons)."""
    records = []
    for task in TASKS:
        for model, temperature, setting, retrieval in _cells(task):
            n = N - 1 if (task[0], model, temperature, setting, retrieval) == SHORT else N
            for index in range(n):
                key = SampleKey(task_id=task[0], model=model, setting=setting, retrieval=retrieval,
                                temperature=temperature, sample_index=index)
                passed = _unit(run_id if shift else "", key.id()) < _pass_probability(model, temperature, setting,
                                                                                       retrieval) + shift
                records.append(make_record(task, key, passed))
    return records


def make_record(task: tuple, key: SampleKey, passed: bool) -> SampleRecord:
    task_id, functionality, component, source, framework = task
    u = _unit("detail", key.id())
    category = FailureCategory.ok if passed else FailureCategory(FAIL_CATEGORIES[int(u * len(FAIL_CATEGORIES))])
    hostile = key.sample_index == 0 and task_id == "mlflow-tracking-keras" and key.temperature == 1.0
    extraction = _extraction(category, u)
    return SampleRecord(
        schema_version=1, key=key, task_version=1, task_fingerprint="f" * 16, category=Category.translation if source else Category.inlining,
        functionality=Functionality(functionality), component=Component(component),
        source_component=Component(source) if source else None, framework=Framework(framework),
        prompt_hash="p" * 20, prompt=_prompt(task_id, key, hostile), generation=GenerationConfig(temperature=key.temperature),
        completion=_completion(key, u, hostile), extraction=extraction,
        execution=None if extraction.code is None else _execution(category, u, hostile),
        verdict=_verdict(component, category), created_at=CREATED)


def _prompt(task_id: str, key: SampleKey, hostile: bool) -> Prompt:
    user = f"Adapt the given code (##Code) for {task_id}.\n##Code:\nimport torch\n" + (HOSTILE if hostile else "")
    retrieved = ({"title": "dvc.api.add", "text": "Add files to DVC tracking.", "score": 0.81},) \
        if key.retrieval != "none" else ()
    return Prompt(task_id=task_id, setting=key.setting, retrieval=key.retrieval, retrieved=retrieved,
                  messages=({"role": "system", "content": "You are an MLOps engineer."}, {"role": "user", "content": user}))


def _completion(key: SampleKey, u: float, hostile: bool) -> Completion:
    prompt_tokens = 700 + (1200 if key.setting is Setting.docprompt else 0) + int(u * 300)
    text = "```python\nimport torch\nimport mlflow\nmlflow.autolog()\n```" + (HOSTILE if hostile else "")
    return Completion(text=text, usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=250 + int(u * 500)),
                      latency_s=round(0.5 + 4 * u + (3 if key.model == "wizardcoder_15b" else 0), 3), model=key.model,
                      finish_reason="stop")


def _extraction(category: FailureCategory, u: float) -> Extraction:
    if category is FailureCategory.no_code:
        return Extraction(code=None, kind="no_code")
    kind = "fenced" if u < 0.7 else "bare" if u < 0.85 else "multiple_blocks"
    return Extraction(code="import torch\nimport mlflow\nmlflow.autolog()\n", kind=kind)


def _execution(category: FailureCategory, u: float, hostile: bool) -> ExecutionResult:
    stderr = {"runtime_error": "Traceback ...\nValueError: bad shape", "import_error": "ModuleNotFoundError: mlfow",
              "api_error": "AttributeError: module 'mlflow' has no attribute 'log_everything'"}.get(category.value, "")
    return ExecutionResult(exit_code=0 if category.value in ("ok", "check_failed") else 1,
                           timed_out=category is FailureCategory.timeout,
                           killed_reason={"timeout": "timeout", "memory": "memory"}.get(category.value),
                           duration_s=round(2 + 10 * u, 2), stdout_tail="epoch 1 loss 0.5",
                           stderr_tail=stderr + (HOSTILE if hostile else ""), isolation="bwrap",
                           workdir=Path("/tmp/adaptbench-work"))


def _verdict(component: str, category: FailureCategory) -> Verdict:
    if category is FailureCategory.ok:
        return Verdict(status=Status.passed, category=category, code="ok", reason="all checks passed",
                       checks=(CheckResult(name="behaviour", passed=True, code="ok", reason="outputs match"),))
    status = {"timeout": Status.timeout, "harness_error": Status.error}.get(category.value, Status.failed)
    code = CHECK_CODES[component] if category is FailureCategory.check_failed else category.value
    checks = (CheckResult(name=component, passed=False, code=code, reason=f"{code}: expected artifacts missing"),) \
        if category is FailureCategory.check_failed else ()
    return Verdict(status=status, category=category, code=code, reason=f"failed: {code}", checks=checks)


def write_run(run_dir: Path, records: list[SampleRecord] | None = None, spec: RunSpec | None = None) -> Path:
    """Write run.json and samples.jsonl as the run loop does; returns run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = spec or make_spec(run_dir.name)
    (run_dir / "run.json").write_text(spec.model_dump_json(indent=2))
    records = make_records(spec.run_id) if records is None else records
    with open(run_dir / "samples.jsonl", "w") as fh:
        fh.writelines(record.model_dump_json() + "\n" for record in records)
    return run_dir


# ---------------------------------------------------------------- schema version 2: the adaptation loop

LOOP_TASKS = TASKS[3:6]  # three experiment-tracking tasks


def make_attempt(round_: int, model: str, category: str = "ok", *, level: int = 0, kind: str = "fenced",
                 well_formed: bool | None = None, api_usd: float = 0.0, compute_s: float = 0.0,
                 usd_per_hour: float = 0.10, feedback: str | None = None, component: str = "mlflow") -> Attempt:
    """One attempt judged `category` ('ok' passes); its cost is API dollars plus compute seconds at the hourly rate."""
    fail = FailureCategory(category)
    code = None if kind in ("no_code", "edit.malformed", "edit.no_match") else "import mlflow\nmlflow.autolog()\n"
    return Attempt(round=round_, model=model, level=level, prompt_hash=f"p{round_}".ljust(20, "p"), feedback=feedback,
                   completion=Completion(text=f"<<<<<<< SEARCH\nimport torch\n=======\nimport mlflow\n>>>>>>> REPLACE "
                                              f"(round {round_}, {model})",
                                         usage=Usage(prompt_tokens=1000 * round_, completion_tokens=200),
                                         latency_s=compute_s, compute_s=compute_s, model=model, finish_reason="stop"),
                   extraction=Extraction(code=code, kind=kind, well_formed=well_formed),
                   execution=None if code is None else _execution(fail, 0.5, False),
                   verdict=_verdict(component, fail),
                   cost=Cost(api_usd=api_usd, compute_s=compute_s, compute_usd=compute_s * usd_per_hour / 3600))


def make_loop_record(task: tuple, key: SampleKey, attempts: list[Attempt], verdict: Verdict | None = None
                     ) -> SampleRecord:
    """A schema version 2 record: every attempt, the last one's answer and verdict (or `verdict`, e.g. budget)."""
    task_id, functionality, component, source, framework = task
    last = attempts[-1]
    total = Cost()
    for attempt in attempts:
        total = total + attempt.cost
    return SampleRecord(
        key=key, task_version=1, task_fingerprint="f" * 16, category=Category.translation if source else Category.inlining,
        functionality=Functionality(functionality), component=Component(component),
        source_component=Component(source) if source else None, framework=Framework(framework),
        prompt_hash="p" * 20, prompt=_prompt(task_id, key, False), generation=GenerationConfig(temperature=key.temperature),
        completion=last.completion, extraction=last.extraction, execution=last.execution,
        verdict=verdict or last.verdict, attempts=tuple(attempts), final_model=last.model, cost=total, created_at=CREATED)


LOOP_MODELS = ("small", "big", "small>big")
LOOP = {"rounds": 2, "edit_format": "search-replace"}
FEEDBACK = "Your script failed when run:\nModuleNotFoundError: No module named 'mlfow'\nFix it."


def loop_key(task_id: str, model: str, index: int, **loop) -> SampleKey:
    return SampleKey(task_id=task_id, model=model, setting=Setting.zero_shot, temperature=0.0, sample_index=index,
                     **(LOOP | loop))


def _loop_attempts(model: str, u: float) -> list[Attempt]:
    """Deterministic attempts of a sample: a model passes in round 1 or 2 or not at all; a cascade hands over."""
    attempts: list[Attempt] = []
    chain = model.split(">")
    for level, member in enumerate(chain):
        for _ in range(LOOP["rounds"]):
            index = len(attempts) + 1
            strong = member == "big"
            passed = (u + 0.3 * index + (0.3 if strong else 0.0)) > 1.0
            kind = "search_replace" if passed or index % 2 else ("edit.no_match" if u > 0.5 else "edit.malformed")
            attempts.append(make_attempt(index, member, "ok" if passed else ("edit_failed" if kind.startswith("edit.")
                                                                               else "runtime_error"),
                                         level=level, kind=kind, well_formed=not kind.startswith("edit."),
                                         api_usd=0.002 * index if strong else 0.0, compute_s=0.0 if strong else 30.0,
                                         feedback=FEEDBACK if index > 1 else None))
            if passed:
                return attempts
    return attempts


def make_loop_records(n: int = 2) -> list[SampleRecord]:
    records = []
    for task in LOOP_TASKS:
        for model in LOOP_MODELS:
            for index in range(n):
                key = loop_key(task[0], model, index)
                records.append(make_loop_record(task, key, _loop_attempts(model, _unit("loop", key.id()))))
    return records


def make_loop_spec(run_id: str = "loop-run", n: int = 2) -> RunSpec:
    return RunSpec(run_id=run_id, tasks=tuple(sorted(t[0] for t in LOOP_TASKS)), models=LOOP_MODELS,
                   temperatures=(0.0,), settings=(Setting.zero_shot,), n=n, k=(1,), git_sha="0123456789abcdef",
                   loop=LoopSpec(**LOOP), created_at=CREATED)

"""Typed records passed between the stages. Anything written to disk carries SCHEMA_VERSION."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # version 1 records (one attempt, no loop axes) still load


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(str, Enum):
    inlining = "inlining"
    translation = "translation"


class Functionality(str, Enum):
    experiment_tracking = "experiment_tracking"
    model_registration = "model_registration"
    hyperparameter_optimization = "hyperparameter_optimization"
    model_optimization = "model_optimization"
    version_control = "version_control"


class Component(str, Enum):
    mlflow = "mlflow"
    wandb = "wandb"
    optuna = "optuna"
    nncf = "nncf"
    torch_prune = "torch_prune"
    dvc = "dvc"
    gitpython = "gitpython"


class Framework(str, Enum):
    pytorch = "pytorch"
    lightning = "lightning"
    keras = "keras"
    sklearn = "sklearn"
    none = "none"


class Setting(str, Enum):
    zero_shot = "zero-shot"
    docprompt = "docprompt"


# ---------------------------------------------------------------- tasks


class CheckSpec(Record):
    """One checker applied to what the script left behind."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Limits(Record):
    timeout_s: float = 180.0
    memory_mb: int = 6144
    file_size_mb: int = 512
    cpu_s: int | None = None  # defaults to 2 x timeout_s


class Task(Record):
    """A task as loaded from tasks/<id>/task.toml; paths are absolute."""

    id: str
    version: int
    category: Category
    functionality: Functionality
    component: Component
    source_component: Component | None = None
    framework: Framework
    title: str
    instruction: str = ""  # task-specific details for the prompt (e.g. the experiment/model name to use)
    input_path: Path
    reference_path: Path
    entrypoint: str  # file name the candidate is written to in the work dir
    fixtures: tuple[Path, ...] = ()
    git_init: bool = False  # work dir starts as a git repo with the fixtures committed
    checks: tuple[CheckSpec, ...]
    input_fails_with: str  # failure category expected when the untouched input is judged
    limits: Limits = Limits()
    folder: Path

    def input_code(self) -> str:
        return self.input_path.read_text()

    def reference_code(self) -> str:
        return self.reference_path.read_text()

    def fingerprint(self) -> str:
        """Changes when anything that affects execution changes (spec, input, reference, fixtures), and only then:
        where the checkout lives is left out, so a cache carries over to another clone."""
        h = hashlib.sha256(self.model_dump_json(exclude={"folder", "input_path", "reference_path", "fixtures"}).encode())
        for p in (self.input_path, self.reference_path, *self.fixtures):
            for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
                if f.is_file():
                    h.update(f.relative_to(p.parent).as_posix().encode())
                    h.update(f.read_bytes())
        return h.hexdigest()[:16]


# ---------------------------------------------------------------- generation


class Prompt(Record):
    task_id: str
    setting: Setting
    retrieval: str = "none"
    messages: tuple[dict[str, str], ...]  # OpenAI chat format: {"role": ..., "content": ...}
    retrieved: tuple[dict[str, Any], ...] = ()  # documents put into the prompt (retrieval issue)

    def hash(self) -> str:
        return stable_hash({"messages": list(self.messages)})


class GenerationConfig(Record):
    """Only what changes the output. Part of every generation cache key."""

    temperature: float = 0.0
    max_tokens: int = 2048
    top_p: float | None = None
    seed: int | None = None


class RuntimeConfig(Record):
    """How a run executes; never part of a cache key."""

    workers: int = 2
    generation_concurrency: int = 4
    request_timeout_s: float = 300.0
    max_retries: int = 5
    timeout_scale: float = 1.0
    progress: bool = True
    executor: str = "local"  # where executions run: local | ray (benchmark/executors)
    ray_address: str | None = None  # ray: None starts Ray here; auto or ray://host:port joins a cluster


class Usage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Completion(Record):
    text: str
    usage: Usage = Usage()
    latency_s: float = 0.0
    compute_s: float | None = None  # the generation time attributable to this completion when a request or batch
    # produced several (its share of the batch); None: the latency
    model: str = ""
    finish_reason: str | None = None
    error: str | None = None  # the backend failed for this sample (recorded, not raised)


class Extraction(Record):
    code: str | None
    # whole-file answers: fenced | bare | multiple_blocks | merged (elided parts restored from the input) |
    # truncated | elided | no_code | empty; edit formats: search_replace | udiff | edit.malformed | edit.no_match
    kind: str
    note: str = ""
    well_formed: bool | None = None  # edit formats: the answer was a well-formed edit that applied (None: whole file)


# ---------------------------------------------------------------- execution and verdicts


class ExecutionResult(Record):
    exit_code: int | None
    timed_out: bool = False
    killed_reason: str | None = None  # timeout | memory | processes | None
    duration_s: float
    stdout_tail: str = ""
    stderr_tail: str = ""
    isolation: str  # bwrap | unshare | plain
    protections: tuple[str, ...] = ()  # what was active (sandbox.layers.PROTECTIONS); empty in older records
    workdir: Path
    node: str | None = None  # the Ray node that ran it (ray executor); None: this machine


class Status(str, Enum):
    passed = "pass"
    failed = "fail"
    error = "error"  # the harness itself failed: not the model's fault
    timeout = "timeout"


class FailureCategory(str, Enum):
    ok = "ok"
    no_code = "no_code"
    syntax_error = "syntax_error"
    import_error = "import_error"
    api_error = "api_error"  # uses an API that does not exist in the pinned version
    runtime_error = "runtime_error"
    timeout = "timeout"
    memory = "memory"
    check_failed = "check_failed"
    edit_failed = "edit_failed"  # an edit (search-replace, udiff) that is malformed or does not apply
    budget = "budget"  # the sample's cost budget ran out before a pass
    harness_error = "harness_error"


class CheckResult(Record):
    name: str
    passed: bool
    code: str  # short machine-readable reason, e.g. "mlflow.no_run"; "ok" when passed
    reason: str  # what a person reads
    details: dict[str, Any] = Field(default_factory=dict)


class Verdict(Record):
    status: Status
    category: FailureCategory
    code: str  # fine-grained: the first failing check's code, or the category
    reason: str
    checks: tuple[CheckResult, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status is Status.passed


# ---------------------------------------------------------------- records on disk


class LoopSpec(Record):
    """How a sample is adapted: attempts, feedback, edit format. Part of every sample key, so cells never merge
    samples that differ in it. The defaults are the one-shot behaviour of schema version 1."""

    rounds: int = Field(1, ge=1)  # attempts per model of the chain (1: one-shot)
    feedback: str = "verdict"  # none | output | verdict: what a repair round is shown of the failed attempt
    edit_format: str = "whole"  # whole | search-replace | udiff
    merge_elided: bool = False  # whole-file answers that elide unchanged parts are merged with the input
    cascade_feedback: bool = True  # a cascade's next model sees the last failed attempt (else a fresh prompt)


class SampleKey(Record):
    task_id: str
    model: str  # a model, or a cascade 'a>b' (each model in turn until one passes)
    setting: Setting
    retrieval: str = "none"
    temperature: float
    sample_index: int
    rounds: int = 1
    feedback: str = "verdict"
    edit_format: str = "whole"
    merge_elided: bool = False
    cascade_feedback: bool = True

    def id(self) -> str:
        """Fields at their defaults are left out, so the keys of one-shot runs are those of schema version 1."""
        return stable_hash(self.model_dump(mode="json", exclude_defaults=True) | self._required())

    def _required(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include={"task_id", "model", "setting", "retrieval", "temperature",
                                                     "sample_index"})

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(split_chain(self.model))

    def loop(self) -> LoopSpec:
        return LoopSpec(**self.model_dump(include=set(LoopSpec.model_fields)))


def split_chain(model: str) -> list[str]:
    """'a>b' -> ['a', 'b']; a plain model name -> [name]."""
    return [m.strip() for m in model.split(">") if m.strip()]


class Cost(Record):
    """What one attempt (or a whole sample) cost: API tokens at list prices, and local compute time at an hourly
    price, so API and local models sit on one axis. `usd` is their sum."""

    api_usd: float = 0.0
    compute_s: float = 0.0
    compute_usd: float = 0.0

    @property
    def usd(self) -> float:
        return self.api_usd + self.compute_usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(api_usd=self.api_usd + other.api_usd, compute_s=self.compute_s + other.compute_s,
                    compute_usd=self.compute_usd + other.compute_usd)


class Attempt(Record):
    """One try of a sample: what the model was shown and answered, and how that answer was judged."""

    round: int  # 1-based over the whole chain
    model: str
    level: int = 0  # the model's position in the cascade
    prompt_hash: str
    feedback: str | None = None  # the message that asked for this attempt (None: the task's own prompt)
    completion: Completion
    extraction: Extraction
    execution: ExecutionResult | None = None
    verdict: Verdict
    cost: Cost = Cost()


class SampleRecord(Record):
    schema_version: int = SCHEMA_VERSION
    key: SampleKey
    task_version: int
    task_fingerprint: str
    category: Category
    functionality: Functionality
    component: Component
    source_component: Component | None = None
    framework: Framework
    prompt_hash: str
    prompt: Prompt | None = None
    generation: GenerationConfig
    completion: Completion
    extraction: Extraction
    execution: ExecutionResult | None = None
    verdict: Verdict  # the last attempt's (or budget_exhausted)
    attempts: tuple[Attempt, ...] = ()  # every attempt in order; empty in schema version 1 records (one attempt)
    final_model: str | None = None  # the model whose answer is final (a cascade's last model tried)
    cost: Cost = Cost()  # the sum over the attempts
    created_at: str

    def all_attempts(self) -> tuple[Attempt, ...]:
        """Every attempt; a version 1 record's single attempt is rebuilt from its top-level fields."""
        if self.attempts:
            return self.attempts
        return (Attempt(round=1, model=self.key.model, prompt_hash=self.prompt_hash, completion=self.completion,
                        extraction=self.extraction, execution=self.execution, verdict=self.verdict),)


class Budget(Record):
    """Spending limits (USD). Not part of the matrix: raising one and running again continues the same run."""

    max_sample_cost: float | None = Field(None, ge=0)  # a sample stops escalating once it has cost this much
    max_run_cost: float | None = Field(None, ge=0)  # the run stops starting work once it has cost this much
    compute_usd_per_hour: float = Field(0.10, ge=0)  # the price of local generation time (see README: costs)


class RunSpec(Record):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    temperatures: tuple[float, ...]
    settings: tuple[Setting, ...]
    retrievals: tuple[str, ...] = ("none",)
    n: int
    k: tuple[int, ...] = (1, 3)
    model_options: dict[str, dict[str, str]] = Field(default_factory=dict)
    generation: GenerationConfig = GenerationConfig()
    loop: LoopSpec = LoopSpec()
    budget: Budget = Budget()
    versions: dict[str, str] = Field(default_factory=dict)
    git_sha: str | None = None
    created_at: str


class Cell(Record):
    """One Pass@k cell: a group of samples sharing every axis but the task."""

    group: dict[str, Any]
    n_tasks: int
    n_samples: int
    pass_at: dict[int, float | None]  # k -> mean pass@k over tasks (None where some task has n < k)


class Summary(Record):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    cells: tuple[Cell, ...]


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]

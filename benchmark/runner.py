"""The run loop: a chain of named stages — plan, render, generate, extract, execute+judge, record.
Generation and sandbox execution overlap; every finished sample is appended at once, so a killed run resumes."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .backends import get_backend
from .backends.base import GenerationRequest, ModelBackend
from .cache import Cache, generation_key
from .evaluation import evaluate_code
from .extract import extract_code, verdict_for
from .progress import Progress
from .prompts import render_prompt
from .runlog import RunLog
from .types import (
    Category,
    Completion,
    Extraction,
    FailureCategory,
    GenerationConfig,
    Prompt,
    RunSpec,
    RuntimeConfig,
    SampleKey,
    SampleRecord,
    Setting,
    Status,
    Task,
    Verdict,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """One generation request: n samples of one task for one model, setting, retrieval strategy and temperature."""

    task: Task
    model: str
    setting: Setting
    retrieval: str
    temperature: float

    def key(self, index: int) -> SampleKey:
        return SampleKey(task_id=self.task.id, model=self.model, setting=self.setting, retrieval=self.retrieval,
                         temperature=self.temperature, sample_index=index)


def plan(spec: RunSpec, tasks: list[Task]) -> list[Group]:
    groups = []
    for task in tasks:
        retrievals = spec.retrievals if task.category is Category.translation else ("none",)
        for model in spec.models:
            for temperature in spec.temperatures:
                for setting in spec.settings:
                    groups.extend(Group(task, model, setting, r, temperature) for r in retrievals)
    return groups


class Runner:
    def __init__(self, spec: RunSpec, tasks: list[Task], run_dir: Path, cache: Cache,
                 runtime: RuntimeConfig = RuntimeConfig(), backends: dict[str, ModelBackend] | None = None):
        self.spec, self.tasks, self.cache, self.runtime = spec, tasks, cache, runtime
        self.runlog = RunLog(run_dir)
        self.backends = backends or {m: get_backend(m, spec.model_options.get(m)) for m in spec.models}
        self._gates = {m: threading.Semaphore(max(1, getattr(b, "concurrency", 1))) for m, b in self.backends.items()}
        self.stats = {"generated": 0, "cached_generations": 0, "executed": 0, "cached_executions": 0}
        self._stats_lock = threading.Lock()

    def run(self) -> list[SampleRecord]:
        self.runlog.start(self.spec)
        done = self.runlog.finished_keys()
        todo = [(g, [i for i in range(self.spec.n) if g.key(i).id() not in done]) for g in plan(self.spec, self.tasks)]
        todo = [(g, missing) for g, missing in todo if missing]
        total = sum(len(m) for _, m in todo)
        log.info("run %s: %d samples to do, %d already recorded", self.spec.run_id, total, len(done))
        try:
            self._pipeline(todo, total)
        finally:
            self.runlog.close()
        return self.runlog.records()

    def _pipeline(self, todo: list[tuple[Group, list[int]]], total: int) -> None:
        gen_pool = ThreadPoolExecutor(max(1, self.runtime.generation_concurrency), thread_name_prefix="gen")
        exec_pool = ThreadPoolExecutor(max(1, self.runtime.workers), thread_name_prefix="sandbox")
        bar = Progress(total, bar=self.runtime.progress)
        judging = _SameWork(lambda item: exec_pool.submit(self._judge, *item))
        try:
            pending: set[Future] = {gen_pool.submit(self._generate, b) for b in batches(todo, self.backends)}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    if isinstance(result, SampleRecord):
                        self.runlog.append(result)
                        bar.update(1)
                        pending |= judging.done(future)
                    else:
                        pending |= judging.submit(result)
        finally:
            bar.close()
            gen_pool.shutdown(wait=True, cancel_futures=True)
            exec_pool.shutdown(wait=True, cancel_futures=True)

    def _count(self, stat: str, amount: int = 1) -> None:
        with self._stats_lock:
            self.stats[stat] += amount

    # ------------------------------------------------------------------ stages
    def _generate(self, batch: list[tuple[Group, list[int]]]) -> list[tuple[Group, int, Prompt, Completion]]:
        """Render, look up the cache, and ask the model (once, for the whole batch) for what is missing."""
        planned, asks = [], []
        for group, indices in batch:
            prompt = self._render(group)
            config = self._config(group, indices)
            options = self.spec.model_options.get(group.model, {})
            keys = {i: generation_key(group.model, options, prompt.hash(), self._config(group), i) for i in indices}
            completions = {i: self.cache.get_completion(k) for i, k in keys.items()}
            missing = [i for i, c in completions.items() if c is None]
            self._count("cached_generations", len(indices) - len(missing))
            planned.append((group, prompt, completions))
            if missing:
                asks.append((group, missing, keys, completions, GenerationRequest(
                    task=group.task, prompt=prompt, config=config, n=len(missing))))
        if asks:
            answers = self._call_backend(batch[0][0].model, [a[4] for a in asks])
            for (group, missing, keys, completions, _), answer in zip(asks, answers):
                for i, completion in zip(missing, answer):
                    completions[i] = completion
                    self.cache.put_completion(keys[i], completion)
                self._count("generated", len(missing))
        return [(group, i, prompt, completions[i]) for group, prompt, completions in planned for i in sorted(completions)]

    def _config(self, group: Group, indices: list[int] | None = None) -> GenerationConfig:
        """The cache key uses the base seed; a request for samples i.. is seeded from i, so a resumed run
        does not repeat the samples it already has."""
        seed = self.spec.generation.seed
        if seed is not None and indices:
            seed += min(indices)
        return GenerationConfig(temperature=group.temperature, max_tokens=self.spec.generation.max_tokens,
                                top_p=self.spec.generation.top_p, seed=seed)

    def _render(self, group: Group) -> Prompt:
        docs_source, docs_target = retrieve_docs(group.task, group.retrieval)
        return render_prompt(group.task, group.setting, docs_source=docs_source, docs_target=docs_target,
                             retrieval=group.retrieval)

    def _call_backend(self, model: str, requests: list[GenerationRequest]) -> list[list[Completion]]:
        backend = self.backends[model]
        with self._gates[model]:
            try:
                answers = backend.generate_batch(requests)
            except Exception as exc:  # recorded per sample; the run goes on and a resume retries them
                log.error("model %s failed: %s", model, exc)
                answers = [[Completion(text="", error=str(exc), model=model)] * r.n for r in requests]
        return [_exactly_n(answer, request.n) for answer, request in zip(answers, requests)]

    def _judge(self, group: Group, index: int, prompt: Prompt, completion: Completion) -> SampleRecord:
        """Extract, execute and judge one sample. A failure of the harness itself becomes an error record (retried
        on resume) instead of stopping the run and the samples still in flight."""
        try:
            return self._judge_sample(group, index, prompt, completion)
        except Exception as exc:  # noqa: BLE001 - recorded, never silent
            log.exception("judging %s failed", group.key(index).id())
            verdict = Verdict(status=Status.error, category=FailureCategory.harness_error, code="harness_exception",
                              reason=f"the harness failed on this sample: {type(exc).__name__}: {exc}")
            extraction = Extraction(code=None, kind="harness_error", note=str(exc))
            return make_record(group, index, prompt, completion, extraction, None, verdict, self.spec.generation)

    def _judge_sample(self, group: Group, index: int, prompt: Prompt, completion: Completion) -> SampleRecord:
        extraction = extract_code(completion.text, group.task.input_code()) if completion.error is None \
            else Extraction(code=None, kind="generation_error", note=completion.error)
        execution, verdict = None, verdict_without_execution(completion, extraction)
        if verdict is None:
            evaluated = evaluate_code(group.task, extraction.code, self.cache, self.runtime.timeout_scale)
            execution, verdict = evaluated.execution, evaluated.verdict
            self._count("cached_executions" if evaluated.cached else "executed")
        return make_record(group, index, prompt, completion, extraction, execution, verdict, self.spec.generation)


class _SameWork:
    """Samples whose completions are identical (a greedy answer repeated n times, a harness model's fixed answer)
    would execute the same code: only the first goes to a sandbox worker, the others wait off the pool and are
    judged from the execution cache once it finishes, so the workers stay busy with different code."""

    def __init__(self, start):
        self._start = start
        self._running: dict[tuple, Future] = {}
        self._key_of: dict[Future, tuple] = {}
        self._parked: dict[tuple, list[tuple]] = {}

    def submit(self, items: list[tuple]) -> set[Future]:
        started = set()
        for item in items:
            group, _, _, completion = item
            key = (group.task.id, completion.text, completion.error)
            if key in self._running:
                self._parked.setdefault(key, []).append(item)
                continue
            future = self._start(item)
            self._running[key], self._key_of[future] = future, key
            started.add(future)
        return started

    def done(self, future: Future) -> set[Future]:
        key = self._key_of.pop(future, None)
        if key is None:
            return set()
        del self._running[key]
        return {self._start(item) for item in self._parked.pop(key, [])}


def _exactly_n(completions: list[Completion], n: int) -> list[Completion]:
    if len(completions) < n:
        completions = completions + [Completion(text="", error="the backend returned too few samples")] * (n - len(completions))
    return completions[:n]


def batches(todo: list[tuple[Group, list[int]]], backends: dict[str, ModelBackend]) -> list[list[tuple[Group, list[int]]]]:
    """Generation work units: one group each, or for batching backends whole prompt families — the groups that share a
    prompt (every temperature of a task, setting and retrieval) — up to `max_batch_requests` groups per unit. A family
    is never split, so a backend can read its prompt once; one bigger than the limit is a unit of its own."""
    families: dict[tuple, list[tuple[Group, list[int]]]] = {}
    for group, missing in todo:
        families.setdefault((group.model, group.task.id, group.setting, group.retrieval), []).append((group, missing))
    out, open_units = [], {}
    for (model, *_), family in families.items():
        size = max(1, getattr(backends[model], "max_batch_requests", 1))
        if size == 1:
            out.extend([member] for member in family)
            continue
        current = open_units.get(model, [])
        if current and len(current) + len(family) > size:
            out.append(current)
            current = []
        open_units[model] = current + family
    return out + [unit for unit in open_units.values() if unit]


def verdict_without_execution(completion: Completion, extraction: Extraction) -> Verdict | None:
    if completion.error is not None:
        return Verdict(status=Status.error, category=FailureCategory.harness_error, code="generation_error",
                       reason=f"the model backend failed: {completion.error}")
    return verdict_for(extraction)


def make_record(group, index, prompt, completion, extraction, execution, verdict, generation) -> SampleRecord:
    task = group.task
    return SampleRecord(
        key=group.key(index), task_version=task.version, task_fingerprint=task.fingerprint(),
        category=task.category, functionality=task.functionality, component=task.component,
        source_component=task.source_component, framework=task.framework, prompt_hash=prompt.hash(), prompt=prompt,
        generation=generation.model_copy(update={"temperature": group.temperature}), completion=completion,
        extraction=extraction, execution=execution, verdict=verdict,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def retrieve_docs(task: Task, strategy: str) -> tuple[tuple, tuple]:
    """Docs-X and Docs-Y for Translation prompts; `none` retrieves nothing."""
    if strategy == "none" or task.category is not Category.translation:
        return (), ()
    from retrieval import retrieve_for_task  # the retrieval stage (corpora, strategies)

    return retrieve_for_task(task, strategy)

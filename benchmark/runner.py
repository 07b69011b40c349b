"""The run loop: a chain of named stages — plan, render, generate, extract, execute+judge, then repair, escalate or
record (benchmark/loop.py decides which). Generation and sandbox execution overlap; a sample is appended once it is
done, and every attempt's generation and execution is cached, so a killed run resumes at the attempt it was in
without repeating a model call or an execution that finished."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .backends import get_backend
from .backends.base import GenerationRequest, ModelBackend
from .cache import Cache, generation_key
from .costs import attempt_cost, load_prices
from .edits import get_edit_format, repair_instructions, verdict_without_code
from .evaluation import evaluate_code
from .executors import Executor, open_executor
from .loop import SampleState, Step, budget_verdict, next_step, over_budget
from .progress import Progress
from .prompts import render_prompt
from .runlog import RunLog
from .types import (
    Attempt,
    Category,
    Completion,
    Extraction,
    FailureCategory,
    GenerationConfig,
    LoopSpec,
    Prompt,
    RunSpec,
    RuntimeConfig,
    SampleKey,
    SampleRecord,
    Setting,
    Status,
    Task,
    Verdict,
    split_chain,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """One generation request: n samples of one task for one model (or cascade), setting, retrieval strategy,
    temperature and loop."""

    task: Task
    model: str
    setting: Setting
    retrieval: str
    temperature: float
    loop: LoopSpec = LoopSpec()

    def key(self, index: int) -> SampleKey:
        return SampleKey(task_id=self.task.id, model=self.model, setting=self.setting, retrieval=self.retrieval,
                         temperature=self.temperature, sample_index=index, **self.loop.model_dump())

    @property
    def first_model(self) -> str:
        return split_chain(self.model)[0]


def plan(spec: RunSpec, tasks: list[Task]) -> list[Group]:
    groups = []
    for task in tasks:
        retrievals = spec.retrievals if task.category is Category.translation else ("none",)
        for model in spec.models:
            for temperature in spec.temperatures:
                for setting in spec.settings:
                    groups.extend(Group(task, model, setting, r, temperature, spec.loop) for r in retrievals)
    return groups


def chain_members(models) -> list[str]:
    """Every distinct model of every chain, in order."""
    return list(dict.fromkeys(m for chain in models for m in split_chain(chain)))


@dataclass(frozen=True)
class _Generated:
    items: list[tuple[SampleState, Step, Completion]]


@dataclass(frozen=True)
class _Judged:
    state: SampleState
    attempt: Attempt


class Runner:
    def __init__(self, spec: RunSpec, tasks: list[Task], run_dir: Path, cache: Cache,
                 runtime: RuntimeConfig = RuntimeConfig(), backends: dict[str, ModelBackend] | None = None,
                 on_attempt: Callable[[SampleState, Attempt], None] | None = None):
        """`on_attempt` is called (in the run's thread) after every judged attempt, e.g. to show progress."""
        self.spec, self.tasks, self.cache, self.runtime = spec, tasks, cache, runtime
        self.on_attempt = on_attempt
        self.runlog = RunLog(run_dir)
        members = chain_members(spec.models)
        self.backends = backends or {m: get_backend(m, spec.model_options.get(m)) for m in members}
        self._gates = {m: threading.Semaphore(max(1, getattr(b, "concurrency", 1))) for m, b in self.backends.items()}
        self.edit_format = get_edit_format(spec.loop.edit_format)
        self._reminder = repair_instructions(spec.loop.edit_format)
        self._prices = load_prices()
        self.stats = {"generated": 0, "cached_generations": 0, "executed": 0, "cached_executions": 0, "attempts": 0}
        self._stats_lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._spent = 0.0  # USD of the recorded samples and of the attempts made since
        self.stopped_by_budget = False
        self._executor: Executor | None = None  # opened by run() when there is work (None: the local default)

    def run(self, samples: Iterable[int] | None = None) -> list[SampleRecord]:
        """Do the samples not yet recorded; `samples` limits this call to those sample indices (default: all n),
        so a caller can do one sample at a time and stop at the first pass."""
        self.runlog.start(self.spec)
        recorded = self.runlog.records()
        done = {r.key.id() for r in recorded if self._finished(r)}
        self._spent = sum(r.cost.usd for r in recorded if r.key.id() in done)
        indices = range(self.spec.n) if samples is None else sorted({i for i in samples if 0 <= i < self.spec.n})
        todo = [(g, [i for i in indices if g.key(i).id() not in done]) for g in plan(self.spec, self.tasks)]
        todo = [(g, missing) for g, missing in todo if missing]
        total = sum(len(m) for _, m in todo)
        log.info("run %s: %d samples to do, %d already recorded", self.spec.run_id, total, len(done))
        try:
            if todo:
                self._executor = open_executor(self.runtime)
            self._pipeline(todo, total)
        finally:
            if self._executor is not None:
                self._executor.close()
                self._executor = None
            self.runlog.close()
        if self.stopped_by_budget:
            log.warning("run budget reached: $%.4f spent of $%g; the samples left are done by running the same "
                        "command again with a higher --max-run-cost", self._spent, self.spec.budget.max_run_cost)
        return self.runlog.records()

    def _finished(self, record: SampleRecord) -> bool:
        """Recorded for good: not an error (redone), and not stopped by a sample budget that has since been raised."""
        if record.verdict.status is Status.error:
            return False
        if record.verdict.code == "budget_exhausted":
            limit = self.spec.budget.max_sample_cost
            return limit is not None and record.cost.usd >= limit
        return True

    def _pipeline(self, todo: list[tuple[Group, list[int]]], total: int) -> None:
        gen_pool = ThreadPoolExecutor(max(1, self.runtime.generation_concurrency), thread_name_prefix="gen")
        workers = self._executor.parallelism(self.runtime.workers) if self._executor else self.runtime.workers
        exec_pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="sandbox")
        bar = Progress(total, bar=self.runtime.progress)
        judging = _SameWork(lambda item: exec_pool.submit(self._judge, *item), key=_judge_key)
        try:
            pending: set[Future] = {gen_pool.submit(self._generate, b) for b in batches(todo, self.backends)}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    if isinstance(result, _Generated):
                        pending |= judging.submit(result.items)
                        continue
                    pending |= judging.done(future)
                    pending |= self._advance(result.state, result.attempt, gen_pool, bar)
        finally:
            bar.close()
            gen_pool.shutdown(wait=True, cancel_futures=True)
            exec_pool.shutdown(wait=True, cancel_futures=True)

    def _advance(self, state: SampleState, attempt: Attempt, gen_pool: ThreadPoolExecutor, bar: Progress) -> set[Future]:
        """After an attempt: record the sample, or start its next attempt (unless a budget says stop)."""
        state.attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(state, attempt)
        elif not self.runtime.progress:
            _log_attempt(state, attempt)
        self._spent += attempt.cost.usd
        self._count("attempts")
        step = next_step(state, self._reminder)
        if step is None or over_budget(state, self.spec.budget):
            final = attempt.verdict if step is None else budget_verdict(state, self.spec.budget)
            self.runlog.append(make_record(state, final, self.spec.generation))
            bar.update(1)
            return set()
        if self._run_over_budget():
            return set()  # not recorded: a resume with a higher budget continues from this attempt (cached)
        return {gen_pool.submit(self._generate_step, state, step)}

    def _run_over_budget(self) -> bool:
        limit = self.spec.budget.max_run_cost
        if limit is not None and self._spent >= limit:
            self.stopped_by_budget = True
        return self.stopped_by_budget

    def _count(self, stat: str, amount: int = 1) -> None:
        with self._stats_lock:
            self.stats[stat] += amount

    # ------------------------------------------------------------------ stages
    def _generate(self, batch: list[tuple[Group, list[int]]]) -> _Generated:
        """First attempts: render, look up the cache, and ask the chain's first model (once, for the whole batch)
        for what is missing."""
        if self._run_over_budget():
            return _Generated([])
        model = batch[0][0].first_model
        options = self.spec.model_options.get(model, {})
        planned, asks = [], []
        asked: set[str] = set()
        for group, indices in batch:
            prompt = self._render(group)
            keys = {i: generation_key(model, options, prompt.hash(), self._config(group), i) for i in indices}
            completions = {i: self.cache.get_completion(k) for i, k in keys.items()}
            # Two groups can render the same prompt (a retrieval option that changes no document): ask once.
            missing = [i for i, c in completions.items() if c is None and keys[i] not in asked]
            asked.update(keys[i] for i in missing)
            self._count("cached_generations", len(indices) - len(missing))
            planned.append((group, prompt, keys, completions))
            if missing:
                asks.append((missing, keys, completions, GenerationRequest(
                    task=group.task, prompt=prompt, config=self._config(group, indices), n=len(missing))))
        if asks:
            answers = self._call_backend(model, [a[3] for a in asks])
            answered: dict[str, Completion] = {}
            for (missing, keys, completions, _), answer in zip(asks, answers):
                for i, completion in zip(missing, answer):
                    completions[i] = completion
                    answered[keys[i]] = completion
                    self.cache.put_completion(keys[i], completion)
                self._count("generated", len(missing))
            for _, _, keys, completions in planned:  # the groups that shared another group's request
                for i, completion in completions.items():
                    completions[i] = answered[keys[i]] if completion is None else completion
        return _Generated([(SampleState(group.key(i), group.task, prompt), Step(0, model, prompt, None), completions[i])
                           for group, prompt, _, completions in planned for i in sorted(completions)])

    def _generate_step(self, state: SampleState, step: Step) -> _Generated:
        """A repair round or a cascade's next model: one request, cached. Greedy repairs of identical samples
        share one key (they see identical prompts), and a request already under way is waited for, not repeated."""
        options = self.spec.model_options.get(step.model, {})
        config = self._config_for(state.key.temperature)
        fresh_prompt = step.feedback is None  # a cascade model on the task's own prompt: the key of a plain run
        varies = state.key.temperature > 0 and getattr(self.backends[step.model], "samples_vary", True)
        index = state.key.sample_index if fresh_prompt or varies else 0
        attempt = len(state.attempts) + 1 if varies and not fresh_prompt else None
        key = generation_key(step.model, options, step.prompt.hash(), config, index, attempt)
        with self._key_locks[key]:
            completion = self.cache.get_completion(key)
            if completion is None:
                request = GenerationRequest(task=state.task, prompt=step.prompt, n=1,
                                            config=self._config_for(state.key.temperature, index))
                completion = self._call_backend(step.model, [request])[0][0]
                self.cache.put_completion(key, completion)
                self._count("generated")
            else:
                self._count("cached_generations")
        return _Generated([(state, step, completion)])

    def _config(self, group: Group, indices: list[int] | None = None) -> GenerationConfig:
        """The cache key uses the base seed; a request for samples i.. is seeded from i, so a resumed run
        does not repeat the samples it already has."""
        return self._config_for(group.temperature, min(indices) if indices else None)

    def _config_for(self, temperature: float, offset: int | None = None) -> GenerationConfig:
        seed = self.spec.generation.seed
        if seed is not None and offset:
            seed += offset
        return GenerationConfig(temperature=temperature, max_tokens=self.spec.generation.max_tokens,
                                top_p=self.spec.generation.top_p, seed=seed)

    def _render(self, group: Group) -> Prompt:
        docs_source, docs_target = retrieve_docs(group.task, group.retrieval)
        return render_prompt(group.task, group.setting, docs_source=docs_source, docs_target=docs_target,
                             retrieval=group.retrieval, edit_format=group.loop.edit_format)

    def _call_backend(self, model: str, requests: list[GenerationRequest]) -> list[list[Completion]]:
        backend = self.backends[model]
        with self._gates[model]:
            try:
                answers = backend.generate_batch(requests)
            except Exception as exc:  # recorded per sample; the run goes on and a resume retries them
                log.error("model %s failed: %s", model, exc)
                answers = [[Completion(text="", error=str(exc), model=model)] * r.n for r in requests]
        return [_exactly_n(answer, request.n) for answer, request in zip(answers, requests)]

    def _judge(self, state: SampleState, step: Step, completion: Completion) -> _Judged:
        """Extract, execute and judge one attempt. A failure of the harness itself becomes an error attempt (the
        sample is recorded as an error and redone on resume) instead of stopping the run."""
        try:
            extraction, execution, verdict = self._judge_attempt(state, completion)
        except Exception as exc:
            log.exception("judging %s failed", state.key.id())
            verdict = Verdict(status=Status.error, category=FailureCategory.harness_error, code="harness_exception",
                              reason=f"the harness failed on this sample: {type(exc).__name__}: {exc}")
            extraction, execution = Extraction(code=None, kind="harness_error", note=str(exc)), None
        cost = attempt_cost(step.model, completion, self._prices, self.spec.budget.compute_usd_per_hour)
        return _Judged(state, Attempt(round=len(state.attempts) + 1, model=step.model, level=step.level,
                                      prompt_hash=step.prompt.hash(), feedback=step.feedback, completion=completion,
                                      extraction=extraction, execution=execution, verdict=verdict, cost=cost))

    def _judge_attempt(self, state: SampleState, completion: Completion):
        if completion.error is not None:
            extraction = Extraction(code=None, kind="generation_error", note=completion.error)
        else:
            extraction = self.edit_format.apply(completion.text, state.current_code(), state.key.merge_elided)
        verdict = verdict_without_execution(completion, extraction)
        if verdict is not None:
            return extraction, None, verdict
        evaluated = evaluate_code(state.task, extraction.code, self.cache, self.runtime.timeout_scale,
                                  self._executor)
        self._count("cached_executions" if evaluated.cached else "executed")
        return extraction, evaluated.execution, evaluated.verdict


def _log_attempt(state: SampleState, attempt: Attempt) -> None:
    """One line per judged attempt, where no progress bar shows the run moving (logs, CI, `make benchmark` piped)."""
    verdict = attempt.verdict
    outcome = "passed" if verdict.passed else f"{verdict.code}: {verdict.reason[:160]}"
    log.info("%s sample %d round %d (%s, %d tokens, %.0f s): %s", state.task.id, state.key.sample_index, attempt.round,
             attempt.model, attempt.completion.usage.completion_tokens, attempt.completion.latency_s, outcome)


def _judge_key(item: tuple) -> tuple:
    """Attempts that would run the same code: the same answer read against the same script for the same task."""
    state, _, completion = item
    current = hashlib.sha256(state.current_code().encode()).hexdigest()
    return state.task.id, current, completion.text, completion.error


class _SameWork:
    """Attempts that would execute the same code (a greedy answer repeated n times, a harness model's fixed answer)
    go to a sandbox worker once: the others wait off the pool and are judged from the execution cache once it
    finishes, so the workers stay busy with different code."""

    def __init__(self, start, key):
        self._start, self._key = start, key
        self._running: dict[tuple, Future] = {}
        self._key_of: dict[Future, tuple] = {}
        self._parked: dict[tuple, list[tuple]] = {}

    def submit(self, items: list[tuple]) -> set[Future]:
        started = set()
        for item in items:
            key = self._key(item)
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
        size = max(1, getattr(backends[split_chain(model)[0]], "max_batch_requests", 1))
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
    return verdict_without_code(extraction)


def make_record(state: SampleState, verdict: Verdict, generation: GenerationConfig) -> SampleRecord:
    """The sample as recorded: its first prompt, every attempt, and the last attempt's answer and judgement."""
    task, last = state.task, state.attempts[-1]
    return SampleRecord(
        key=state.key, task_version=task.version, task_fingerprint=task.fingerprint(),
        category=task.category, functionality=task.functionality, component=task.component,
        source_component=task.source_component, framework=task.framework,
        prompt_hash=state.first_prompt.hash(), prompt=state.first_prompt,
        generation=generation.model_copy(update={"temperature": state.key.temperature}), completion=last.completion,
        extraction=last.extraction, execution=last.execution, verdict=verdict, attempts=tuple(state.attempts),
        final_model=last.model, cost=state.cost(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def retrieve_docs(task: Task, strategy: str) -> tuple[tuple, tuple]:
    """Docs-X and Docs-Y for Translation prompts; `none` retrieves nothing."""
    if strategy == "none" or task.category is not Category.translation:
        return (), ()
    from retrieval import retrieve_for_task  # the retrieval stage (corpora, strategies)

    return retrieve_for_task(task, strategy)

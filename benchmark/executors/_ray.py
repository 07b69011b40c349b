"""`ray`: each execution + judgement is a Ray task on a node of a cluster, in that node's own sandbox layer.

Scheduling. A task asks for 1 CPU (the local executor also runs one script per core: `--workers` defaults to
the core count) and its limit's memory (`memory_mb`, which the sandbox's watchdog enforces), so Ray never packs
more trainings on a node than it can hold. Jobs beyond the cluster's CPUs wait on the driver, not in Ray's
queue, so a submitted job starts at once and its deadline means something.

Faults. A worker or node that dies mid-execution is retried by Ray on another node (`max_retries`, bounded:
ADAPTBENCH_RAY_RETRIES, default 2); when the tries run out, when no live node can hold the job any more, or when
it overruns a generous deadline, the job ends as an infrastructure error (Status.error, harness_error), which is
never cached and which a resume runs again. Nothing waits forever on a lost node.

Files. The task's own files travel with the job through Ray's object store (nodes need the project installed,
not the task folders); the graded work dir comes back as a bounded tarball unless the node sees the driver's
files (see _node.py)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ..backends._deps import require
from ..errors import AdaptbenchError
from ..types import FailureCategory, RuntimeConfig, Status, Task, Verdict
from ._base import Executor, GradingJob, executor
from ._node import NodeJob, NodeOutcome, run_job
from ._transfer import DEFAULT_MAX_BYTES, pack_task, unpack

log = logging.getLogger(__name__)
RETRIES_VAR = "ADAPTBENCH_RAY_RETRIES"
SHIP_VAR = "ADAPTBENCH_RAY_SHIP"  # "always": bring work dirs back as tarballs even when the node sees the driver's
MAX_SHIP_VAR = "ADAPTBENCH_RAY_MAX_SHIP_MB"
GRACE_VAR = "ADAPTBENCH_RAY_GRACE_S"  # how long a job may find no live node that can hold it
DEFAULT_RETRIES = 2
DEFAULT_GRACE_S = 60.0
MAX_IN_FLIGHT = 512  # threads the run loop may block on this executor; the cluster's CPUs bound what runs
POLL_S = 0.2
CHECK_S = 2.0
SETUP_ALLOWANCE_S = 120.0
LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # when this executor starts Ray itself on this machine
MARKER = ".adaptbench-driver"
MIB = 1024 * 1024


def _grade_on_node(job: NodeJob, packed_task: bytes) -> NodeOutcome:
    """The Ray task (runs on a worker node)."""
    import ray

    return run_job(job, packed_task, ray.get_runtime_context().get_node_id())


@dataclass
class _Job:
    job: GradingJob
    future: Future
    resources: dict
    marker: Path | None
    deadline_s: float
    queued_at: float = field(default_factory=time.monotonic)
    submitted_at: float | None = None
    unfit_since: float | None = None


@executor("ray")
class RayExecutor(Executor):
    shares_cpu = False

    def __init__(self, runtime: RuntimeConfig):
        super().__init__(runtime)
        self._ray = require("ray", "the ray executor (--executor ray)", package="ray", extra="ray")
        self.retries = int(os.environ.get(RETRIES_VAR, DEFAULT_RETRIES))
        self.grace_s = float(os.environ.get(GRACE_VAR, DEFAULT_GRACE_S))
        self.ship_always = os.environ.get(SHIP_VAR, "").strip().lower() == "always"
        self.max_ship = int(float(os.environ.get(MAX_SHIP_VAR, DEFAULT_MAX_BYTES / MIB)) * MIB)
        self.timings: list[tuple[float, float]] = []  # (seconds from submission to result, grading on the node)
        self._token = uuid.uuid4().hex
        self._lock = threading.Condition()
        self._connected = self._owns_ray = self._closed = False
        self._queued: deque[_Job] = deque()
        self._running: dict = {}  # ObjectRef -> _Job
        self._task_refs: dict[str, object] = {}
        self._nodes: list[dict] = []
        self._nodes_at = 0.0
        self._watcher: threading.Thread | None = None
        self._connect()  # before any model call: an unreachable cluster fails the run at once

    # ------------------------------------------------------------ the Executor interface
    def submit(self, job: GradingJob) -> Future:
        pending = _Job(job, Future(), self._resources(job.task), self._marker_for(job), self._deadline(job))
        with self._lock:
            if self._closed:
                raise AdaptbenchError("the ray executor is closed")
            self._queued.append(pending)
            self._admit()
            self._lock.notify_all()
        return pending.future

    def parallelism(self, workers: int) -> int:
        return max(workers, MAX_IN_FLIGHT)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        with self._lock:
            for pending in [*self._queued, *self._running.values()]:
                pending.future.cancel() or pending.future.set_exception(AdaptbenchError("the ray executor was closed"))
                _remove_marker(pending)
            self._queued.clear()
            self._running.clear()
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    # ------------------------------------------------------------ connecting
    def _connect(self) -> None:
        """Join the cluster at `ray_address` (or start Ray on this machine), once; a failure is one clear error."""
        with self._lock:
            if self._connected:
                return
            if self._closed:
                raise AdaptbenchError("the ray executor is closed")
            ray = self._ray
            if not ray.is_initialized():
                address = self.runtime.ray_address
                local = {} if address else {"object_store_memory": LOCAL_OBJECT_STORE, "include_dashboard": False,
                                            # Ray runs its workers at nice 15: the sandboxes would yield to
                                            # everything else on this machine, unlike the local executor's
                                            "_system_config": {"worker_niceness": os.nice(0)}}
                try:
                    ray.init(address=address, logging_level=logging.WARNING, **local)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise AdaptbenchError(f"cannot reach the Ray cluster at {address or 'this machine'}: {exc}",
                                          "start it with `ray start --head` (then --ray-address auto), or pass the "
                                          "ray://host:port of its head node") from None
                self._owns_ray = True
            self._remote = ray.remote(_grade_on_node)
            self._connected = True
            self._watcher = threading.Thread(target=self._watch, name="ray-executor", daemon=True)
            self._watcher.start()
        log.info("ray executor: %d node(s) alive, %d CPU(s)", len(self._alive_nodes(fresh=True)), self._capacity())

    # ------------------------------------------------------------ jobs
    def _resources(self, task: Task) -> dict:
        return {"num_cpus": 1, "memory": task.limits.memory_mb * MIB}

    def _deadline(self, job: GradingJob) -> float:
        """From submission: every try may run the script and two probes to their time limits, plus set-up."""
        from sandbox.grading import PROBE_TIMEOUT_S

        per_try = (job.task.limits.timeout_s + 2 * PROBE_TIMEOUT_S) * job.timeout_scale + SETUP_ALLOWANCE_S
        return per_try * (self.retries + 1)

    def _marker_for(self, job: GradingJob) -> Path | None:
        """A file the node finds with this executor's token inside only if it sees the driver's files."""
        if self.ship_always:
            return None
        marker = Path(job.workdir).parent / MARKER
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(self._token)
        return marker

    def _admit(self) -> None:
        """Submit queued jobs while the cluster has a free CPU for them (called with the lock held)."""
        while self._queued and len(self._running) < self._capacity():
            pending = self._queued.popleft()
            try:
                ref = self._launch(pending)
            except Exception as exc:
                pending.future.set_exception(exc)
                _remove_marker(pending)
                continue
            pending.submitted_at = time.monotonic()
            self._running[ref] = pending

    def _launch(self, pending: _Job):
        job = pending.job
        fingerprint = job.task.fingerprint()
        if fingerprint not in self._task_refs:
            self._task_refs[fingerprint] = self._ray.put(pack_task(job.task))
        from ..evaluation import checker_versions

        node_job = NodeJob(task=job.task, fingerprint=fingerprint, code=job.code, workdir=Path(job.workdir),
                           timeout_scale=job.timeout_scale, checkers=checker_versions(job.task),
                           marker=pending.marker, token=self._token, max_bytes=self.max_ship)
        options = dict(pending.resources, max_retries=self.retries, retry_exceptions=False)
        return self._remote.options(**options).remote(node_job, self._task_refs[fingerprint])

    # ------------------------------------------------------------ the watcher thread
    def _watch(self) -> None:
        last_check = 0.0
        while True:
            with self._lock:
                if self._closed:
                    return
                if not self._running and not self._queued:
                    self._lock.wait(timeout=1.0)
                    continue
                refs = list(self._running)
            ready = self._wait(refs)
            for ref in ready:
                self._finish(ref)
            if time.monotonic() - last_check >= CHECK_S:
                last_check = time.monotonic()
                self._check_stuck()
            with self._lock:
                self._admit()

    def _wait(self, refs: list) -> list:
        if not refs:
            time.sleep(POLL_S)
            return []
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=POLL_S)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def _finish(self, ref) -> None:
        with self._lock:
            pending = self._running.pop(ref, None)
        if pending is None:
            return
        try:
            outcome = self._ray.get(ref)
            graded = self._land(outcome, pending)
        except self._ray.exceptions.RayTaskError as exc:  # the grading code itself raised on the node
            cause = exc.cause if isinstance(exc.cause, Exception) else exc
            pending.future.set_exception(cause)
        except self._ray.exceptions.RayError as exc:  # the worker, its node or the object was lost
            pending.future.set_result(self._lost(pending, f"{type(exc).__name__}: {_first_line(exc)}"))
        except Exception as exc:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(graded)
        finally:
            _remove_marker(pending)

    def _land(self, outcome: NodeOutcome, pending: _Job):
        """The node's result, with the graded work dir at the driver's path."""
        from sandbox.grading import Graded

        workdir = Path(pending.job.workdir)
        if outcome.packed is not None:
            if workdir.exists():
                shutil.rmtree(workdir)
            unpack(outcome.packed, workdir)
        elif outcome.dropped:
            log.warning("%s: work dir not brought back from node %s (%s); re-judging it will run it again",
                        pending.job.task.id, outcome.node[:12], outcome.dropped)
        for note in outcome.notes:
            log.info("%s: %s", pending.job.task.id, note)
        self.timings.append((time.monotonic() - (pending.submitted_at or pending.queued_at), outcome.grade_s))
        return Graded(outcome.execution, outcome.verdict)

    def _check_stuck(self) -> None:
        """End, as infrastructure errors, jobs past their deadline and jobs no live node can hold any more."""
        now = time.monotonic()
        nodes = self._alive_nodes(fresh=True)
        with self._lock:
            jobs = list(self._running.items()) + [(None, p) for p in self._queued]
        for ref, pending in jobs:
            started = pending.submitted_at
            if started is not None and now - started > pending.deadline_s:
                self._abandon(ref, pending, f"no result after {pending.deadline_s:.0f} s")
                continue
            if any(_fits(node, pending.resources) for node in nodes):
                pending.unfit_since = None
            elif pending.unfit_since is None:
                pending.unfit_since = now
            elif now - pending.unfit_since > self.grace_s:
                need = f"1 CPU and {pending.resources['memory'] // MIB} MiB of memory"
                self._abandon(ref, pending, f"no live node of the cluster offers {need} for {self.grace_s:.0f} s")

    def _abandon(self, ref, pending: _Job, why: str) -> None:
        with self._lock:
            if ref is None:
                if pending not in self._queued:
                    return
                self._queued.remove(pending)
            elif self._running.pop(ref, None) is None:
                return
        if ref is not None:
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:
                log.debug("cancelling %s: %s", ref, exc)
        _remove_marker(pending)
        pending.future.set_result(self._lost(pending, why))

    def _lost(self, pending: _Job, why: str):
        from sandbox.grading import Graded

        log.error("%s: execution lost on the Ray cluster: %s", pending.job.task.id, why)
        return Graded(None, Verdict(
            status=Status.error, category=FailureCategory.harness_error, code="executor.lost",
            reason=f"the execution was lost on the Ray cluster ({why}; up to {self.retries + 1} tries): an "
                   "infrastructure failure, not the candidate's; running the same command again redoes it"))

    # ------------------------------------------------------------ the cluster's state
    def _alive_nodes(self, fresh: bool = False) -> list[dict]:
        if fresh or time.monotonic() - self._nodes_at > CHECK_S:
            try:
                self._nodes = [n for n in self._ray.nodes() if n.get("Alive")]
            except Exception as exc:
                log.warning("cannot read the Ray cluster's nodes: %s", exc)
            self._nodes_at = time.monotonic()
        return self._nodes

    def _capacity(self) -> int:
        return int(sum(node.get("Resources", {}).get("CPU", 0) for node in self._alive_nodes()))


def _fits(node: dict, resources: dict) -> bool:
    have = node.get("Resources", {})
    return have.get("CPU", 0) >= resources["num_cpus"] and have.get("memory", 0) >= resources["memory"]


def _remove_marker(pending: _Job) -> None:
    if pending.marker is not None:
        try:
            pending.marker.unlink()
        except OSError:
            pass


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""

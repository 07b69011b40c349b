"""What a cluster node does with one grading job: the same grading code as the local executor, in the node's own
sandbox layer, then (where the driver cannot see the node's files) the graded work dir packed for the trip back
and removed from the node.

Where the work dir lives on the node: at the driver's own path when the driver's marker file is visible there (a
shared file system, or a cluster on one machine): nothing is copied. Otherwise at the same absolute path where the
node can create it, so the absolute paths a script leaves in its artifacts (MLflow's artifact locations, DVC
remotes) are right on the driver too; failing that, under the node's scratch folder."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AdaptbenchError
from ..types import ExecutionResult, Task, Verdict
from ._transfer import DEFAULT_MAX_BYTES, pack_workdir, task_on_node

log = logging.getLogger(__name__)
NODE_DIR_VAR = "ADAPTBENCH_NODE_DIR"


@dataclass(frozen=True)
class NodeJob:
    task: Task
    fingerprint: str  # the task's, on the driver
    code: str
    workdir: Path  # the driver's path
    timeout_scale: float
    checkers: dict[str, int]  # the driver's checker versions: a node judging differently is refused
    marker: Path | None  # visible with `token` inside: the node sees the driver's files
    token: str
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class NodeOutcome:
    execution: ExecutionResult | None
    verdict: Verdict
    node: str
    grade_s: float  # the grading itself, on the node
    shared: bool  # the work dir was graded in place at the driver's path
    packed: bytes | None = None  # the work dir, when not shared (None with `dropped`: too big to bring back)
    dropped: str = ""
    notes: list[str] = field(default_factory=list)


def node_dir() -> Path:
    return Path(os.environ.get(NODE_DIR_VAR) or Path(tempfile.gettempdir()) / "adaptbench-node")


def run_job(job: NodeJob, packed_task: bytes, node: str) -> NodeOutcome:
    from sandbox.grading import grade

    from ..evaluation import checker_versions

    task = task_on_node(job.task, job.fingerprint, packed_task, node_dir() / "tasks")
    here = checker_versions(task)
    if here != job.checkers:
        raise AdaptbenchError(f"node {node} judges with checker versions {here}, the driver with {job.checkers}",
                              "install the same adaptbench version on every node of the cluster")
    shared = _sees_driver(job)
    workdir, created = (job.workdir, []) if shared else _private_workdir(job.workdir)
    if workdir.exists():
        shutil.rmtree(workdir)  # an earlier try of this job, on a worker that died
    start = time.monotonic()
    try:
        graded = grade(task, job.code, workdir, timeout_scale=job.timeout_scale)
        grade_s = time.monotonic() - start
        outcome = NodeOutcome(_relocated(graded.execution, job.workdir, node), graded.verdict, node, grade_s, shared)
        if not shared and graded.execution is not None:
            outcome.packed, outcome.dropped = pack_workdir(workdir, job.max_bytes)
        if workdir != job.workdir:
            outcome.notes.append(f"graded in {workdir}: the node cannot create {job.workdir}")
        return outcome
    finally:
        if not shared:
            _remove(workdir, created)


def _sees_driver(job: NodeJob) -> bool:
    try:
        return job.marker is not None and job.marker.read_text() == job.token
    except OSError:
        return False


def _private_workdir(path: Path) -> tuple[Path, list[Path]]:
    """The driver's path if this node may create it, with the folders it had to create (deepest first, removed
    after when empty), else a fresh folder under the node's scratch dir."""
    path = Path(path)
    missing = [p for p in path.parents if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, missing
    except OSError:
        scratch = node_dir() / "work" / uuid.uuid4().hex
        return scratch / "work", [scratch]


def _remove(workdir: Path, created: list[Path]) -> None:
    """The work dir, then the folders made for it that no other job is using (other jobs' work dirs may share
    the driver's `executions/<xx>/` folders)."""
    shutil.rmtree(workdir, ignore_errors=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def _relocated(execution: ExecutionResult | None, workdir: Path, node: str) -> ExecutionResult | None:
    if execution is None:
        return None
    return execution.model_copy(update={"workdir": Path(workdir), "node": node})

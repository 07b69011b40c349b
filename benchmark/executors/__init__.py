"""Executors: where a fresh execution + judgement of a candidate runs.

- `local` (default): a sandboxed process on this machine, one per `--workers` thread.
- `ray`: a Ray task on a node of a Ray cluster (`--executor ray [--ray-address auto|ray://host:port]`), in the
  node's own sandbox layer; the verdict, the execution record and the graded work dir come back to the driver,
  where the caches and the run log stay. Needs the extra: pip install 'adaptbench[ray]'.

Adding one: subclass `Executor`, implement `submit(job) -> Future[Graded]` and register it with
`@executor("name")`; the grading job's work dir must hold the graded work dir (or be absent) once the future
resolves, and a lost execution is a `Status.error` verdict (never the candidate's failure)."""

from ._base import EXECUTORS, Executor, GradingJob, executor, open_executor
from ._local import LocalExecutor

EXECUTORS.add("ray", "benchmark.executors._ray:RayExecutor")  # imports ray only when chosen

__all__ = ["EXECUTORS", "Executor", "GradingJob", "LocalExecutor", "executor", "open_executor"]

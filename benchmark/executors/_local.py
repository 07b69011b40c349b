"""`local`: the candidate runs in a sandboxed process on this machine, in the calling thread (the run loop's pool of
`--workers` threads is what runs several at once)."""

from __future__ import annotations

from concurrent.futures import Future

from ._base import Executor, GradingJob, executor


@executor("local")
class LocalExecutor(Executor):
    def submit(self, job: GradingJob) -> Future:
        from sandbox.grading import grade

        future: Future = Future()
        try:
            future.set_result(grade(job.task, job.code, job.workdir, timeout_scale=job.timeout_scale))
        except Exception as exc:
            future.set_exception(exc)
        return future

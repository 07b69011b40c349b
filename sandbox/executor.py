"""Runs one command in a work dir under limits. Isolation layers live in sandbox/layers.py."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from benchmark.types import ExecutionResult, Limits

from .environment import build_env

log = logging.getLogger(__name__)
TAIL_CHARS = 4000


def execute(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str] | None = None,
            label: str = "main") -> ExecutionResult:
    """Run argv in `workdir`; stdout/stderr go to files `<label>.stdout/.stderr` under workdir/.adaptbench/."""
    workdir = Path(workdir)
    env = env if env is not None else build_env(workdir)
    logs = workdir / ".adaptbench"
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{label}.stdout", logs / f"{label}.stderr"
    start = time.monotonic()
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            import os
            import signal

            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
    return ExecutionResult(
        exit_code=None if timed_out else code, timed_out=timed_out, killed_reason="timeout" if timed_out else None,
        duration_s=round(time.monotonic() - start, 3), stdout_tail=tail(out_path), stderr_tail=tail(err_path),
        isolation="plain", workdir=workdir,
    )


def tail(path: Path, chars: int = TAIL_CHARS) -> str:
    data = path.read_bytes() if path.exists() else b""
    return data[-chars:].decode("utf-8", errors="replace")

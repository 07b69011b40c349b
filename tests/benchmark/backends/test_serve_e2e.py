"""End to end: the openai backend against a real `transformers serve` of the embedded model (CPU, offline)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmark.backends import embedded_model_dir, get_backend

from .conftest import make_request

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"transformers serve not healthy after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.skip("the transformers CLI is not installed")
    model_dir, port = str(embedded_model_dir()), _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([cli, "serve", model_dir, "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc, log_path)
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        _stop(proc)


def test_real_server_ignores_n_and_the_backend_still_returns_n(served_model, task):
    base_url, model_dir = served_model
    model = get_backend(f"openai/{model_dir}", {"base_url": base_url, "timeout": "120", "max_retries": "1"})
    try:
        out = model.generate(make_request(task, n=3, temperature=0.7, max_tokens=8, seed=1))
    finally:
        model.close()
    assert len(out) == 3 and all(c.error is None and c.text for c in out), [c.error for c in out]
    assert model.ignores_n and model.requests_sent == 3  # asked for 3, got 1, asked twice more
    assert all(c.usage.prompt_tokens > 0 and 0 < c.usage.completion_tokens <= 8 for c in out)
    assert all(c.latency_s > 0 for c in out)

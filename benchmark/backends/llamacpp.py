"""`llamacpp/<file.gguf>`: a GGUF model served by llama.cpp's `llama-server`, started on loopback by the backend.

llama.cpp runs quantised weights natively (no dequantisation to float32), so on a small CPU it decodes several
times faster than transformers (see `make speed`). The server is an OpenAI-compatible endpoint; this backend starts
it on a free 127.0.0.1 port, waits until the model is loaded, and sends requests through the `openai` backend (its
retries, usage and latency accounting). The server is stopped by `close()`, and dies with the process that started it.

Scheduling for a benchmark's prompt families: the requests that share a prompt (its temperatures) are sent one
after the other, so the slot that read the prompt for the first request serves the next ones from its KV cache
(llama.cpp picks the slot whose cached tokens share the longest prefix with the new prompt) and n samples of one
request share one prompt read (`n` → llama.cpp's `n_cmpl`); `families` prompt families are in flight at once, so the
server's continuous batching decodes them together. A repair prompt (the original prompt + the failed answer +
feedback) starts with the original prompt, so it is read mostly from the cache as well."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..cache import default_cache_dir
from ..errors import BackendError
from ..types import Completion
from .base import GenerationRequest, ModelBackend, backend

log = logging.getLogger(__name__)

SERVER_ENV = "ADAPTBENCH_LLAMA_SERVER"
BUILD_HINT = "build it once with `make llama-server` (about 10-15 minutes on 2 cores), or point " \
             f"${SERVER_ENV} (or -M server=PATH) at a llama-server binary"


class LlamaCppOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: Path | None = None  # the llama-server binary (default: $ADAPTBENCH_LLAMA_SERVER, .venv/bin, PATH)
    threads: int | None = Field(None, ge=1)  # CPU threads of the server (default: every core)
    parallel: int = Field(8, ge=1)  # server slots: rows decoded together (n samples of a request need n slots)
    families: int = Field(2, ge=1)  # prompt families (or repair prompts) in flight at once
    ctx_per_slot: int = Field(12288, ge=512)  # tokens of context per slot (prompt + answer)
    cache_ram_mib: int = Field(4096, ge=0)  # llama.cpp's host-memory prompt cache (0: off)
    # how hard idle threads spin for work (llama.cpp --poll, 0-100): spinning threads starve the sandboxed scripts
    # sharing the cores, and are starved by them (measured: see README, engines)
    poll: int = Field(0, ge=0, le=100)
    max_new_tokens: int | None = Field(None, ge=1)  # caps GenerationConfig.max_tokens
    startup_timeout: float = Field(300.0, gt=0)
    request_timeout: float = Field(1800.0, gt=0)


def find_server_binary(explicit: Path | None = None) -> Path:
    """The llama-server to run: the option, the environment variable, the venv's bin folder, then PATH."""
    candidates = [explicit, os.environ.get(SERVER_ENV), Path(sys.prefix) / "bin" / "llama-server",
                  shutil.which("llama-server")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    if explicit is not None or os.environ.get(SERVER_ENV):
        raise BackendError(f"llama-server not found at {explicit or os.environ.get(SERVER_ENV)}", BUILD_HINT)
    raise BackendError("the llama.cpp server (llama-server) is not installed", BUILD_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """One llama-server process on loopback. A keeper thread owns the process: it is started with a parent-death
    signal, so it cannot outlive the Python process (the signal is tied to the thread that forked it)."""

    def __init__(self, binary: Path, model: Path, args: list[str], log_path: Path):
        self.binary, self.model, self.args, self.log_path = binary, model, args, log_path
        self.port = 0
        self._process: subprocess.Popen | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float) -> None:
        self.port = free_port()
        self._started.clear()
        threading.Thread(target=self._keep, name="llama-server", daemon=True).start()
        self._started.wait(30)
        if self._error is not None or self._process is None:
            raise BackendError(f"could not start {self.binary}: {self._error}", BUILD_HINT)
        self._wait_healthy(timeout)

    def _keep(self) -> None:
        argv = ["setpriv", "--pdeathsig", "KILL", str(self.binary)] if shutil.which("setpriv") else [str(self.binary)]
        argv += ["-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log_file:
                self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                                 stderr=subprocess.STDOUT, env=_server_env())
                self._started.set()
                self._process.wait()
        except OSError as exc:
            self._error = exc
            self._started.set()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BackendError(f"llama-server exited while loading {self.model.name} (exit code "
                                   f"{self._process.returncode}); its log: {self.log_path}\n{self.log_tail()}",
                                   "check the log; a model file that does not load, or too little memory for "
                                   "-M parallel/ctx_per_slot, are the usual causes")
            if _health(self.base_url):
                return
            time.sleep(0.25)
        self.stop()
        raise BackendError(f"llama-server did not become ready within {timeout:g} s (log: {self.log_path})",
                           "raise -M startup_timeout=SECONDS")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)


def _health(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _server_env() -> dict[str, str]:
    """The server needs no secret of ours; it gets a minimal environment."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


@backend("llamacpp")
class LlamaCppBackend(ModelBackend):
    Options: ClassVar = LlamaCppOptions
    requires_model: ClassVar[bool] = True
    max_batch_requests: ClassVar[int] = 3  # one prompt family (its temperatures) per call

    def __init__(self, name: str, model: str, options: BaseModel):
        super().__init__(name, model, options)
        self._lock = threading.Lock()
        self._server: LlamaServer | None = None
        self._client = None
        self.load_seconds: float | None = None
        atexit.register(self.close)

    @property
    def concurrency(self) -> int:
        return self.options.families

    def model_file(self) -> Path:
        path = Path(self.model).expanduser()
        if path.suffix != ".gguf" or not path.is_file():
            raise BackendError(f"model '{self.name}': no GGUF file at {path}", "write llamacpp/<path to a .gguf file>")
        return path

    def server_args(self) -> list[str]:
        o = self.options
        threads = o.threads or len(os.sched_getaffinity(0))
        return ["-t", str(threads), "-tb", str(threads), "-np", str(o.parallel), "-c", str(o.parallel * o.ctx_per_slot),
                "--cache-ram", str(o.cache_ram_mib), "--poll", str(o.poll), "--no-webui", "--jinja",
                "--alias", "adaptbench-model", "--no-warmup"]

    def start(self):
        """Start the server once (again if it died); returns the OpenAI-compatible client backend."""
        with self._lock:
            if self._server is not None and self._server.alive():
                return self._client
            self._server = LlamaServer(find_server_binary(self.options.server), self.model_file(), self.server_args(),
                                       default_cache_dir() / "logs" / f"llama-server-{os.getpid()}.log")
            started = time.perf_counter()
            self._server.start(self.options.startup_timeout)
            self.load_seconds = time.perf_counter() - started
            log.info("llama-server with %s ready on %s in %.1f s", self.model_file().name, self._server.base_url,
                     self.load_seconds)
            self._client = self._openai_client(self._server.base_url)
            return self._client

    def _openai_client(self, base_url: str):
        from .openai_api import OpenAIBackend, OpenAIOptions

        options = OpenAIOptions(base_url=f"{base_url}/v1", concurrency=self.options.parallel, max_retries=2,
                                timeout=self.options.request_timeout, backoff_base=0.5)
        return OpenAIBackend(self.name, "adaptbench-model", options)

    def generate(self, request: GenerationRequest) -> list[Completion]:
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: list[GenerationRequest]) -> list[list[Completion]]:
        """In order, one after the other: a family's later requests find its prompt in the server's cache."""
        client = self.start()
        return [client.generate(self._capped(r)) if r.n > 0 else [] for r in requests]

    def _capped(self, request: GenerationRequest) -> GenerationRequest:
        cap = self.options.max_new_tokens
        if cap is None or request.config.max_tokens <= cap:
            return request
        return request.model_copy(update={"config": request.config.model_copy(update={"max_tokens": cap})})

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._server is not None:
                self._server.stop()
                self._server = None

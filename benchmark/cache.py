"""Content-addressed caches: generations keyed by everything that changes the output, executions keyed by
(code, task fingerprint). Writes are atomic, so a killed run never leaves a half-written entry."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .types import Completion, GenerationConfig, stable_hash


def default_cache_dir() -> Path:
    env = os.environ.get("ADAPTBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "adaptbench"


def generation_key(model: str, options: dict[str, str], prompt_hash: str, config: GenerationConfig,
                   sample_index: int, attempt: int | None = None) -> str:
    """`attempt` tells apart sampled repair rounds that happen to see the same prompt (a model repeating itself):
    each is a fresh draw."""
    key = {"model": model, "options": options, "prompt": prompt_hash, "config": config.model_dump(mode="json"),
           "sample": sample_index}
    if attempt is not None:
        key["attempt"] = attempt
    return stable_hash(key)


def execution_key(code: str, task_fingerprint: str) -> str:
    return stable_hash({"code": code, "task": task_fingerprint})


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Cache:
    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.root = Path(root or default_cache_dir())
        self.enabled = enabled

    # ------------------------------------------------------------ generations
    def _gen_path(self, key: str) -> Path:
        return self.root / "generations" / key[:2] / f"{key}.json"

    def get_completion(self, key: str) -> Completion | None:
        path = self._gen_path(key)
        if not self.enabled or not path.exists():
            return None
        try:
            return Completion.model_validate_json(path.read_text())
        except ValueError:
            return None

    def put_completion(self, key: str, completion: Completion) -> None:
        if self.enabled and completion.error is None:  # failures are retried next time, never cached
            write_json_atomic(self._gen_path(key), completion.model_dump(mode="json"))

    # ------------------------------------------------------------ executions
    def execution_dir(self, key: str) -> Path:
        return self.root / "executions" / key[:2] / key

    def get_execution(self, key: str) -> dict[str, Any] | None:
        path = self.execution_dir(key) / "result.json"
        if not self.enabled or not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None

    def put_execution(self, key: str, result: dict[str, Any]) -> None:
        write_json_atomic(self.execution_dir(key) / "result.json", result)

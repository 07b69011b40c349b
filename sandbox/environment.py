"""The environment a sandboxed script sees: built from an allowlist, never inherited wholesale."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "TERM")
EVENTS_FILE = ".adaptbench/events.jsonl"
SITE_DIR = ".adaptbench/site"


def build_env(workdir: Path, threads: int = 2) -> dict[str, str]:
    """Everything a training script needs, pointed inside `workdir`; no host secret can leak through."""
    w = Path(workdir)
    home = w / ".home"
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    env.update({
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "USER": "sandbox", "LOGNAME": "sandbox",  # the account the sandbox's /etc/passwd gives the script
        "TMPDIR": str(w / ".tmp"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "PYTHONPATH": str(w / SITE_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "ADAPTBENCH_SMOKE": "1",
        "ADAPTBENCH_EVENTS": str(w / EVENTS_FILE),
        "MPLBACKEND": "Agg",
        "MLFLOW_TRACKING_URI": f"sqlite:///{w}/mlflow.db",
        "MLFLOW_REGISTRY_URI": f"sqlite:///{w}/mlflow.db",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(w),
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(w / ".dvc-site-cache"),
        "NNCF_CI": "1",
        "KERAS_BACKEND": "torch",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "GIT_AUTHOR_NAME": "adaptbench", "GIT_AUTHOR_EMAIL": "sandbox@adaptbench.invalid",
        "GIT_COMMITTER_NAME": "adaptbench", "GIT_COMMITTER_EMAIL": "sandbox@adaptbench.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads), "TORCH_NUM_THREADS": str(threads),
        "MALLOC_ARENA_MAX": "2",
        "TOKENIZERS_PARALLELISM": "false",
    })
    return env


def make_dirs(workdir: Path) -> None:
    for sub in (".home/.cache", ".home/.config", ".home/.local/share", ".tmp", SITE_DIR, ".dvc-site-cache"):
        (Path(workdir) / sub).mkdir(parents=True, exist_ok=True)

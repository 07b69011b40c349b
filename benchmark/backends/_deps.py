"""Optional heavy libraries: imported only when a backend that needs them is chosen."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from ..errors import MissingDependencyError


def require(module: str, purpose: str, package: str | None = None, extra: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingDependencyError naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the library is there but one of ITS imports is broken: show the real error
        raise MissingDependencyError(package or module, purpose, extra) from None


def force_hub_offline() -> None:
    """No model hub is reachable: make transformers/huggingface_hub fail fast instead of retrying the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported before us: it read the environment at import time
        constants.HF_HUB_OFFLINE = True

"""Probes: observers installed as a sitecustomize module in the sandbox. Each checker may contribute
Python source; it records facts with `_adaptbench_event(kind, **data)` into ADAPTBENCH_EVENTS (JSON lines)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable

from .environment import EVENTS_FILE, SITE_DIR

log = logging.getLogger(__name__)

PRELUDE = '''\
import json as _ab_json, os as _ab_os, time as _ab_time


def _adaptbench_event(kind, **data):
    path = _ab_os.environ.get("ADAPTBENCH_EVENTS")
    if not path:
        return
    data.update(kind=kind, t=_ab_time.time(), pid=_ab_os.getpid())
    try:
        with open(path, "a") as fh:
            fh.write(_ab_json.dumps(data, default=str) + "\\n")
    except OSError:
        pass


import sys as _ab_sys


class _AbImportHook:
    """Calls the registered callbacks with a module right after it is first imported."""

    callbacks = {}

    def find_spec(self, name, path=None, target=None):
        if name not in self.callbacks:
            return None
        _ab_sys.meta_path.remove(self)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            _ab_sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader, callbacks = spec.loader, self.callbacks[name]
        original = loader.exec_module

        def exec_module(module):
            original(module)
            for callback in callbacks:
                try:
                    callback(module)
                except Exception as exc:
                    _adaptbench_event("probe_error", module=name, error=repr(exc))

        loader.exec_module = exec_module
        return spec


_ab_hook = _AbImportHook()
_ab_sys.meta_path.insert(0, _ab_hook)


def _adaptbench_on_import(module_name, callback):
    """Run callback(module) once `module_name` is imported (at once if it already is)."""
    if module_name in _ab_sys.modules:
        callback(_ab_sys.modules[module_name])
    else:
        _AbImportHook.callbacks.setdefault(module_name, []).append(callback)


import builtins as _ab_builtins
_ab_builtins._adaptbench_event = _adaptbench_event
_ab_builtins._adaptbench_on_import = _adaptbench_on_import
'''


def write_sitecustomize(workdir: Path, probes: Iterable[tuple[str, str]]) -> None:
    """`probes` are (checker name, source) pairs; each runs guarded so a broken probe never breaks the script."""
    parts = [PRELUDE]
    for name, source in probes:
        parts.append(f"\n# --- probe: {name}\ntry:\n" + _indent(source) + f"\nexcept Exception as _ab_exc:\n"
                     f"    _adaptbench_event('probe_error', probe={name!r}, error=repr(_ab_exc))\n")
    site = Path(workdir) / SITE_DIR
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text("".join(parts))


def read_events(workdir: Path) -> list[dict[str, Any]]:
    path = Path(workdir) / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _indent(source: str) -> str:
    lines = source.strip("\n").splitlines() or ["pass"]
    return "\n".join("    " + line for line in lines)

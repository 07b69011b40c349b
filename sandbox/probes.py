"""Probes: observers installed as a sitecustomize module in the sandbox. Each checker may contribute Python
source; it records facts with `_adaptbench_event(kind, **data)`.

The event channel. A candidate shares its process with the probes and can read their source, so the log they
write is authenticated rather than trusted:

- before the run the harness writes a fresh random key to `.adaptbench/probe.key`; the sitecustomize reads it
  and deletes the file at interpreter start-up, before any of the script's code runs. The harness keeps its copy
  in memory only;
- every record is one line `<hmac-sha256 hex> <json>`, its JSON carrying a per-process nonce and a sequence
  number (1, 2, 3, ... in each process; a forked child starts its own sequence);
- after the run, with every process of it dead, the harness verifies the log (`seal_events`) and writes what
  passed to `.adaptbench/events.sealed.json`, replacing anything the script may have left there. Checkers only
  ever see sealed events.

What that guarantees: a record written to the log by anything other than the emitter of a process the harness
started (the script writing the file, a copy of the sitecustomize, a second interpreter, a replayed, reordered
or deleted line) fails verification, and the verdict says the log was tampered with. What it does not: code
running inside the candidate's own process can find the emitter (or its keyed state) in memory and call it,
so a deliberately hostile script can still make authentic-looking records. Checks that must hold against
that judge from real artifacts (stores, storages, saved models, remotes), not from events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .environment import EVENTS_FILE, SITE_DIR

log = logging.getLogger(__name__)

KEY_FILE = ".adaptbench/probe.key"
SEALED_FILE = ".adaptbench/events.sealed.json"
SEAL_FORMAT = 1
MAC_HEX = 64

PRELUDE = '''\
def _ab_make_emitter():
    """The one writer of the event log. Its key never leaves this closure: the file it came from is deleted."""
    import hashlib, hmac, json, os, threading, time

    path = os.environ.get("ADAPTBENCH_EVENTS")
    signer = None
    if path:
        key_file = os.path.join(os.path.dirname(path), "probe.key")
        try:
            with open(key_file, "rb") as fh:
                signer = hmac.new(fh.read(), digestmod=hashlib.sha256)
            os.unlink(key_file)
        except OSError:
            signer = None  # a process started after the first one (probe runs, subprocesses): no record
    state = {"seq": 0, "proc": os.urandom(8).hex(), "lock": threading.Lock()}

    def restart_in_child():
        state.update(seq=0, proc=os.urandom(8).hex(), lock=threading.Lock())

    os.register_at_fork(after_in_child=restart_in_child)

    def emit(kind, **data):
        if signer is None:
            return
        with state["lock"]:
            seq = state["seq"] + 1
            data.update(kind=kind, t=time.time(), pid=os.getpid(), proc=state["proc"], seq=seq)
            payload = json.dumps(data, default=str)
            mac = signer.copy()
            mac.update(payload.encode())
            line = (mac.hexdigest() + " " + payload + "\\n").encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
            except OSError:
                return  # the sequence number is only spent on a record that was written
            state["seq"] = seq

    emit.keyed = signer is not None  # True in the script's first interpreter only (and in what it forks)
    return emit


_adaptbench_event = _ab_make_emitter()
del _ab_make_emitter

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


def issue_key(workdir: Path) -> bytes:
    """A fresh key for one execution, handed to its first interpreter through a file that interpreter deletes."""
    key = secrets.token_bytes(32)
    path = Path(workdir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


# ---------------------------------------------------------------- after the run: verify, then seal


@dataclass
class EventLog:
    """The probe records that passed verification, and what did not."""

    events: list[dict[str, Any]] = field(default_factory=list)
    forged: int = 0  # lines whose MAC does not verify (or that are no record at all)
    replayed: int = 0  # authentic records seen twice or out of order
    missing: int = 0  # sequence numbers absent from a process's records
    sealed: bool = True  # False: the execution predates sealed logs (or the harness never sealed it)

    @property
    def tampered(self) -> bool:
        return bool(self.forged or self.replayed or self.missing)

    def tamper_summary(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.forged, "forged or garbled"), (self.replayed, "replayed"),
                                              (self.missing, "deleted")) if n]
        return ", ".join(parts)


def seal_events(workdir: Path, key: bytes) -> EventLog:
    """Verify the raw log with `key` and write the result to SEALED_FILE. Call only once every process of
    the run is dead: from then on nothing the script did can change the sealed file."""
    workdir = Path(workdir)
    result = verify_lines(_read_raw(workdir / EVENTS_FILE), key)
    _write_sealed(workdir, result)
    return result


def verify_lines(lines: Iterable[bytes], key: bytes) -> EventLog:
    result = EventLog()
    last_seq: dict[str, int] = {}
    signer = hmac.new(key, digestmod=hashlib.sha256)
    for raw in lines:
        event = _verified(raw, signer)
        if event is None:
            result.forged += 1
            continue
        proc, seq = str(event.get("proc")), event.get("seq")
        previous = last_seq.get(proc, 0)
        if not isinstance(seq, int) or seq <= previous:
            result.replayed += 1
            continue
        result.missing += seq - previous - 1
        last_seq[proc] = seq
        result.events.append(event)
    return result


def _verified(raw: bytes, signer: Any) -> dict[str, Any] | None:
    line = raw.rstrip(b"\n")
    if not line:
        return None
    mac, payload = line[:MAC_HEX], line[MAC_HEX + 1:]
    check = signer.copy()
    check.update(payload)
    if line[MAC_HEX:MAC_HEX + 1] != b" " or not hmac.compare_digest(check.hexdigest().encode(), mac):
        return None
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _read_raw(path: Path) -> list[bytes]:
    """The raw log's lines, never following a link the script may have put in its place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as fh:
        return [line for line in fh.read().splitlines(keepends=True) if line.strip()]


def _write_sealed(workdir: Path, result: EventLog) -> None:
    folder = workdir / Path(SEALED_FILE).parent
    if folder.is_symlink() or not folder.is_dir():  # the script replaced the harness's folder
        log.warning("%s is not the harness's folder any more: events not sealed", folder)
        result.forged += 1
        return
    path = workdir / SEALED_FILE
    if path.exists() or path.is_symlink():
        path.unlink()
    data = {"format": SEAL_FORMAT, "events": result.events, "forged": result.forged,
            "replayed": result.replayed, "missing": result.missing}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, default=str)


def read_events(workdir: Path) -> EventLog:
    """The sealed log of a finished execution (pure in the work dir, so stored executions can be re-judged)."""
    path = Path(workdir) / SEALED_FILE
    if not path.is_file() or path.is_symlink():
        return EventLog(sealed=False)
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError:
        return EventLog(sealed=False)
    if not isinstance(data, dict) or data.get("format") != SEAL_FORMAT:
        return EventLog(sealed=False)
    events = [e for e in data.get("events", []) if isinstance(e, dict)]
    return EventLog(events=events, forged=int(data.get("forged", 0)), replayed=int(data.get("replayed", 0)),
                    missing=int(data.get("missing", 0)))


def has_legacy_log(workdir: Path) -> bool:
    """An execution recorded before logs were sealed: its events cannot be trusted, so it must run again."""
    return (Path(workdir) / EVENTS_FILE).exists() and not (Path(workdir) / SEALED_FILE).exists()


def _indent(source: str) -> str:
    lines = source.strip("\n").splitlines() or ["pass"]
    return "\n".join("    " + line for line in lines)

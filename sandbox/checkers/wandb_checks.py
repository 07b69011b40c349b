"""Weights & Biases experiment tracking: judged from the offline run the script left under `<workdir>/wandb/`.

The sandbox sets WANDB_MODE=offline and WANDB_DIR=<workdir>, so a tracked script leaves
`wandb/offline-run-*/run-<id>.wandb`, a transaction log of protobuf records (wandb 0.31 writes no
wandb-summary.json or config.yaml offline). It is read with `wandb leet inspect` in a subprocess; if that
tool is missing, hangs or fails, the log is decoded here directly (`read_records`).
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..environment import build_env
from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

INSPECT_TIMEOUT_S = 60.0
RUN_GLOB = "wandb/offline-run-*"


class WandbArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_history_rows: int = Field(2, ge=1)  # rows written by wandb.log (or a logger calling it)
    min_config_keys: int = Field(1, ge=0)  # hyperparameters recorded in the run's config
    require_finished: bool = True  # the run must end with exit code 0 (not crashed / marked failed)


@dataclass
class RunInfo:
    """What one offline run recorded, whichever reader produced it."""

    path: Path
    history_rows: int = 0
    metrics: set[str] = field(default_factory=set)  # user keys seen in history rows
    config: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None  # None: the run never wrote an exit record
    reader: str = "leet"

    def summary(self) -> dict[str, Any]:
        return {"run": self.path.name, "history_rows": self.history_rows, "metrics": sorted(self.metrics)[:20],
                "config_keys": sorted(self.config)[:20], "exit_code": self.exit_code, "reader": self.reader}


@checker("wandb_tracking")
class WandbTrackingChecker(Checker):
    Args = WandbArgs
    version = 1

    def check(self, ctx: CheckContext):
        runs = [read_run(d, ctx.workdir) for d in find_run_dirs(ctx.workdir)]
        if not runs:
            return self.fail("wandb.no_run", "no W&B run was recorded (no wandb/offline-run-*/ with a .wandb log): "
                                             "was wandb.init() called, and without a hard-coded mode or dir?")
        best = max(runs, key=lambda r: (r.history_rows, len(r.config)))
        details = {"runs": [r.summary() for r in runs]}
        if best.reader == "unreadable":
            return self.fail("wandb.no_history", f"the run's log {best.path.name} cannot be read", **details)
        if best.history_rows < self.args.min_history_rows:
            return self.fail("wandb.no_history", f"the run logged {best.history_rows} history row(s); at least "
                             f"{self.args.min_history_rows} expected (metrics logged with wandb.log during training)",
                             **details)
        if len(best.config) < self.args.min_config_keys:
            return self.fail("wandb.no_config", f"the run's config holds {len(best.config)} key(s); at least "
                             f"{self.args.min_config_keys} expected (hyperparameters via wandb.init(config=...))",
                             **details)
        if self.args.require_finished and best.exit_code != 0:
            ended = "never finished" if best.exit_code is None else f"ended with exit code {best.exit_code}"
            return self.fail("wandb.run_failed", f"the W&B run {ended}", **details)
        return self.ok(f"W&B run {best.path.name}: {best.history_rows} history rows "
                       f"({', '.join(sorted(best.metrics)[:6])}), {len(best.config)} config keys", **details)


def find_run_dirs(workdir: Path) -> list[Path]:
    return sorted(d for d in Path(workdir).glob(RUN_GLOB) if d.is_dir() and any(d.glob("*.wandb")))


def read_run(rundir: Path, workdir: Path) -> RunInfo:
    try:
        return read_run_with_leet(rundir, workdir)
    except (OSError, subprocess.SubprocessError, ValueError, TypeError) as exc:
        log.warning("wandb leet inspect failed on %s (%s); decoding the .wandb log directly", rundir, exc)
    try:
        return read_run_from_records(rundir)
    except (OSError, ValueError) as exc:  # a log wandb did not write
        log.warning("cannot decode the W&B log in %s: %s", rundir, exc)
        return RunInfo(path=rundir, reader="unreadable")


# ---------------------------------------------------------------- reader 1: `wandb leet inspect`


def wandb_executable() -> str:
    beside = Path(sys.executable).parent / "wandb"
    return str(beside) if beside.exists() else "wandb"


def _leet(rundir: Path, workdir: Path, *flags: str) -> str:
    argv = [wandb_executable(), "leet", "inspect", *flags, "--json", str(rundir)]
    done = subprocess.run(argv, cwd=workdir, env=build_env(workdir), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=INSPECT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise ValueError(f"exit {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout.decode(errors="replace")


def read_run_with_leet(rundir: Path, workdir: Path) -> RunInfo:
    summary = json.loads(_leet(rundir, workdir, "--summary"))  # ValueError (JSONDecodeError) on garbage
    if not isinstance(summary, dict):
        raise TypeError("leet --summary did not print a JSON object")
    info = RunInfo(path=rundir, config=_user_keys(summary.get("config") or {}), exit_code=summary.get("exit_code"))
    for line in _leet(rundir, workdir).splitlines():
        record = _json_or_none(line)
        if record and record.get("type") == "history":
            info.history_rows += 1
            info.metrics.update(_metric_names(record.get("history", {}).get("item") or {}))
    return info


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _user_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop wandb's own bookkeeping (`_wandb`, `_step`, `_runtime`, `_timestamp`)."""
    return {k: v for k, v in mapping.items() if not str(k).startswith("_")}


def _metric_names(keys: Any) -> set[str]:
    """History keys as logged: a media value (`samples._type`, `samples.path`...) counts once, as `samples`."""
    return {str(k).split(".", 1)[0] for k in keys if not str(k).startswith("_")}


# ---------------------------------------------------------------- reader 2: the log itself

LOG_HEADER = struct.Struct("<4sHB")  # b":W&B", 0xBEE1, version
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_log_payloads(data: bytes) -> Iterator[bytes]:
    """The leveldb-style log wandb writes: 32 KiB blocks of chunks, each FULL or FIRST/MIDDLE.../LAST."""
    if len(data) < LOG_HEADER.size or LOG_HEADER.unpack_from(data)[:2] != (b":W&B", 0xBEE1):
        raise ValueError("not a W&B transaction log (bad header)")
    pos, pending = LOG_HEADER.size, b""
    while pos + RECORD_HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER.size:  # block trailer: padding
            pos += left
            continue
        _crc, length, kind = RECORD_HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0:
            break  # zero fill at the end of a log still being written
        chunk = data[pos + RECORD_HEADER.size: pos + RECORD_HEADER.size + length]
        pos += RECORD_HEADER.size + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            yield pending
            pending = b""


def read_records(path: Path) -> Iterator[Any]:
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in iter_log_payloads(Path(path).read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except DecodeError as exc:
            raise ValueError(f"{Path(path).name}: a record is not a wandb Record: {exc}") from None
        yield record


def read_run_from_records(rundir: Path) -> RunInfo:
    info = RunInfo(path=rundir, reader="records")
    for logfile in sorted(rundir.glob("*.wandb")):
        for record in read_records(logfile):
            _apply_record(info, record)
    return info


def _apply_record(info: RunInfo, record: Any) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "history":
        info.history_rows += 1
        info.metrics.update(_metric_names(_item_key(i) for i in record.history.item))
    elif kind in ("run", "config"):
        items = record.run.config.update if kind == "run" else record.config.update
        for item in items:
            key = _item_key(item)
            if not key.startswith("_"):
                info.config[key] = _json_or_raw(item.value_json)
    elif kind == "exit":
        info.exit_code = record.exit.exit_code


def _item_key(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def _json_or_raw(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text

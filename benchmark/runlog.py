"""The run folder: `run.json` (the RunSpec) and `samples.jsonl` (append-only SampleRecords).
A killed run leaves at most one partial last line; it is cut off on resume, so nothing is lost or duplicated."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .errors import AdaptbenchError
from .types import READABLE_SCHEMA_VERSIONS, RunSpec, SampleRecord, Status

log = logging.getLogger(__name__)
SPEC_FILE, SAMPLES_FILE = "run.json", "samples.jsonl"
MATRIX_FIELDS = ("tasks", "models", "temperatures", "settings", "retrievals", "n", "model_options", "generation", "loop")


class RunLog:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.samples_path = self.dir / SAMPLES_FILE
        self._fh = None

    def start(self, spec: RunSpec) -> None:
        """Create the run folder, or check that an existing one was asked for the same matrix."""
        self.dir.mkdir(parents=True, exist_ok=True)
        spec_path = self.dir / SPEC_FILE
        if spec_path.exists():
            old = RunSpec.model_validate_json(spec_path.read_text())
            changed = [f for f in MATRIX_FIELDS if getattr(old, f) != getattr(spec, f)]
            if changed:
                raise AdaptbenchError(f"run folder {self.dir} holds a run with a different {', '.join(changed)}",
                                      "pass another --run-id (or --fresh) to start a new run")
        spec_path.write_text(spec.model_dump_json(indent=2))
        self._repair_tail()

    def records(self) -> list[SampleRecord]:
        """Every complete record, the last one per sample key winning (an errored sample may be redone)."""
        return list(read_samples(self.samples_path).values())

    def finished_keys(self) -> set[str]:
        return {k for k, r in read_samples(self.samples_path).items() if r.verdict.status is not Status.error}

    def append(self, record: SampleRecord) -> None:
        if self._fh is None:
            self._fh = open(self.samples_path, "a")
        self._fh.write(record.model_dump_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    def _repair_tail(self) -> None:
        if not self.samples_path.exists():
            return
        data = self.samples_path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            log.warning("%s: dropping a partial last line left by an interrupted run", self.samples_path)
            with open(self.samples_path, "r+b") as fh:
                fh.truncate(cut)


def read_samples(path: Path) -> dict[str, SampleRecord]:
    out: dict[str, SampleRecord] = {}
    if not Path(path).exists():
        return out
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: skipping an unreadable (partial) line", path, lineno)
            continue
        if raw.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
            raise AdaptbenchError(f"{path}:{lineno}: schema_version {raw.get('schema_version')} is not one this adaptbench reads {READABLE_SCHEMA_VERSIONS}",
                                  "this run was written by another adaptbench version; re-run it or use that version")
        record = SampleRecord.model_validate(raw)
        out[record.key.id()] = record
    return out

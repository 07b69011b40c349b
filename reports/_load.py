"""Reading a run folder: `run.json` (RunSpec) and `samples.jsonl` (one SampleRecord per line)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from benchmark.errors import AdaptbenchError
from benchmark.types import (
    READABLE_SCHEMA_VERSIONS,
    RunSpec,
    SampleRecord,
)

log = logging.getLogger(__name__)

SPEC_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"


class ReportError(AdaptbenchError):
    """A run folder cannot be read or reported on."""


@dataclass(frozen=True)
class Run:
    """A loaded run: what it was asked for and every sample it recorded (last record per sample key)."""

    path: Path
    spec: RunSpec
    records: list[SampleRecord] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.spec.run_id


def load_run(run_dir: str | Path) -> Run:
    """Load `run_dir/run.json` and `run_dir/samples.jsonl`.

    A partial last line (a killed run) is dropped with a warning; any other unreadable line, or a record written
    with another schema version, raises ReportError naming the file and line."""
    path = Path(run_dir)
    spec = _load_spec(path / SPEC_FILE)
    records = _load_samples(path / SAMPLES_FILE)
    log.info("loaded run %s: %d samples", spec.run_id, len(records))
    return Run(path=path, spec=spec, records=records)


def _load_spec(spec_path: Path) -> RunSpec:
    if not spec_path.is_file():
        raise ReportError(f"{spec_path}: no run spec here", "pass the folder of a run (runs/<run-id>/) holding run.json")
    try:
        raw = json.loads(spec_path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{spec_path}: not valid JSON ({exc})", "the run spec is damaged; re-create the run") from None
    _check_schema(raw, f"{spec_path}")
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        raise ReportError(f"{spec_path}: not a valid RunSpec: {_first_error(exc)}") from None


def _load_samples(samples_path: Path) -> list[SampleRecord]:
    if not samples_path.is_file():
        log.warning("%s: no samples recorded yet", samples_path)
        return []
    lines = samples_path.read_text().splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    by_key: dict[str, SampleRecord] = {}
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        raw = _parse_line(line, samples_path, index + 1, is_last=index == last)
        if raw is None:
            continue
        record = _validate_record(raw, samples_path, index + 1)
        key = record.key.id()
        if key in by_key:
            log.debug("%s:%d: sample %s recorded again; keeping the later record", samples_path, index + 1, key)
        by_key[key] = record
    return list(by_key.values())


def _parse_line(line: str, path: Path, lineno: int, is_last: bool) -> dict | None:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        if is_last:
            log.warning("%s:%d: dropping a truncated last line (the run was interrupted)", path, lineno)
            return None
        raise ReportError(f"{path}:{lineno}: not valid JSON ({exc.msg})",
                          "only the last line may be partial; repair or remove the damaged line") from None
    if not isinstance(raw, dict):
        raise ReportError(f"{path}:{lineno}: expected a JSON object per line, got {type(raw).__name__}")
    _check_schema(raw, f"{path}:{lineno}")
    return raw


def _validate_record(raw: dict, path: Path, lineno: int) -> SampleRecord:
    try:
        return SampleRecord.model_validate(raw)
    except ValidationError as exc:
        raise ReportError(f"{path}:{lineno}: not a valid SampleRecord: {_first_error(exc)}") from None


def _check_schema(raw: dict, where: str) -> None:
    version = raw.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ReportError(f"{where}: schema_version {version!r} is not supported (this adaptbench reads "
                          f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})",
                          "report it with the adaptbench version that wrote the run, or re-run the benchmark")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"

from __future__ import annotations

import json
import logging
import shutil

import pytest

from reports import ReportError, load_run

from .factory import make_records, make_spec, write_run


@pytest.fixture
def run_copy(golden_run, tmp_path):
    return shutil.copytree(golden_run, tmp_path / golden_run.name)


def test_loads_spec_and_every_record(golden_run):
    run = load_run(golden_run)
    assert run.run_id == "golden-run"
    assert len(run.records) == len(make_records())


def test_truncated_last_line_is_dropped_with_a_warning(run_copy, caplog):
    samples = run_copy / "samples.jsonl"
    data = samples.read_text()
    samples.write_text(data + data.splitlines()[0][:57])  # a killed run: half a line, no newline
    with caplog.at_level(logging.WARNING, logger="reports"):
        run = load_run(run_copy)
    assert len(run.records) == len(make_records())
    assert "truncated last line" in caplog.text


def test_damaged_middle_line_is_an_error_naming_the_line(run_copy):
    samples = run_copy / "samples.jsonl"
    lines = samples.read_text().splitlines()
    lines[4] = lines[4][:30]
    samples.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match=r"samples\.jsonl:5: not valid JSON"):
        load_run(run_copy)


def test_unknown_schema_version_is_rejected_clearly(run_copy):
    samples = run_copy / "samples.jsonl"
    lines = samples.read_text().splitlines()
    raw = json.loads(lines[0])
    raw["schema_version"] = 99
    samples.write_text("\n".join([json.dumps(raw)] + lines[1:]) + "\n")
    with pytest.raises(ReportError, match=r"samples\.jsonl:1: schema_version 99 is not supported"):
        load_run(run_copy)


def test_unknown_schema_version_in_run_json(run_copy):
    spec = json.loads((run_copy / "run.json").read_text())
    spec["schema_version"] = 3
    (run_copy / "run.json").write_text(json.dumps(spec))
    with pytest.raises(ReportError, match="run.json: schema_version 3"):
        load_run(run_copy)


def test_missing_run_json_says_what_to_pass(tmp_path):
    with pytest.raises(ReportError, match="no run spec") as info:
        load_run(tmp_path)
    assert "runs/<run-id>/" in str(info.value)


def test_a_resampled_key_keeps_the_later_record(tmp_path):
    records = make_records()[:3]
    redone = records[0].model_copy(update={"created_at": "later"})
    run = load_run(write_run(tmp_path / "r", records + [redone], make_spec("r")))
    assert len(run.records) == 3
    assert {r.created_at for r in run.records if r.key == records[0].key} == {"later"}

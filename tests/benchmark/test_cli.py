"""The CLI as a user meets it: list/show/check/evaluate/validate and one-line errors for bad input."""

import json

import pytest

from benchmark.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_counts_tasks(capsys, tasks_dir):
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "list")
    assert code == 0 and "synthetic-0" in out and "2 tasks" in out and "experiment_tracking: 2" in out


def test_show_unknown_task_is_one_line_error(capsys, tasks_dir):
    code, _, err = run(capsys, "--tasks-dir", str(tasks_dir), "show", "synthetic-9")
    assert code == 2 and "error: unknown task 'synthetic-9'" in err and "did you mean" in err


def test_check_grades_a_given_script(capsys, tasks_dir, tmp_path):
    good = tmp_path / "good.py"
    good.write_text("open('out.txt', 'w').write('x')\n")
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "check", "synthetic-0", str(good),
                       "--workdir", str(tmp_path / "w1"))
    assert code == 0 and "PASS" in out
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "check", "synthetic-0", str(bad),
                       "--workdir", str(tmp_path / "w2"))
    assert code == 1 and "runtime_error" in out and "boom" in out


def test_evaluate_external_predictions(capsys, tasks_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path / "cache"))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps(r) for r in [
        {"task_id": "synthetic-0", "code": "open('out.txt', 'w').write('x')\n"},
        {"task_id": "synthetic-1", "completion": "Sure! Here is the code:\n```python\nprint('no output file')\n```"},
        {"task_id": "synthetic-1", "completion": "I cannot help with that."},
    ]))
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "evaluate", str(preds), "--workers", "1")
    assert code == 0 and "1/3 passed" in out
    results = [json.loads(l) for l in (tmp_path / "preds.results.jsonl").read_text().splitlines()]
    assert [r["verdict"]["code"] for r in results] == ["ok", "behaviour.missing_output", "extract.no_code"]


@pytest.mark.parametrize("line,message", [
    ("not json", "not JSON"),
    ('{"code": "x"}', "needs 'task_id'"),
])
def test_evaluate_rejects_malformed_lines(capsys, tasks_dir, tmp_path, line, message):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(line + "\n")
    code, _, err = run(capsys, "--tasks-dir", str(tasks_dir), "evaluate", str(preds))
    assert code == 2 and message in err and "preds.jsonl:1" in err


def test_validate_reports_each_task(capsys, tasks_dir):
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "validate", "--workers", "2")
    assert code == 0 and "2/2 tasks valid" in out


def test_validate_fails_when_input_passes(capsys, tasks_dir):
    (tasks_dir / "synthetic-0" / "input.py").write_text("open('out.txt', 'w').write('x')\n")
    code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "validate", "synthetic-0")
    assert code == 1 and "untouched input passes" in out


def test_bad_model_option_is_one_line_error(capsys, tasks_dir, tmp_path):
    code, _, err = run(capsys, "--tasks-dir", str(tasks_dir), "run", "--task", "synthetic-0", "--model", "oracle",
                       "-M", "colour=red", "--runs-dir", str(tmp_path))
    assert code == 2 and "option 'colour'" in err


def test_unknown_provider_is_one_line_error(capsys, tasks_dir, tmp_path):
    code, _, err = run(capsys, "--tasks-dir", str(tasks_dir), "run", "--task", "synthetic-0", "--model", "opnai/gpt",
                       "--runs-dir", str(tmp_path))
    assert code == 2 and "unknown model provider 'opnai'" in err and "openai" in err


def test_validate_keep_twice_into_the_same_folder(capsys, tasks_dir, tmp_path):
    keep = tmp_path / "keep"
    for _ in range(2):
        code, out, _ = run(capsys, "--tasks-dir", str(tasks_dir), "validate", "synthetic-0", "--keep", str(keep))
        assert code == 0 and "1/1 tasks valid" in out
    runs = list(keep.iterdir())
    assert len(runs) == 2 and all((r / "synthetic-0" / "reference" / "out.txt").exists() for r in runs)

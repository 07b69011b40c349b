"""The adaptation loop on fast synthetic tasks with scripted mock models: repair rounds on feedback, cascades,
costs and budgets, and resuming in the middle of a loop."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from benchmark.backends.mock import MockBackend
from benchmark.cache import Cache
from benchmark.matrix import make_spec
from benchmark.runner import Runner
from benchmark.tasks import load_tasks
from benchmark.types import Budget, Completion, LoopSpec, RuntimeConfig, Setting

GOOD = "```python\nopen('out.txt', 'w').write('ok')\n```"
BAD = "```python\nprint('trained')\n```"
FEEDBACK_MARK = "I ran the script"


def _fixes_after_feedback(request, index):
    return GOOD if FEEDBACK_MARK in request.prompt.messages[-1]["content"] else BAD


def _runner(tasks_dir, tmp_path, backends, models=("mock",), run_id="loop", n=2, temperature=1.0,
            task_ids=("synthetic-0",), loop=LoopSpec(rounds=2), budget=Budget()):
    tasks = load_tasks(list(task_ids), tasks_dir=tasks_dir)
    spec = make_spec(tasks, list(models), [temperature], [Setting.zero_shot], n, run_id=run_id, loop=loop,
                     budget=budget)
    return Runner(spec, tasks, tmp_path / "runs" / run_id, Cache(tmp_path / "cache"),
                  RuntimeConfig(workers=1, progress=False), backends=backends)


def test_a_model_that_fixes_its_answer_on_feedback_passes_in_round_two(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=_fixes_after_feedback)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}).run()
    assert [r.verdict.code for r in records] == ["ok", "ok"]
    for record in records:
        first, second = record.attempts
        assert (first.round, first.verdict.code, first.feedback) == (1, "behaviour.missing_output", None)
        assert (second.round, second.verdict.code) == (2, "ok")
        assert "out.txt" in second.feedback  # the verdict's reason names the missing file
        assert record.completion == second.completion and record.final_model == "mock"
    repair = [c for c in mock.calls if len(c.prompt.messages) == 4]
    assert len(repair) == 2
    assert repair[0].prompt.messages[2] == {"role": "assistant", "content": BAD}
    assert repair[0].prompt.messages[:2] == mock.calls[0].prompt.messages  # the first prompt is the prefix


def test_one_round_is_one_shot(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=_fixes_after_feedback)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}, loop=LoopSpec(rounds=1)).run()
    assert [len(r.attempts) for r in records] == [1, 1]
    assert {r.verdict.code for r in records} == {"behaviour.missing_output"}
    assert len(mock.calls) == 1


@pytest.mark.parametrize("kind, shows_output, shows_reason", [("none", False, False), ("output", True, False),
                                                              ("verdict", True, True)])
def test_feedback_kinds_show_what_they_promise(tasks_dir, tmp_path, kind, shows_output, shows_reason):
    mock = MockBackend.scripted(responder=lambda request, i: BAD)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}, n=1, loop=LoopSpec(rounds=2, feedback=kind)).run()
    feedback = records[0].attempts[1].feedback
    assert ("trained" in feedback) is shows_output  # the script's own output
    assert ("out.txt" in feedback) is shows_reason  # the checker's reason
    assert str(tmp_path) not in feedback  # no harness paths


def test_identical_greedy_repairs_ask_the_model_once(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=_fixes_after_feedback)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}, n=3, temperature=0.0).run()
    assert [r.verdict.code for r in records] == ["ok"] * 3
    assert len(mock.calls) == 2  # one call for the 3 greedy first attempts, one for their identical repairs


def test_a_repair_that_returns_the_same_script_is_told_so_and_a_greedy_model_gets_a_new_prompt(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=lambda request, i: BAD)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}, n=1, temperature=0.0, loop=LoopSpec(rounds=3)).run()
    first, second, third = records[0].attempts
    assert "same script you returned before" not in second.feedback  # round 1's answer was new
    assert "same script you returned before" in third.feedback  # round 2 changed nothing
    assert len(mock.calls) == 3  # so the third greedy request differs from the second and is asked again


def test_a_cascade_escalates_only_after_a_failure(tasks_dir, tmp_path):
    weak = MockBackend.scripted(responder=lambda request, i: BAD, name="weak")
    strong = MockBackend.scripted(responder=lambda request, i: GOOD, name="strong")
    backends = {"weak": weak, "strong": strong}
    records = _runner(tasks_dir, tmp_path, backends, models=("weak>strong",), loop=LoopSpec(rounds=1)).run()
    assert [[a.model for a in r.attempts] for r in records] == [["weak", "strong"]] * 2
    assert {r.final_model for r in records} == {"strong"} and {r.verdict.code for r in records} == {"ok"}
    assert all(len(c.prompt.messages) == 4 for c in strong.calls)  # it saw the weak model's failure

    weak.calls.clear()
    strong.calls.clear()
    records = _runner(tasks_dir, tmp_path, backends, models=("strong>weak",), run_id="s>w",
                      loop=LoopSpec(rounds=1)).run()
    assert [[a.model for a in r.attempts] for r in records] == [["strong"]] * 2
    assert weak.calls == []


def test_a_cascade_without_feedback_starts_the_next_model_fresh(tasks_dir, tmp_path):
    weak = MockBackend.scripted(responder=lambda request, i: BAD, name="weak")
    strong = MockBackend.scripted(responder=lambda request, i: GOOD, name="strong")
    _runner(tasks_dir, tmp_path, {"weak": weak, "strong": strong}, models=("weak>strong",),
            loop=LoopSpec(rounds=2, cascade_feedback=False)).run()
    assert len(weak.calls) == 3  # one batch of 2 first attempts, then 2 repairs (distinct samples at T=1)
    assert [len(c.prompt.messages) for c in strong.calls] == [2, 2]


def _timed(text, seconds):
    return Completion(text=text, latency_s=seconds, model="mock", finish_reason="stop",
                      usage={"prompt_tokens": 1000, "completion_tokens": 200})


def test_costs_add_up_per_attempt_sample_and_run(tasks_dir, tmp_path, monkeypatch):
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."api"]\ninput_per_mtok = 2.0\noutput_per_mtok = 10.0\n')
    monkeypatch.setenv("ADAPTBENCH_PRICES", str(prices))
    local = MockBackend.scripted(responder=lambda request, i: _timed(BAD, 9.0), name="local")
    api = MockBackend.scripted(responder=lambda request, i: _timed(GOOD, 1.0), name="api")
    budget = Budget(compute_usd_per_hour=0.4)
    records = _runner(tasks_dir, tmp_path, {"local": local, "api": api}, models=("local>api",),
                      loop=LoopSpec(rounds=1), budget=budget).run()
    for record in records:
        local_attempt, api_attempt = record.attempts
        assert local_attempt.cost.compute_s == 9.0 and local_attempt.cost.api_usd == 0.0
        assert local_attempt.cost.compute_usd == pytest.approx(9.0 * 0.4 / 3600, rel=0, abs=1e-15)
        assert api_attempt.cost.api_usd == pytest.approx((1000 * 2.0 + 200 * 10.0) / 1e6, rel=0, abs=1e-15)
        assert api_attempt.cost.compute_s == 0.0
        assert record.cost == local_attempt.cost + api_attempt.cost
        assert record.cost.usd == local_attempt.cost.usd + api_attempt.cost.usd


def test_a_sample_budget_stops_escalation_and_a_raised_budget_continues(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=lambda request, i: _timed(BAD, 36.0))  # $0.001 per attempt at $0.10/h
    loop = LoopSpec(rounds=3)
    records = _runner(tasks_dir, tmp_path, {"mock": mock}, loop=loop, budget=Budget(max_sample_cost=0.0015)).run()
    assert [(r.verdict.code, len(r.attempts)) for r in records] == [("budget_exhausted", 2)] * 2
    assert all(r.verdict.category.value == "budget" and "behaviour.missing_output" in r.verdict.reason
               for r in records)
    calls_before = len(mock.calls)

    same = _runner(tasks_dir, tmp_path, {"mock": mock}, loop=loop, budget=Budget(max_sample_cost=0.0015)).run()
    assert len(mock.calls) == calls_before and len(same) == 2  # an unchanged budget redoes nothing

    raised = _runner(tasks_dir, tmp_path, {"mock": mock}, loop=loop, budget=Budget(max_sample_cost=1.0)).run()
    assert [(r.verdict.code, len(r.attempts)) for r in raised] == [("behaviour.missing_output", 3)] * 2
    assert len(mock.calls) == calls_before + 2  # only the third rounds were asked for


def test_a_run_budget_stops_cleanly_and_a_raised_budget_resumes_mid_loop(tasks_dir, tmp_path):
    mock = MockBackend.scripted(responder=lambda request, i: _timed(
        GOOD if FEEDBACK_MARK in request.prompt.messages[-1]["content"] else BAD, 36.0))
    tasks = ("synthetic-0", "synthetic-1")
    first = _runner(tasks_dir, tmp_path, {"mock": mock}, task_ids=tasks, budget=Budget(max_run_cost=0.0005))
    records = first.run()
    assert first.stopped_by_budget and len(records) < 4
    calls_before, executed_before = len(mock.calls), first.stats["executed"]

    second = _runner(tasks_dir, tmp_path, {"mock": mock}, task_ids=tasks, budget=Budget(max_run_cost=10.0))
    records = second.run()
    assert sorted(r.verdict.code for r in records) == ["ok"] * 4
    assert all(len(r.attempts) == 2 for r in records)
    asked = [c for c in mock.calls if len(c.prompt.messages) == 2]
    assert sum(c.n for c in asked) == 4  # each first attempt was asked for once, over both runs
    assert len(mock.calls) - calls_before == 4  # the second run asked only for the 4 repairs
    assert second.stats["executed"] + executed_before <= 4  # BAD and GOOD per task, each executed once


def _cli(tasks_dir, tmp_path, run_id, rules):
    return [sys.executable, "-m", "benchmark", "--tasks-dir", str(tasks_dir), "benchmark", "--models", "mock",
            "-M", f"rules_file={rules}", "--temperatures", "0,1", "-n", "2", "--rounds", "2", "--runs-dir",
            str(tmp_path / "runs"), "--run-id", run_id, "--cache-dir", str(tmp_path / f"cache-{run_id}"),
            "--workers", "1", "--no-progress"]


def _outcomes(run_dir):
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return sorted(json.dumps([json.loads(line)["key"], [(a["round"], a["verdict"]["code"], a["feedback"])
                                                         for a in json.loads(line)["attempts"]]], sort_keys=True)
                  for line in lines)


def test_a_kill_mid_loop_then_restart_gives_the_uninterrupted_records(tasks_dir, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"when": FEEDBACK_MARK, "answer": GOOD}, {"answer": BAD}]))
    whole = subprocess.run(_cli(tasks_dir, tmp_path, "whole", rules), check=True, capture_output=True, text=True,
                           timeout=300)
    expected = _outcomes(tmp_path / "runs" / "whole")

    proc = subprocess.Popen(_cli(tasks_dir, tmp_path, "killed", rules), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    samples = tmp_path / "runs" / "killed" / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or not samples.read_text().splitlines()):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= len(samples.read_text().splitlines()) < len(expected), "the kill must land mid-run"

    done = subprocess.run(_cli(tasks_dir, tmp_path, "killed", rules), check=True, capture_output=True, text=True,
                          timeout=300)
    assert _outcomes(tmp_path / "runs" / "killed") == expected
    assert _generated(done.stdout) < _generated(whole.stdout)  # what was generated before the kill is not asked again


def _generated(stdout: str) -> int:
    return int(re.search(r"(\d+) generated", stdout).group(1))

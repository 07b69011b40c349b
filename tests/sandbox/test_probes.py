"""The probes' event channel: records are authenticated with a key only the harness and the first interpreter of
the run hold, sealed by the harness once every process of the run is dead, and a log the script tampered with
fails the verdict. Hostile scripts really run in the sandbox and try to forge, replay, delete and plant records."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from benchmark.tasks import load_task
from sandbox.environment import EVENTS_FILE
from sandbox.grading import Graded, grade, judge, needs_fresh_run
from sandbox.probes import KEY_FILE, SEALED_FILE, read_events, verify_lines

TASKS = Path(__file__).resolve().parents[2] / "tasks"
TASK = "optuna-hpo-sklearn-tree"  # fast, and its checker trusts probe records the most


def run(code: str, root: Path) -> Graded:
    return grade(load_task(TASKS / TASK), code, root / "work")


def signed(key: bytes, payload: dict) -> bytes:
    text = json.dumps(payload)
    return (hmac.new(key, text.encode(), hashlib.sha256).hexdigest() + " " + text + "\n").encode()


# ---------------------------------------------------------------- verification, unit level


def test_only_records_signed_with_the_key_in_sequence_are_kept():
    key = b"k" * 32
    good = [signed(key, {"kind": "fit", "proc": "a", "seq": n}) for n in (1, 2, 3)]
    log = verify_lines(good, key)
    assert [e["seq"] for e in log.events] == [1, 2, 3] and not log.tampered
    assert verify_lines([signed(b"x" * 32, {"kind": "fit", "proc": "a", "seq": 1})], key).forged == 1
    assert verify_lines([b'{"kind": "fit"}\n'], key).forged == 1  # the unsigned format of old
    assert verify_lines(good + [good[1]], key).replayed == 1
    assert verify_lines([good[0], good[2]], key).missing == 1
    forked = [signed(key, {"kind": "x", "proc": "b", "seq": 1}), *good]  # each process counts on its own
    assert not verify_lines(forked, key).tampered


def test_an_execution_from_before_sealed_logs_must_run_again(tmp_path):
    (tmp_path / ".adaptbench").mkdir()
    (tmp_path / EVENTS_FILE).write_text('{"kind": "fit"}\n')
    assert not read_events(tmp_path).sealed
    task = load_task(TASKS / TASK)
    from benchmark.types import ExecutionResult
    execution = ExecutionResult(exit_code=0, timed_out=False, duration_s=1.0, stdout_tail="", stderr_tail="",
                                isolation="plain", workdir=tmp_path)
    assert needs_fresh_run(execution)
    verdict = judge(task, execution)
    assert verdict.code == "harness_error" and "run it again" in verdict.reason


# ---------------------------------------------------------------- hostile scripts, in the sandbox

STUDY = '''\
import json, os, pickle, subprocess, sys
import numpy as np
import optuna
from sklearn.tree import DecisionTreeRegressor

rng = np.random.RandomState(0)
X = np.sort(5 * rng.rand(200, 1), axis=0)
y = np.sin(X).ravel()


def objective(trial):
    model = DecisionTreeRegressor(max_depth=trial.suggest_int("max_depth", 1, 8), random_state=0).fit(X, y)
    return float(np.mean((model.predict(X) - y) ** 2))


EVENTS = os.environ["ADAPTBENCH_EVENTS"]
'''
OUTPUTS = '''
with open("model.pkl", "wb") as fh:
    pickle.dump(model, fh)
np.savetxt("predictions.csv", model.predict(X), delimiter=",")
'''
FAKE_RECORDS = '''
source = open(os.path.join(os.path.dirname(EVENTS), "site", "sitecustomize.py")).read()  # it may read the probes
fake = [{"kind": "optuna_study", "study": "s", "storage": None, "injected": False},
        {"kind": "optuna_optimize_end", "study": "s", "n_trials": 5, "n_complete": 5, "n_complete_with_params": 5,
         "t": 1.0, "pid": os.getpid()},
        {"kind": "fit", "framework": "sklearn", "target": "DecisionTreeRegressor", "in_study": False, "start": 2.0}]
with open(EVENTS, "a") as fh:
    for n, record in enumerate(fake, start=1):
        record.update(proc="f00d", seq=n)
        fh.write(json.dumps(record) + "\\n")  # the unsigned format
        fh.write("0" * 64 + " " + json.dumps(record) + "\\n")  # a made-up signature
model = DecisionTreeRegressor(max_depth=3).fit(X, y)
'''
SECOND_INTERPRETER = '''
code = ("import builtins\\n"
        "builtins._adaptbench_event('optuna_optimize_end', study='s', n_trials=5, n_complete=5, "
        "n_complete_with_params=5)\\n")
subprocess.run([sys.executable, "-c", code], check=True)  # the sitecustomize loads there too, without the key
model = DecisionTreeRegressor(max_depth=3).fit(X, y)
'''
REPLAY = '''
study = optuna.create_study()
study.optimize(objective, n_trials=3)
model = DecisionTreeRegressor(max_depth=study.best_params["max_depth"]).fit(X, y)
lines = open(EVENTS).readlines()
with open(EVENTS, "a") as fh:
    fh.write(lines[-1])
'''
DELETE = '''
study = optuna.create_study()
study.optimize(objective, n_trials=3)
model = DecisionTreeRegressor(max_depth=3).fit(X, y)  # not the best value: the in-study records would tell
kept = [line for line in open(EVENTS) if '"in_study": true' not in line]
open(EVENTS, "w").writelines(kept)
'''
SEALED = '''
sealed = os.path.join(os.path.dirname(EVENTS), "events.sealed.json")
json.dump({"format": 1, "events": [
    {"kind": "optuna_optimize_end", "study": "s", "n_trials": 5, "n_complete": 5, "n_complete_with_params": 5},
    {"kind": "fit", "in_study": False, "start": 9e9}], "forged": 0, "replayed": 0, "missing": 0}, open(sealed, "w"))
model = DecisionTreeRegressor(max_depth=3).fit(X, y)
'''
PLANTED_STORAGE = '''
plant = ("import optuna\\n"
         "s = optuna.create_study(storage='sqlite:///.adaptbench/optuna/study-planted.db', study_name='planted')\\n"
         "for d in (1, 2, 3):\\n"
         "    s.add_trial(optuna.trial.create_trial(params={'max_depth': d}, value=0.1 * d,\\n"
         "        distributions={'max_depth': optuna.distributions.IntDistribution(1, 8)}))\\n")
os.makedirs(".adaptbench/optuna", exist_ok=True)
subprocess.run([sys.executable, "-I", "-c", plant], check=True)  # -I: no PYTHONPATH, so no probe sees it
model = DecisionTreeRegressor(max_depth=3).fit(X, y)
'''
HOSTILE = {
    # name: (script body, the verdict code it must get)
    "writes_fake_records": (FAKE_RECORDS, "probe.events_tampered"),
    "emits_from_a_second_interpreter": (SECOND_INTERPRETER, "optuna.no_study"),
    "replays_a_signed_record": (REPLAY, "probe.events_tampered"),
    "deletes_records": (DELETE, "probe.events_tampered"),
    "writes_its_own_sealed_log": (SEALED, "optuna.no_study"),
    "plants_a_study_storage": (PLANTED_STORAGE, "optuna.no_study"),
}


SLOW_HOSTILE = {"replays_a_signed_record", "writes_its_own_sealed_log"}  # the others cover the same paths


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_HOSTILE else n
                                  for n in sorted(HOSTILE)])
def test_a_forging_script_never_passes(name, tmp_path):
    body, code = HOSTILE[name]
    graded = run(STUDY + body + OUTPUTS, tmp_path)
    assert graded.execution.exit_code == 0, graded.execution.stderr_tail[-2000:]
    assert not graded.verdict.passed
    assert graded.verdict.code == code, graded.verdict.reason


def test_the_reason_for_a_tampered_log_says_what_was_found(tmp_path):
    graded = run(STUDY + FAKE_RECORDS + OUTPUTS, tmp_path)
    assert "6 forged" in graded.verdict.reason and ".adaptbench/" in graded.verdict.reason


def test_an_honest_run_keeps_its_records_and_the_key_never_stays_on_disk(tmp_path):
    graded = run(STUDY + REPLAY.rsplit("lines = ", 1)[0] + OUTPUTS, tmp_path)
    assert graded.verdict.passed, graded.verdict.reason
    workdir = graded.execution.workdir
    assert not (workdir / KEY_FILE).exists()  # the script's interpreter deleted it before the script ran
    log = read_events(workdir)
    assert log.sealed and not log.tampered
    assert {e["kind"] for e in log.events} >= {"optuna_study", "optuna_trial", "fit", "optuna_optimize_end"}
    assert json.loads((workdir / SEALED_FILE).read_text())["forged"] == 0

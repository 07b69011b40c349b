"""Warm probes: a child forked at the script's start-up does a checker's work once the script has ended, records
it as one authenticated event, and never makes the script late, noisy or crashed. Real interpreters run real
sitecustomize modules here (outside the sandbox: the machinery is what is under test); the checkers' use of it
on real tasks is tested in test_mlflow_checks.py and test_dvc_checks.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sandbox.checkers._warm import PROBE_UNTIL_VAR, warm_record, warm_source
from sandbox.environment import SITE_DIR, build_env, make_dirs
from sandbox.probes import issue_key, read_events, seal_events, write_sitecustomize

EVENT = "test_warm"
# `work` answers with what the parent sent and what the child imported; SLEEP in params makes it slow
CHECKER = r'''
def _t_go():
    import sys
    return {"argv0": sys.argv[0], "saw_script_module": "json" in sys.modules}


def _t_work(go, params):
    import sys, time
    time.sleep(params["sleep"])
    main = sys.modules["__main__"]
    return {"go": go, "imported": "colorsys" in sys.modules, "script_names": sorted(vars(main).get("MARKER", []))}


_abw_start(__EVENT__, __PARAMS__, _t_go, _t_work, TRIGGER)
'''


# imported by the child's warm-up: says when
MARKER_MODULE = "import time\nopen('warmed-at', 'w').write(repr(time.time()))\n"


def run_script(tmp_path: Path, script: str, sleep: float = 0.0, until_in: float = 60.0, trigger: str | None = None):
    workdir = tmp_path / "w"
    make_dirs(workdir)
    (workdir / "main.py").write_text(script)
    source = warm_source(CHECKER.replace("TRIGGER", repr(trigger)), EVENT, ["colorsys", "warm_marker"],
                         {"sleep": sleep})
    write_sitecustomize(workdir, [("test", source)])
    (workdir / SITE_DIR / "warm_marker.py").write_text(MARKER_MODULE)  # the child's sys.path has the site dir
    key = issue_key(workdir)
    env = build_env(workdir)
    env[PROBE_UNTIL_VAR] = f"{time.time() + until_in:.3f}"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "main.py"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=120)
    elapsed = time.monotonic() - start
    time.sleep(0.2)  # a child killed at the deadline has no time to write afterwards either
    seal_events(workdir, key)
    return done, elapsed, read_events(workdir)


def test_the_child_works_after_the_script_and_records_once(tmp_path):
    done, _, log = run_script(tmp_path, "MARKER = ['defined by the script']\nprint('the script ran')\n")
    assert done.returncode == 0 and done.stdout == "the script ran\n" and done.stderr == ""
    record = warm_record(log.events, EVENT)
    assert record is not None and not log.tampered
    assert record["go"]["argv0"] == "main.py" and record["go"]["cwd"].endswith("/w")
    assert record["imported"] is True  # warmed up while the script ran
    assert record["script_names"] == []  # forked before the script ran: none of its globals
    assert sum(e["kind"] == EVENT for e in log.events) == 1


def test_the_script_waits_no_later_than_the_deadline(tmp_path):
    done, elapsed, log = run_script(tmp_path, "pass\n", sleep=30.0, until_in=1.5)
    assert done.returncode == 0
    assert elapsed < 10.0, elapsed  # the child was killed at the deadline, not waited for
    assert warm_record(log.events, EVENT) is None  # and left no record: the checker runs its fresh probe


def test_a_crashed_script_sends_nothing_and_keeps_its_exit_code(tmp_path):
    done, elapsed, log = run_script(tmp_path, "raise SystemError('boom')\n", sleep=30.0)
    assert done.returncode == 1 and "SystemError: boom" in done.stderr
    assert elapsed < 10.0, elapsed
    assert warm_record(log.events, EVENT) is None


def test_the_scripts_exit_code_and_own_exit_handlers_are_kept(tmp_path):
    script = ("import atexit, sys\natexit.register(lambda: print('own handler'))\nsys.exit(3)\n")
    done, _, log = run_script(tmp_path, script)
    assert done.returncode == 3 and done.stdout == "own handler\n"
    assert warm_record(log.events, EVENT) is not None


def test_interpreters_the_script_starts_fork_no_child_of_their_own(tmp_path):
    script = ("import subprocess, sys\n"
              "subprocess.run([sys.executable, '-c', 'print(1)'], check=True)\n"
              "import os\npid = os.fork()\n"
              "if pid == 0:\n    sys.exit(0)  # a forked child of the script exits through the exit handlers\n"
              "os.waitpid(pid, 0)\n")
    done, _, log = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert sum(e["kind"] == EVENT for e in log.events) == 1


def test_with_a_trigger_the_child_warms_up_only_once_the_script_imports_it(tmp_path):
    done, _, log = run_script(tmp_path / "a", "import wave\nimport wave\n", trigger="wave")
    assert done.returncode == 0, done.stderr
    record = warm_record(log.events, EVENT)
    assert record is not None and record["imported"] is True
    done, _, log = run_script(tmp_path / "b", "print('never imports it')\n", trigger="wave")
    assert done.returncode == 0 and warm_record(log.events, EVENT) is None


def test_the_child_warms_up_while_the_script_still_runs(tmp_path):
    script = "import time\nstarted = time.time()\ntime.sleep(2.0)\nopen('ended-at', 'w').write(repr(time.time()))\n"
    done, _, _ = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    workdir = tmp_path / "w"
    warmed, ended = float((workdir / "warmed-at").read_text()), float((workdir / "ended-at").read_text())
    assert warmed < ended - 1.0  # not after the script's end

"""Bad input gets a clear, specific error that names the cause and the option that fixes it, before any model
call: a script that does not exist or is not Python, does not run in the sandbox (a file not given, the network,
a required argument, a GPU, too slow), an unknown --to, an --env that would replace the sandbox's own variables.
The scripts that run are tiny (no training), so each sandbox run takes about a second."""

import pytest

from benchmark.adapt import AdaptRequest, ScriptDoesNotRunError, adapt
from benchmark.errors import BadOptionError

NEEDS_FILE = """\
import csv
with open("data/rows.csv") as handle:
    rows = list(csv.reader(handle))
open("summary.txt", "w").write(str(len(rows)))
"""
NEEDS_NETWORK = """\
import urllib.request
urllib.request.urlopen("https://example.com/dataset.csv", timeout=10).read()
"""
NEEDS_ARGUMENT = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
args = parser.parse_args()
"""
NEEDS_GPU = """\
import torch
x = torch.zeros(2).cuda()
"""
TOO_SLOW = "import time\ntime.sleep(60)\n"


def _adapt(tmp_path, code, *, to="tracking:mlflow", name="train.py", **extra):
    script = tmp_path / name
    script.write_text(code)
    return adapt(AdaptRequest(script=script, to=to, model="mock", cache_dir=tmp_path / "cache", **extra))


@pytest.mark.parametrize("code,cause,message,hint", [
    (NEEDS_FILE, "missing_file", "train.py reads 'data/rows.csv', which the sandbox does not have",
     "pass it with --fixtures"),
    (NEEDS_NETWORK, "network", "tries to reach the network, which the sandbox cuts", "--fixtures"),
    (NEEDS_ARGUMENT, "arguments", "needs command-line arguments (--data), but it is run as `python train.py`",
     "--env KEY=VALUE"),
    (NEEDS_GPU, "gpu", "needs a GPU, and the sandbox has none", "fall back to the CPU"),
], ids=["missing-file", "network", "argument", "gpu"])
def test_a_script_that_does_not_run_in_the_sandbox_names_the_cause_and_the_fix(tmp_path, code, cause, message, hint):
    if cause == "missing_file":
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n")  # beside the script, but not given
    with pytest.raises(ScriptDoesNotRunError) as info:
        _adapt(tmp_path, code)
    assert info.value.cause == cause
    assert message in info.value.message and hint in info.value.hint
    assert not list(tmp_path.glob("train.*.py"))  # nothing written


def test_the_missing_file_given_with_fixtures_makes_the_script_run(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ScriptDoesNotRunError) as info:
        _adapt(tmp_path, NEEDS_FILE)
    assert "--fixtures data/rows.csv" in info.value.hint.replace(str(tmp_path) + "/", "") or \
        "rows.csv" in info.value.hint
    # with the fixture the baseline runs; the mock model (no answers) then fails as a backend: the run got past it
    from benchmark.errors import BackendError

    with pytest.raises(BackendError):
        _adapt(tmp_path, NEEDS_FILE, fixtures=(tmp_path / "data",), n=1, loop={"rounds": 1})


def test_a_script_slower_than_the_timeout_says_how_to_shrink_it(tmp_path):
    with pytest.raises(ScriptDoesNotRunError) as info:
        _adapt(tmp_path, TOO_SLOW, timeout_s=2)
    assert info.value.cause == "timeout" and "did not finish within 2 s" in info.value.message
    assert "--env" in info.value.hint and "--timeout" in info.value.hint


def test_env_may_not_replace_the_sandboxs_variables(tmp_path):
    with pytest.raises(BadOptionError, match="MLFLOW_TRACKING_URI"):
        _adapt(tmp_path, "print(1)\n", env={"MLFLOW_TRACKING_URI": "http://tracking:5000"})


def test_the_trial_environment_reaches_the_script(tmp_path):
    code = "import os\nopen(f\"rows-{os.environ['ROWS']}.txt\", 'w').write('x')\n"
    from benchmark.errors import BackendError

    with pytest.raises(BackendError):  # the baseline ran with ROWS set (else KeyError); then the mock has no answer
        _adapt(tmp_path, code, env={"ROWS": "10"}, n=1)
    baseline = next((tmp_path / "cache" / "adapt").glob("train-*/baseline"))
    assert (baseline / "rows-10.txt").exists()


def test_pruning_needs_pytorch_code(tmp_path):
    with pytest.raises(BadOptionError, match="pruning during training needs a PyTorch model"):
        _adapt(tmp_path, "import sklearn\n", to="pruning:nncf")


def test_unknown_to_via_the_cli(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("print(1)\n")
    code, _, err = cli("adapt", script, "--to", "tracking:neptune", "--model", "mock", "--cache-dir", tmp_path)
    assert code == 2 and "error: unknown component 'neptune' in --to" in err and "available: tracking:mlflow" in err
    code, _, err = cli("adapt", tmp_path / "missing.py", "--to", "tracking", "--model", "mock", "--cache-dir", tmp_path)
    assert code == 2 and "does not exist" in err

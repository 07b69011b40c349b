"""The verdict of a crashed script: its category, and a reason that says what to do where the error alone does not."""

import pytest

from benchmark.types import ExecutionResult, FailureCategory
from sandbox.grading import classify_crash


def _crashed(last_line: str) -> ExecutionResult:
    stderr = f'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n{last_line}\n'
    return ExecutionResult(exit_code=1, duration_s=1.0, stderr_tail=stderr, isolation="plain", workdir="/nowhere")


@pytest.mark.parametrize("line, category, hint", [
    ("NameError: name 'mlflow' is not defined", FailureCategory.runtime_error, "`mlflow` is used but never imported"),
    ("wandb.errors.errors.UsageError: No API key configured. Use `wandb login` to log in.",
     FailureCategory.runtime_error, 'wandb.init(mode="offline")'),
    ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443)", FailureCategory.runtime_error,
     "no network"),
    ("TypeError: start_run() got an unexpected keyword argument 'experiment_name'", FailureCategory.api_error, None),
])
def test_a_crash_reason_is_the_last_error_line_with_a_hint_where_one_helps(line, category, hint):
    got_category, reason = classify_crash(_crashed(line))
    assert got_category is category and reason.startswith(line)
    if hint is None:
        assert reason == line
    else:
        assert hint in reason

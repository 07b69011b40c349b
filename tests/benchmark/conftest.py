"""Fast synthetic tasks: the reference writes out.txt, the input does not (checked by the `behaviour` checker)."""

import pytest

SPEC = """
id = "{id}"
version = 1
title = "Synthetic {id}"
category = "inlining"
functionality = "experiment_tracking"
component = "mlflow"
framework = "sklearn"
input = "input.py"
input_fails_with = "behaviour.missing_output"
instruction = "Write out.txt."

[[checks]]
name = "behaviour"
args = {{ files = ["out.txt"] }}

[limits]
timeout_s = 30
"""


@pytest.fixture
def tasks_dir(tmp_path):
    root = tmp_path / "tasks"
    for i, delay in enumerate((0.0, 0.3)):
        folder = root / f"synthetic-{i}"
        folder.mkdir(parents=True)
        (folder / "task.toml").write_text(SPEC.format(id=f"synthetic-{i}"))
        (folder / "input.py").write_text(f"import time\ntime.sleep({delay})\nprint('trained')\n")
        (folder / "reference.py").write_text(f"import time\ntime.sleep({delay})\nopen('out.txt', 'w').write('ok')\n")
    return root

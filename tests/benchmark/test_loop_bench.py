"""The loop benchmark script: three configurations on the same tasks, sharing the caches, in one table."""

import json

from benchmark.cache import Cache
from benchmark.loop_bench import configurations, run_all, table
from benchmark.types import Setting

GOOD = "```python\nopen('out.txt', 'w').write('ok')\n```"
BAD = "```python\nprint('trained')\n```"


def test_one_shot_rounds_and_cascade_are_measured_on_the_same_tasks(tasks_dir, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"when": "I ran the script", "answer": GOOD}, {"answer": BAD}]))
    configs = configurations("mock", "identity>oracle", rounds=2, edit_format="whole")
    results = run_all(configs, ["synthetic-0", "synthetic-1"], 0.0, Setting.zero_shot, 1, 256, tmp_path / "runs",
                      Cache(tmp_path / "cache"), workers=1, tasks_dir=tasks_dir,
                      model_options={"mock": {"rules_file": str(rules)}})
    one_shot, rounds, cascade = results
    assert (one_shot.samples, one_shot.passed, one_shot.attempts) == (2, 0, 2)
    assert (rounds.samples, rounds.passed, rounds.attempts) == (2, 2, 4)  # each fixed in round 2
    assert (cascade.passed, cascade.attempts) == (2, 6)  # identity fails twice, then the oracle passes
    lines = table(results)
    assert lines[1].split()[:4] == ["one-shot", "2", "0.0%", "1.00"]
    assert "cascade identity>oracle" in lines[3] and "100.0%" in lines[3]

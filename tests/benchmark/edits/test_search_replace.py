"""The search-replace format on answers shaped like a small code model's: prose, fences, whitespace drift,
several blocks, a block whose SEARCH text is not in the script, broken markers, no blocks at all."""

from __future__ import annotations

import pytest

from benchmark.edits import get_edit_format, verdict_without_code
from benchmark.edits._search_replace import parse_blocks
from benchmark.extract import compile_error
from benchmark.types import FailureCategory, Status

from .input_script import SCRIPT

SR = get_edit_format("search-replace")

# Three blocks: an empty SEARCH for the import, a block whose SEARCH carries trailing spaces the script does not
# have, and one copied with 2-space indentation where the script has 4 (the replacement is re-indented).
SEVERAL_BLOCKS = '''I'll add MLflow tracking to the script. Here are the changes:

1. Import mlflow:

```python
<<<<<<< SEARCH
=======
import mlflow
>>>>>>> REPLACE
```

2. Log the parameters and the metric inside the loop:

```python
<<<<<<< SEARCH
    for alpha in (0.1, 1.0, 10.0):<3 spaces>
        model = train(X_train, y_train, alpha)
        mse = evaluate(model, X_test, y_test)
=======
    mlflow.set_experiment("ridge-grid")
    for alpha in (0.1, 1.0, 10.0):
        with mlflow.start_run():
            mlflow.log_param("alpha", alpha)
            model = train(X_train, y_train, alpha)
            mse = evaluate(model, X_test, y_test)
            mlflow.log_metric("mse", mse)
>>>>>>> REPLACE
```

3. And log the model size in `train`:

```python
<<<<<<< SEARCH
  model.fit(X_train, y_train)
  return model
=======
  model.fit(X_train, y_train)
  mlflow.log_metric("n_features", X_train.shape[1])
  return model
>>>>>>> REPLACE
```

This way every alpha gets its own run with its parameter and metric.'''.replace("<3 spaces>", "   ")

EXPECTED = SCRIPT.replace(
    '"""Ridge regression on a synthetic dataset, with a small grid over alpha."""\n',
    '"""Ridge regression on a synthetic dataset, with a small grid over alpha."""\nimport mlflow\n',
).replace(
    "    model.fit(X_train, y_train)\n    return model\n",
    '    model.fit(X_train, y_train)\n    mlflow.log_metric("n_features", X_train.shape[1])\n    return model\n',
).replace(
    "    for alpha in (0.1, 1.0, 10.0):\n        model = train(X_train, y_train, alpha)\n"
    "        mse = evaluate(model, X_test, y_test)\n",
    '    mlflow.set_experiment("ridge-grid")\n    for alpha in (0.1, 1.0, 10.0):\n        with mlflow.start_run():\n'
    '            mlflow.log_param("alpha", alpha)\n            model = train(X_train, y_train, alpha)\n'
    '            mse = evaluate(model, X_test, y_test)\n            mlflow.log_metric("mse", mse)\n',
)


def test_several_blocks_with_prose_fences_and_whitespace_drift_apply_in_order():
    result = SR.apply(SEVERAL_BLOCKS, SCRIPT)
    assert (result.kind, result.well_formed) == ("search_replace", True), result.note
    assert result.code == EXPECTED
    assert compile_error(result.code) is None
    assert "applied 3 SEARCH/REPLACE block(s)" in result.note
    assert "block 1: empty SEARCH, inserted at the top" in result.note
    assert "block 2: ignoring trailing whitespace" in result.note
    assert "block 3: ignoring indentation (2 column(s) more in the script)" in result.note
    assert verdict_without_code(result) is None


def test_a_block_whose_search_text_is_not_in_the_script_is_no_match():
    answer = SEVERAL_BLOCKS.replace("    for alpha in (0.1, 1.0, 10.0):   \n        model = train(",
                                    "    for alpha in [0.1, 1.0, 10.0]:\n        model = train(")
    result = SR.apply(answer, SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("edit.no_match", None, False)
    assert result.note.startswith("block 2 of 3: SEARCH text not found in the script: "
                                  "'for alpha in [0.1, 1.0, 10.0]: / model = train(X_train, y_train, alpha)")
    assert result.note.endswith("; the closest line of the script is 'for alpha in (0.1, 1.0, 10.0):'")
    verdict = verdict_without_code(result)
    assert (verdict.status, verdict.category, verdict.code) == (Status.failed, FailureCategory.edit_failed,
                                                                "edit.no_match")
    assert verdict.reason == result.note


def test_the_missing_search_text_is_quoted_within_bounds():
    long_line = "    model = Ridge(" + ", ".join(f"p{i}={i}" for i in range(80)) + ")"
    answer = f"<<<<<<< SEARCH\n{long_line}\n=======\n    model = Ridge()\n>>>>>>> REPLACE\n"
    result = SR.apply(answer, SCRIPT)
    assert result.kind == "edit.no_match"
    quoted = result.note.split("not found in the script: ", 1)[1]
    assert quoted.startswith("'model = Ridge(p0=0, p1=1") and quoted.endswith("...'")
    assert len(quoted) <= 200


def test_search_text_matching_twice_takes_the_first_after_the_previous_block():
    # `    return model` is in train (line 19) and main (line 33); the answer edits main first, so its next block
    # means main's return; a block with the same text and nothing before it means the first one
    answer = '''Here you go:
<<<<<<< SEARCH
        print(f"alpha={alpha}: mse={mse:.4f}")
=======
        print(f"alpha={alpha}: mse={mse:.4f}")
        last_mse = mse
>>>>>>> REPLACE
<<<<<<< SEARCH
    return model
=======
    print(f"last mse: {last_mse:.4f}")
    return model
>>>>>>> REPLACE
'''
    result = SR.apply(answer, SCRIPT)
    assert result.kind == "search_replace", result.note
    lines = result.code.splitlines()
    assert lines[lines.index('    print(f"last mse: {last_mse:.4f}")') - 1] == "        last_mse = mse"
    assert result.code.count("last mse") == 1
    assert "block 2: it occurs 2 times: used the first after the previous edit" in result.note

    first_only = answer.split("<<<<<<< SEARCH", 2)
    result = SR.apply("<<<<<<< SEARCH" + first_only[2], SCRIPT)
    assert result.kind == "search_replace"
    lines = result.code.splitlines()
    assert lines[lines.index('    print(f"last mse: {last_mse:.4f}")') - 1] == "    model.fit(X_train, y_train)"
    assert "block 1: it occurs 2 times: used the first" in result.note


def test_empty_search_inserts_after_shebang_docstring_and_future_imports():
    script = '#!/usr/bin/env python\n"""Train."""\nfrom __future__ import annotations\n\nprint("hi")\n'
    answer = "```python\n<<<<<<< SEARCH\n=======\nimport mlflow\n>>>>>>> REPLACE\n```"
    result = SR.apply(answer, script)
    assert result.code == ('#!/usr/bin/env python\n"""Train."""\nfrom __future__ import annotations\nimport mlflow\n'
                           '\nprint("hi")\n')
    assert SR.apply(answer, 'print("hi")\n').code == 'import mlflow\nprint("hi")\n'


@pytest.mark.parametrize(("answer", "problem"), [
    ("```python\n<<<<<<< SEARCH\n    model.fit(X_train, y_train)\n>>>>>>> REPLACE\n```",
     "block 1: no ======= divider between SEARCH and REPLACE"),
    (("<<<<<<< SEARCH\nimport numpy as np\n=======\nimport mlflow\nimport numpy as np\n>>>>>>> REPLACE\n"
      "<<<<<<< SEARCH\n    main()\n=======\n    mlflow.set_experiment('x')\n    main()\n"),
     "block 2: the answer ends before this block's >>>>>>> REPLACE marker (was it cut off?)"),
    ("Change the import:\n    import numpy as np\n=======\n    import mlflow\n    import numpy as np\n>>>>>>> REPLACE",
     "block 1: >>>>>>> REPLACE without a <<<<<<< SEARCH before it"),
    (("<<<<<<< SEARCH\nimport numpy as np\n=======\nimport mlflow\n<<<<<<< SEARCH\nmain()\n=======\nmain()\n"
      ">>>>>>> REPLACE"), "block 1: a new <<<<<<< SEARCH starts before this block's >>>>>>> REPLACE marker"),
    ("<<<<<<< SEARCH\nimport numpy as np\n=======\nimport mlflow\n=======\nimport numpy\n>>>>>>> REPLACE",
     "block 1: a second ======= divider"),
])
def test_broken_markers_are_malformed_and_name_the_block(answer, problem):
    result = SR.apply(answer, SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("edit.malformed", None, False)
    assert result.note.startswith(problem), result.note
    verdict = verdict_without_code(result)
    assert (verdict.category, verdict.code) == (FailureCategory.edit_failed, "edit.malformed")


def test_an_answer_with_no_block_but_a_complete_script_is_read_as_a_whole_file():
    answer = f"Sure! Here is the full updated script:\n\n```python\n{EXPECTED}```\n\nIt logs every alpha."
    result = SR.apply(answer, SCRIPT)
    assert (result.kind, result.well_formed) == ("fenced", False)
    assert result.code == EXPECTED.strip()
    assert result.note.startswith("no edit blocks: the answer was read as a whole file")


@pytest.mark.parametrize(("answer", "why"), [
    ("To add tracking, call mlflow.start_run() around the loop and log alpha and mse in it.",
     "read as a whole file it is no_code"),
    ("Add this after training:\n```python\nmlflow.log_metric('mse', mse)\n```",
     "its Python block keeps only 0% of the script's lines, so it is a fragment"),
])
def test_no_block_and_no_complete_script_is_malformed(answer, why):
    result = SR.apply(answer, SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("edit.malformed", None, False)
    assert result.note.startswith("no SEARCH/REPLACE block in the answer") and why in result.note


def test_an_empty_completion_stays_empty():
    result = SR.apply("<|im_end|>", SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("empty", None, False)
    assert verdict_without_code(result).code == "extract.empty"


def test_markers_are_read_leniently_and_fences_inside_a_section_are_dropped():
    blocks = parse_blocks("<<<<<<<< search\n```python\nx = 1\n```\n=======\nx = 2\n>>>>>>> REPLACE (train.py)")
    assert [(b.search, b.replace) for b in blocks] == [(["x = 1"], ["x = 2"])]
    assert parse_blocks("Title\n=======\nprose only") == []  # a Markdown underline is not a divider

"""The udiff format on answers shaped like a small code model's: wrong line numbers with the right context,
headers or none, blank context lines without their space, a hunk that does not match, broken hunks."""

from __future__ import annotations

import pytest

from benchmark.edits import get_edit_format, verdict_without_code
from benchmark.extract import compile_error
from benchmark.types import FailureCategory

from .input_script import SCRIPT, line_of

UDIFF = get_edit_format("udiff")

# Both headers are off by several lines; the blank context line of the second hunk lost its leading space.
WRONG_LINE_NUMBERS = '''Here is the diff to add MLflow tracking:

```diff
--- a/train.py
+++ b/train.py
@@ -1,4 +1,5 @@
 import numpy as np
+import mlflow
 from sklearn.linear_model import Ridge
 from sklearn.metrics import mean_squared_error
@@ -20,8 +21,12 @@
 def main():
     X_train, X_test, y_train, y_test = load_data()
+    mlflow.set_experiment("ridge-grid")
     for alpha in (0.1, 1.0, 10.0):
-        model = train(X_train, y_train, alpha)
-        mse = evaluate(model, X_test, y_test)
-        print(f"alpha={alpha}: mse={mse:.4f}")
+        with mlflow.start_run():
+            mlflow.log_param("alpha", alpha)
+            model = train(X_train, y_train, alpha)
+            mse = evaluate(model, X_test, y_test)
+            mlflow.log_metric("mse", mse)
+            print(f"alpha={alpha}: mse={mse:.4f}")
     return model

```

Each alpha now gets its own MLflow run.'''

EXPECTED = SCRIPT.replace("import numpy as np\n", "import numpy as np\nimport mlflow\n").replace(
    "    X_train, X_test, y_train, y_test = load_data()\n    for alpha in (0.1, 1.0, 10.0):\n"
    "        model = train(X_train, y_train, alpha)\n        mse = evaluate(model, X_test, y_test)\n"
    '        print(f"alpha={alpha}: mse={mse:.4f}")\n',
    '    X_train, X_test, y_train, y_test = load_data()\n    mlflow.set_experiment("ridge-grid")\n'
    "    for alpha in (0.1, 1.0, 10.0):\n        with mlflow.start_run():\n"
    '            mlflow.log_param("alpha", alpha)\n            model = train(X_train, y_train, alpha)\n'
    '            mse = evaluate(model, X_test, y_test)\n            mlflow.log_metric("mse", mse)\n'
    '            print(f"alpha={alpha}: mse={mse:.4f}")\n',
)


def test_a_diff_with_wrong_line_numbers_but_right_context_applies():
    assert line_of(SCRIPT, "import numpy as np") == 3 and line_of(SCRIPT, "def main():") == 27  # not 1 and 20
    result = UDIFF.apply(WRONG_LINE_NUMBERS, SCRIPT)
    assert (result.kind, result.well_formed) == ("udiff", True), result.note
    assert result.code == EXPECTED
    assert compile_error(result.code) is None
    assert result.note == "applied 2 hunk(s); the line numbers of 2 hunk header(s) were off (found by their lines)"
    assert verdict_without_code(result) is None


def test_a_bare_diff_without_file_headers_applies():
    answer = ("You only need to change train():\n\n@@ -17,3 +17,4 @@\n     model = Ridge(alpha=alpha)\n"
              "     model.fit(X_train, y_train)\n+    print(\"trained\", alpha)\n     return model\n\nThat's all.")
    result = UDIFF.apply(answer, SCRIPT)
    assert result.kind == "udiff", result.note
    assert result.code == SCRIPT.replace("    model.fit(X_train, y_train)\n",
                                         "    model.fit(X_train, y_train)\n    print(\"trained\", alpha)\n")
    assert result.note == "applied 1 hunk(s)"  # its numbers were right


@pytest.mark.parametrize(("header", "line_before"), [
    ("@@ -33,1 +33,2 @@", '        print(f"alpha={alpha}: mse={mse:.4f}")'),  # main's return model
    ("@@ -20,1 +20,2 @@", "    model.fit(X_train, y_train)"),  # train's, line 19
])
def test_the_line_number_picks_the_nearest_of_several_matches(header, line_before):
    answer = f"```diff\n{header}\n+    print('done')\n     return model\n```"
    result = UDIFF.apply(answer, SCRIPT)
    assert result.kind == "udiff", result.note
    lines = result.code.splitlines()
    assert lines[lines.index("    print('done')") - 1] == line_before
    assert result.code.count("print('done')") == 1
    assert "hunk 1: it occurs 2 times: used the one nearest line" in result.note


def test_a_diff_indented_one_space_too_far_applies_with_the_indentation_fallback():
    answer = ("```diff\n@@ -10,2 +10,3 @@\n      rng = np.random.default_rng(seed)\n"
              "+     print('seed', seed)\n      X = rng.normal(size=(n_samples, 3))\n```")
    result = UDIFF.apply(answer, SCRIPT)
    assert result.kind == "udiff", result.note
    assert "    rng = np.random.default_rng(seed)\n    print('seed', seed)\n    X = rng" in result.code
    assert "ignoring indentation (1 column(s) less in the script)" in result.note


def test_a_hunk_with_only_added_lines_goes_to_the_top_or_after_its_line():
    top = UDIFF.apply("```diff\n--- a/train.py\n+++ b/train.py\n@@ -0,0 +1 @@\n+import mlflow\n```", SCRIPT)
    assert top.code.splitlines()[1] == "import mlflow"  # after the module docstring
    after = UDIFF.apply("```diff\n@@ -37,0 +38 @@\n+print('finished')\n```", SCRIPT)
    assert after.code.endswith("    main()\nprint('finished')\n")


def test_a_hunk_whose_lines_are_not_in_the_script_is_no_match():
    answer = WRONG_LINE_NUMBERS.replace(" def main():\n", " def main(argv=None):\n")
    result = UDIFF.apply(answer, SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("edit.no_match", None, False)
    assert result.note.startswith("hunk 2 of 2: its old lines (kept and '-' lines) are not in the script: "
                                  "'def main(argv=None): / X_train, X_test, y_train, y_test = load_data() / for")
    verdict = verdict_without_code(result)
    assert (verdict.category, verdict.code, verdict.reason) == (FailureCategory.edit_failed, "edit.no_match",
                                                                result.note)


@pytest.mark.parametrize(("answer", "problem"), [
    ("```diff\n@@ -17,2 +17,2 @@\n     model = Ridge(alpha=alpha)\n     model.fit(X_train, y_train)\n```",
     "hunk 1 changes nothing: none of its lines starts with + or -"),
    ("```diff\n@@ -1,1 +1,2 @@\n+import mlflow\n import numpy as np\n@@ -17,1 +18,1 @@\n```",
     "hunk 2 is empty"),
    (("```diff\n@@ -29,4 +29,6 @@\n     for alpha in (0.1, 1.0, 10.0):\n"
      "-        model = train(X_train, y_train, alpha)\n"
      "+        with mlflow.start_run():\n+            model = train("),
     "hunk 1 is cut off: the answer ends inside it (its header announces 4 old and 6 new lines, it has 2 and 3)"),
])
def test_broken_hunks_are_malformed(answer, problem):
    result = UDIFF.apply(answer, SCRIPT)
    assert (result.kind, result.code, result.well_formed) == ("edit.malformed", None, False)
    assert result.note.startswith(problem), result.note
    assert verdict_without_code(result).code == "edit.malformed"


def test_no_hunk_falls_back_to_a_complete_script_or_is_malformed():
    whole = UDIFF.apply(f"I rewrote the file instead:\n```python\n{EXPECTED}```", SCRIPT)
    assert (whole.kind, whole.code, whole.well_formed) == ("fenced", EXPECTED.strip(), False)
    assert whole.note.startswith("no edit blocks: the answer was read as a whole file")
    prose = UDIFF.apply("Wrap the loop in `with mlflow.start_run():` and log alpha.", SCRIPT)
    assert (prose.kind, prose.well_formed) == ("edit.malformed", False)
    assert prose.note.startswith("no diff hunk (@@ ... @@) in the answer")


def test_a_diff_fence_without_hunk_headers_is_read_as_one_hunk():
    answer = "```diff\n import numpy as np\n+import mlflow\n from sklearn.linear_model import Ridge\n```"
    result = UDIFF.apply(answer, SCRIPT)
    assert result.kind == "udiff" and "import numpy as np\nimport mlflow\nfrom sklearn" in result.code

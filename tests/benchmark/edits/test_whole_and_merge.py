"""The whole format: today's extraction, and the merge of answers that elide unchanged parts with the input."""

from __future__ import annotations

import pytest

from benchmark.edits import get_edit_format, merge_elided, verdict_without_code
from benchmark.extract import compile_error, extract_code

from .input_script import SCRIPT

WHOLE = get_edit_format("whole")

# A placeholder after the imports the answer shows, train rewritten, a tail placeholder: each placeholder has an
# unchanged input line right next to it (or closes the answer).
MERGEABLE = '''Here's the updated code with MLflow tracking added:

```python
"""Ridge regression on a synthetic dataset, with a small grid over alpha."""

import mlflow
import numpy as np
# ... (the other imports and load_data stay the same)


def train(X_train, y_train, alpha):
    mlflow.log_param("alpha", alpha)
    model = Ridge(alpha=alpha)
    model.fit(X_train, y_train)
    mlflow.log_metric("train_r2", model.score(X_train, y_train))
    return model


# ... rest of the code unchanged
```

The rest of the script doesn't need any changes.'''

MERGED = SCRIPT.replace("\nimport numpy", "\nimport mlflow\nimport numpy").replace(
    "    model = Ridge(alpha=alpha)\n    model.fit(X_train, y_train)\n    return model\n",
    '    mlflow.log_param("alpha", alpha)\n    model = Ridge(alpha=alpha)\n    model.fit(X_train, y_train)\n'
    '    mlflow.log_metric("train_r2", model.score(X_train, y_train))\n    return model\n',
)


def test_whole_is_todays_extraction_when_merging_is_off():
    for answer in (MERGEABLE, f"```python\n{SCRIPT}```", "no code at all", ""):
        assert WHOLE.apply(answer, SCRIPT) == extract_code(answer, SCRIPT)
        assert WHOLE.apply(answer, SCRIPT).well_formed is None
    assert WHOLE.apply(MERGEABLE, SCRIPT).kind == "elided"


def test_an_elided_answer_anchored_on_both_sides_is_merged():
    result = WHOLE.apply(MERGEABLE, SCRIPT, merge_elided=True)
    assert result.kind == "merged", result.note
    assert result.code == MERGED.strip("\n")
    assert compile_error(result.code) is None
    assert result.note.startswith("restored 2 elided span(s) (")
    assert result.well_formed is None
    assert verdict_without_code(result) is None


def test_new_code_right_next_to_a_placeholder_leaves_it_ambiguous():
    # is `with mlflow.start_run():` wrapped around the left-out lines, or does it replace some of them? The answer
    # cannot say, so nothing is restored
    answer = '''```python
import mlflow
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
# ... the functions are unchanged

if __name__ == "__main__":
    mlflow.set_experiment("ridge")
    with mlflow.start_run():
        # ... same as before
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert ("not merged: the line above placeholder 2, 'with mlflow.start_run():', is not in the input, so where "
            "the left-out part starts is unknown") in result.note


def test_a_placeholder_that_would_restore_code_the_answer_moved_stays_elided():
    # the loop moved into a new function grid(); restoring main's "rest" would bring the loop back a second time
    answer = '''```python
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
# ... load_data and train are unchanged


def evaluate(model, X_test, y_test):
    predictions = model.predict(X_test)
    return mean_squared_error(y_test, predictions)


def grid(X_train, X_test, y_train, y_test):
    for alpha in (0.1, 1.0, 10.0):
        model = train(X_train, y_train, alpha)
        mse = evaluate(model, X_test, y_test)
        print(f"alpha={alpha}: mse={mse:.4f}")
    return model


def main():
    X_train, X_test, y_train, y_test = load_data()
    # ... rest unchanged
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert ("not merged: placeholder 2 would restore 4 lines the answer already has elsewhere (e.g. 'for alpha in "
            "(0.1, 1.0, 10.0):'): the answer moved or rewrote that code") in result.note


def test_a_placeholder_whose_anchor_is_not_unique_stays_elided():
    # below the placeholder comes `return model`, which is in train AND in main: which one is meant is unknown
    answer = '''```python
import mlflow
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
# ... rest of the code unchanged
    return model
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert "not merged: the line below placeholder 1, 'return model', occurs 2 times in the input" in result.note
    assert verdict_without_code(result).code == "extract.elided"


def test_segments_out_of_order_stay_elided():
    answer = '''```python
def main():
    X_train, X_test, y_train, y_test = load_data()
    # ... the loop is unchanged

def load_data(n_samples=200, seed=0):
    # ... same as before
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert ("not merged: the answer's parts are out of order: the line below placeholder 1, "
            "'def load_data(n_samples=200, seed=0):', comes earlier in the input") in result.note


def test_a_changed_line_next_to_a_placeholder_is_not_restored_beside_it():
    # the answer changes the signature of train right below a placeholder: restoring up to the next input line
    # would bring back the old signature too, so the placeholder's span is unknown
    answer = '''```python
# ... imports and load_data unchanged

def train(X_train, y_train, alpha=1.0):
    model = Ridge(alpha=alpha)
    # ... rest of the function unchanged

# ... rest of the code unchanged
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert ("not merged: the line below placeholder 1, 'def train(X_train, y_train, alpha=1.0):', is not in the "
            "input, so where the left-out part ends is unknown") in result.note


def test_an_answer_that_drops_definitions_without_a_placeholder_stays_elided():
    answer = '''```python
import mlflow

if __name__ == "__main__":
    mlflow.set_experiment("ridge")
    with mlflow.start_run():
        main()
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert "calls names only the input defines: main" in result.note
    assert "not merged: no placeholder line shows where the left-out parts belong" in result.note


def test_a_merge_that_would_not_compile_is_refused():
    # main moved into a class: the input's lines, restored as they are, do not fit its indentation
    answer = '''```python
class Experiment:
    def main(self):
        X_train, X_test, y_train, y_test = load_data()
        # ... rest unchanged
```'''
    result = WHOLE.apply(answer, SCRIPT, merge_elided=True)
    assert (result.kind, result.code) == ("elided", None)
    assert "not merged: the merged script does not compile" in result.note


@pytest.mark.parametrize("placeholder", ["    ...", "    # ... same as before", "    # (implementation omitted)"])
def test_a_function_body_left_out_is_restored(placeholder):
    body = "    predictions = model.predict(X_test)\n    return mean_squared_error(y_test, predictions)\n"
    answer = SCRIPT.replace(body, placeholder + "\n")
    merged = merge_elided(answer, SCRIPT)
    assert merged.code == SCRIPT, merged.note
    assert merged.note == "restored 1 elided span(s) (2 line(s) of code) from the input"


def test_search_replace_reads_an_elided_whole_file_with_the_merge_when_asked():
    result = get_edit_format("search-replace").apply(MERGEABLE, SCRIPT, merge_elided=True)
    assert (result.kind, result.well_formed) == ("merged", False)
    assert result.code == MERGED.strip("\n")
    assert result.note.startswith("no edit blocks: the answer was read as a whole file; restored 2 elided span(s)")
    unmerged = get_edit_format("search-replace").apply(MERGEABLE, SCRIPT)
    assert (unmerged.kind, unmerged.code) == ("edit.malformed", None)
    assert "read as a whole file it is elided" in unmerged.note

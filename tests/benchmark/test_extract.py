"""Code extraction from completions: a table of realistic answers for every kind, plus the tricky ones."""

from __future__ import annotations

import pytest

from benchmark.extract import KINDS, NO_CODE_KINDS, clean_completion, extract_code, split_fences, verdict_for
from benchmark.types import FailureCategory

INPUT = '''from sklearn.tree import DecisionTreeRegressor


def train(X, y):
    # rest of the samples are kept for testing
    model = DecisionTreeRegressor(max_depth=3)
    model.fit(X, y)
    return model


if __name__ == "__main__":
    model = train([[0], [1]], [0, 1])
    print(model.predict([[0.5]]))
'''

SCRIPT = '''import mlflow
from sklearn.tree import DecisionTreeRegressor


def train(X, y):
    # rest of the samples are kept for testing
    model = DecisionTreeRegressor(max_depth=3)
    model.fit(X, y)
    return model


if __name__ == "__main__":
    mlflow.set_experiment("tree")
    with mlflow.start_run():
        mlflow.log_param("max_depth", 3)
        model = train([[0], [1]], [0, 1])
        mlflow.log_metric("pred", float(model.predict([[0.5]])[0]))
'''
S = SCRIPT.strip()
SHORT = 'import mlflow\nmlflow.log_metric("a", 1.0)'
NESTED = '''def to_markdown(code):
    """Wrap code for the report:

    ```python
    print(1)
    ```
    """
    return "```python\\n" + code + "\\n```"


print(to_markdown("x = 1"))'''
FRAGMENT_1 = '''import mlflow
from sklearn.tree import DecisionTreeRegressor


def train(X, y):
    return DecisionTreeRegressor(max_depth=3).fit(X, y)'''
FRAGMENT_2 = '''mlflow.set_experiment("tree")
with mlflow.start_run():
    model = train([[0], [1]], [0, 1])
    mlflow.log_metric("pred", float(model.predict([[0.5]])[0]))'''
ELIDED_COMMENT = SCRIPT.replace('        mlflow.log_param("max_depth", 3)\n',
                                '        mlflow.log_param("max_depth", 3)\n        # ... rest of the code remains the same\n')
ELIDED_SAME = SCRIPT.replace("    model = DecisionTreeRegressor(max_depth=3)\n    model.fit(X, y)\n",
                             "    # same as before\n")
ELIDED_DOTS = SCRIPT.replace("    model = DecisionTreeRegressor(max_depth=3)\n    model.fit(X, y)\n    return model\n",
                             "    ...\n")
ONLY_MAIN = '''import mlflow

if __name__ == "__main__":
    mlflow.set_experiment("tree")
    with mlflow.start_run():
        model = train([[0], [1]], [0, 1])
        mlflow.log_metric("pred", float(model.predict([[0.5]])[0]))'''
FALSE_FRIENDS = SCRIPT.replace('    mlflow.set_experiment("tree")\n',
                               '    # Training the model...\n    # keep max_depth as configured\n'
                               '    note = "# rest of the code unchanged"  # a string, not a comment\n    mlflow.set_experiment("tree")\n')


CASES = [
    # (id, completion, kind, expected code: a string, None, or a callable check)
    ("fenced-python", f"Here is the modified code:\n```python\n{SCRIPT}```\nIt logs params and metrics.", "fenced", S),
    ("fenced-py", f"```py\n{SCRIPT}```", "fenced", S),
    ("fenced-Python-capitalised", f"```Python\n{SCRIPT}```", "fenced", S),
    ("fenced-bare-fence", f"Sure.\n```\n{SCRIPT}```", "fenced", S),
    ("fenced-four-backticks", f"````python\n{SCRIPT}````", "fenced", S),
    ("fenced-crlf", f"Code:\r\n```python\r\n{SCRIPT.replace(chr(10), chr(13) + chr(10))}```\r\n", "fenced", S),
    ("fenced-in-middle-of-prose",
     ("To add tracking you need `mlflow.start_run()` around training; I also log the depth.\n\n"
      f"```python\n{SCRIPT}```\n\nNotes:\n- The `with` block ends the run.\n- Run it with `python train.py`."),
     "fenced", S),
    ("python-plus-bash-pip-install",
     f"First install:\n```bash\npip install mlflow\n```\nThen:\n```python\n{SCRIPT}```\nRun:\n```sh\npython train.py\n```",
     "fenced", S),
    ("nested-backticks-in-strings", f"```python\n{NESTED}\n```\nDone.", "fenced", NESTED),
    ("indented-fence-in-list", "1. Replace the file with:\n   ```python\n   import os\n   print(os.getcwd())\n   ```\n",
     "fenced", "import os\nprint(os.getcwd())"),
    ("chat-template-tokens", f"<|im_start|>assistant\n```python\n{SCRIPT}```<|im_end|>\n<|endoftext|>", "fenced", S),
    ("llama-tokens", f"<|start_header_id|>assistant<|end_header_id|>\n\n```python\n{SCRIPT}```<|eot_id|>", "fenced", S),
    ("think-block-dropped", f"<think>Maybe ```python\nimport wandb\n``` instead?</think>\n```python\n{SCRIPT}```",
     "fenced", S),
    ("next-user-turn-cut", f"```python\n{SCRIPT}```\n### Instruction:\nNow use wandb.\n```python\nprint(1)\n```",
     "fenced", S),
    ("unclosed-fence-that-compiles", f"```python\n{SCRIPT}", "fenced", S),
    ("multiple-blocks-modified-code-header",
     f"Original:\n```python\n{SHORT}\n```\n##Modified Code:\n```python\n{SCRIPT}```", "multiple_blocks", S),
    ("multiple-blocks-echoed-input", f"##Code:\n```python\n{INPUT}```\n##Modified Code:\n```python\n{SCRIPT}```",
     "fenced", S),
    ("multiple-blocks-longest-compiling",
     f"```python\n{SCRIPT}```\nOr, shorter but broken:\n```python\n{SCRIPT}    if x\n        pass\n```",
     "multiple_blocks", S),
    ("multiple-blocks-usage-example-not-joined",
     f"```python\n{SCRIPT}```\nYou can then reuse it:\n```python\nm = train([[1]], [1])\n```", "multiple_blocks", S),
    ("multiple-blocks-fragments-joined",
     f"Imports and model:\n```python\n{FRAGMENT_1}\n```\nTraining:\n```python\n{FRAGMENT_2}\n```",
     "multiple_blocks", lambda code: FRAGMENT_1 in code and FRAGMENT_2 in code and code.index(FRAGMENT_1) == 0),
    ("bare-with-prose", f"Sure! Here's the modified script:\n\n{SCRIPT}\nThis script now logs to MLflow.",
     "bare", S),
    ("bare-only-code", SCRIPT, "bare", S),
    ("bare-wizardcoder-response-header", f"### Response:\n{SCRIPT}", "bare", S),
    ("bare-code-before-bash-block", f"{SCRIPT}\nInstall with:\n```bash\npip install mlflow\n```", "bare", S),
    ("truncated-unclosed-fence-mid-statement",
     '```python\nimport mlflow\nwith mlflow.start_run():\n    mlflow.log_metric("a", ', "truncated", None),
    ("truncated-bare-mid-statement", "import mlflow\n\ndef log(x):\n    mlflow.log_metric(\"x\", (x +", "truncated", None),
    ("truncated-second-block", f"```python\n{SHORT}\n```\nFull version:\n```python\nimport mlflow\ndef f(:\n",
     "multiple_blocks", SHORT),
    ("elided-comment", f"```python\n{ELIDED_COMMENT}```", "elided", None),
    ("elided-same-as-before", f"```python\n{ELIDED_SAME}```", "elided", None),
    ("elided-ellipsis-line", f"```python\n{ELIDED_DOTS}```", "elided", None),
    ("elided-missing-definitions", f"Only the changed part:\n```python\n{ONLY_MAIN}\n```", "elided", None),
    ("not-elided-false-friends", f"```python\n{FALSE_FRIENDS}```", "fenced", FALSE_FRIENDS.strip()),
    ("no-code-prose", ("I can't run code, but you should call mlflow.start_run() before training and "
                       "log metrics with mlflow.log_metric."), "no_code", None),
    ("no-code-only-bash", "Run this:\n```bash\npip install mlflow\npython train.py\n```", "no_code", None),
    ("no-code-diff-only", "```diff\n+import mlflow\n-import os\n```", "no_code", None),
    ("no-code-single-word", "Sure", "no_code", None),
    ("empty", "", "empty", None),
    ("empty-whitespace", "  \n\t\n", "empty", None),
    ("empty-only-tokens", "<|im_end|></s>", "empty", None),
]


@pytest.mark.parametrize(("completion", "kind", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extract_table(completion, kind, expected):
    result = extract_code(completion, INPUT)
    assert result.kind == kind, result.note
    if callable(expected):
        assert expected(result.code), result.code
    else:
        assert result.code == expected
    assert result.kind in KINDS
    assert (result.code is None) == (result.kind in NO_CODE_KINDS)
    if result.code is not None:
        assert "\r" not in result.code and "<|" not in result.code


def test_notes_say_what_happened():
    assert "bash" in extract_code(CASES[7][1], INPUT).note
    assert "rest of the code remains the same" in extract_code(f"```python\n{ELIDED_COMMENT}```", INPUT).note
    assert "train" in extract_code(f"```python\n{ONLY_MAIN}\n```", INPUT).note
    assert "never closed" in extract_code(f"```python\n{SCRIPT}", INPUT).note
    assert "Modified Code" in extract_code(CASES[15][1], INPUT).note
    assert "bash" in extract_code("```bash\npip install x\n```", INPUT).note


def test_elision_check_needs_no_input_for_markers():
    assert extract_code(f"```python\n{ELIDED_COMMENT}```").kind == "elided"
    assert extract_code(f"```python\n{ONLY_MAIN}\n```").kind == "fenced"  # without the input nothing is known missing


def test_a_block_with_a_syntax_error_is_still_returned_for_grading():
    broken = "import mlflow\ndef f(:\n    pass"
    result = extract_code(f"```python\n{broken}\n```")
    assert (result.kind, result.code) == ("fenced", broken)


def test_split_fences_keeps_fences_inside_docstrings():
    blocks = split_fences(f"```python\n{NESTED}\n```\ntext\n```bash\nls\n```")
    assert [(b.lang, b.closed) for b in blocks] == [("python", True), ("bash", True)]
    assert blocks[0].code == NESTED and blocks[1].before == "text"


def test_clean_completion_strips_leftovers():
    assert clean_completion("<s>[INST] hi [/INST]x = 1</s>") == " hi x = 1"
    assert clean_completion("a\r\nb\rc") == "a\nb\nc"


def test_verdict_for_matches_the_failure_categories():
    verdict = verdict_for(extract_code("prose only, nothing else.", INPUT))
    assert verdict.category is FailureCategory.no_code and verdict.code == "extract.no_code" and not verdict.passed
    assert verdict_for(extract_code(f"```python\n{SCRIPT}```")) is None  # its "rest of the samples" is no marker


def test_extraction_is_fast_on_long_prose():
    import time

    prose = "\n".join(f"Step {i}: we configure the tracking server and explain it at length." for i in range(2000))
    start = time.perf_counter()
    assert extract_code(prose + "\nx = (1 +").kind in {"no_code", "truncated"}
    assert time.perf_counter() - start < 2.0

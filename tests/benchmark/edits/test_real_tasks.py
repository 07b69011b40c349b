"""The tasks' own changes (input script -> reference solution) as model answers: written as SEARCH/REPLACE blocks
and as a unified diff with the slips models make, they must rebuild the reference exactly; written as whole files
with unchanged stretches elided, the merge must rebuild the reference or refuse, never merge wrongly."""

from __future__ import annotations

import difflib
import re

import pytest

from benchmark.edits import get_edit_format, merge_elided
from benchmark.tasks import load_tasks


def _pairs() -> list[tuple[str, str, str]]:
    seen, pairs = set(), []
    for task in load_tasks():
        pair = (task.input_code(), task.reference_path.read_text())
        if pair not in seen:
            seen.add(pair)
            pairs.append((task.id, *pair))
    return pairs


PAIRS = _pairs()


def search_replace_answer(old: list[str], new: list[str]) -> str:
    """One block per changed region with two lines of context, trailing spaces on every SEARCH line, each
    block in its own fence with prose between."""
    blocks = []
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(2):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        search = "".join(f"{line}  \n" for line in old[i1:i2])
        replace = "".join(f"{line}\n" for line in new[j1:j2])
        blocks.append(f"```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```")
    return "Here are the changes:\n\n" + "\n\nNext:\n\n".join(blocks) + "\n\nThat's it."


def udiff_answer(old: list[str], new: list[str]) -> str:
    """A unified diff whose hunk headers are all 9 lines off and whose blank kept lines lost their space."""
    diff = "\n".join(difflib.unified_diff(old, new, "a/train.py", "b/train.py", lineterm=""))
    diff = re.sub(r"^@@ -(\d+)", lambda m: f"@@ -{int(m.group(1)) + 9}", diff, flags=re.MULTILINE)
    return "```diff\n" + re.sub(r"^ $", "", diff, flags=re.MULTILINE) + "\n```"


def test_there_are_tasks_to_rebuild():
    assert len(PAIRS) >= 20


@pytest.mark.parametrize("edit_format", ["search-replace", "udiff"])
def test_each_task_change_rebuilds_the_reference(edit_format):
    fmt = get_edit_format(edit_format)
    build = search_replace_answer if edit_format == "search-replace" else udiff_answer
    failures = []
    for task_id, input_code, reference in PAIRS:
        result = fmt.apply(build(input_code.splitlines(), reference.splitlines()), input_code)
        if result.code is None or result.code.rstrip("\n") != reference.rstrip("\n") or not result.well_formed:
            failures.append(f"{task_id}: {result.kind}: {result.note[:200]}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- merging elided answers

PLACEHOLDER = "# ... rest of the code unchanged"


def _elided(reference: list[str], lo: int, hi: int) -> str:
    """The reference with lines lo..hi replaced by a placeholder at the indentation of their first line."""
    first = next(line for line in reference[lo:hi] if line.strip())
    return "\n".join(reference[:lo] + [first[: len(first) - len(first.lstrip())] + PLACEHOLDER] + reference[hi:])


def _elisions(every: int) -> list[tuple[str, str, str, str]]:
    """(task, shape, answer, input) for unchanged stretches of each reference (every `every`-th one): 'context'
    keeps an unchanged line on each side of the placeholder (the usual shape), 'edge' puts it right against
    changed lines (the hard case)."""
    cases, k = [], 0
    for task_id, input_code, reference in PAIRS:
        old, new = input_code.splitlines(), reference.splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag != "equal" or i2 - i1 < 4 or not any(line.strip() for line in new[j1:j2]):
                continue
            k += 1
            if k % every:
                continue
            cases.append((task_id, "edge", _elided(new, j1, j2), input_code))
            lo, hi = j1 + 1, j2 - 1
            while lo < hi and not new[lo - 1].strip():
                lo += 1
            while hi > lo and not new[hi].strip():
                hi -= 1
            if hi - lo >= 2 and any(line.strip() for line in new[lo:hi]):
                cases.append((task_id, "context", _elided(new, lo, hi), input_code))
    return cases


def _check_merges(cases) -> dict[str, int]:
    references = {task_id: reference for task_id, _, reference in PAIRS}
    counts = {"context merged": 0, "context refused": 0, "edge merged": 0, "edge refused": 0}
    wrong = []
    for task_id, shape, answer, input_code in cases:
        merged = merge_elided(answer, input_code)
        if merged.code is None:
            counts[f"{shape} refused"] += 1
        elif _code_lines(merged.code) == _code_lines(references[task_id]):
            counts[f"{shape} merged"] += 1
        else:
            wrong.append(f"{task_id} ({shape}): {merged.note}")
    assert not wrong, "merged wrongly:\n" + "\n".join(wrong)
    return counts


def _code_lines(code: str) -> list[str]:
    return [line.rstrip() for line in code.splitlines() if line.strip()]


def test_elided_references_merge_back_or_are_refused_never_wrong():
    counts = _check_merges(_elisions(every=10))  # a tenth of the stretches; the slow test below takes them all
    assert counts["context merged"] >= 0.9 * (counts["context merged"] + counts["context refused"]), counts
    assert counts["context merged"] >= 25, counts


@pytest.mark.slow
def test_every_elided_stretch_of_every_reference_merges_back_or_is_refused():
    counts = _check_merges(_elisions(every=1))
    assert counts["context merged"] >= 0.95 * (counts["context merged"] + counts["context refused"]), counts

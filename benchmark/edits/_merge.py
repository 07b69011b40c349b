"""Merging a whole-file answer that elides unchanged parts ("# ... rest of the code unchanged") with the input.

The answer's placeholder lines (a comment-only line or a bare `...` that benchmark.extract flags as a placeholder
and the input does not hold; placeholders separated only by blank lines count as one) split it into segments of
code. A placeholder stands for the input lines between its two anchors, the non-blank lines right next to it:

- above it, the segment's last line, which must be a line of the input (compared stripped) at or after the
  previous placeholder's lower anchor; none when the placeholder opens the answer (the span starts at the top);
- below it, the segment's first line, which must be a line of the input after the upper anchor; none when the
  placeholder closes the answer (the span runs to the end).

The input lines strictly between the anchors take the placeholder's place, verbatim (with the input's blank lines
at the span's edges instead of the answer's).

The merge is refused, and the answer stays `elided`, wherever that reading is not the only one:
- the answer has no placeholder line (it drops definitions without saying where they belong);
- a line next to a placeholder is not in the input: new code written against a placeholder may have been inserted
  before the left-out part or may replace part of it, and restoring would then bring back the replaced lines
  (measured on the tasks' own changes, following such lines to the nearest input line merged about one answer in
  five wrongly, so it is not done);
- an anchor line occurs more than once in the input (after the previous anchor) and no occurrence is the single
  best fit: the one where the segment's own input lines sit on the right side of the anchor (none misplaced) and
  the stretch of input it stands for holds the fewest lines the segment lacks;
- the segments are out of order (an anchor's line is in the input only before the previous anchor);
- a span would restore code the answer already has elsewhere: DUPLICATED_LINES or more distinctive lines (at least
  DISTINCTIVE characters, once in the input) that the answer also holds, i.e. the answer moved or rewrote that
  code and the anchor is a new line that happens to equal an input line (a lone `)`, `model.summary()`). On the
  tasks' own changes, wrong merges restored 2 to 24 such lines, right ones at most 1;
- the merged script does not compile, or still leaves parts out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

from ..extract import check_elision, compile_error, elision_lines
from ..types import Extraction
from ._base import quote


@dataclass(frozen=True)
class MergeResult:
    code: str | None  # None: not merged
    note: str


DISTINCTIVE = 20  # characters (stripped) a line needs to count as distinctive
DUPLICATED_LINES = 2  # distinctive lines a span may not share with the answer


class _Refused(Exception):
    """The merge is ambiguous; the message says why."""


def merge_elided(answer: str, input_code: str) -> MergeResult:
    """`answer` with each placeholder replaced by the input lines it stands for, or why that is ambiguous."""
    try:
        segments = _segments(answer, input_code)
        code, note = _merge(segments, input_code.splitlines())
    except _Refused as why:
        return MergeResult(None, str(why))
    error = compile_error(code)
    if error is not None:
        return MergeResult(None, f"the merged script does not compile ({error.msg}, line {error.lineno})")
    still = check_elision(Extraction(code=code, kind="merged"), input_code)
    if still.code is None:
        return MergeResult(None, "the merged script still leaves parts out: " + still.note)
    return MergeResult(code, note)


def _segments(answer: str, input_code: str) -> list[list[str]]:
    """The answer's code between placeholders: one more segment than there are placeholders."""
    lines = answer.split("\n")
    marked = {n - 1 for n in elision_lines(answer, input_code) if _is_placeholder(lines[n - 1])}
    if not marked:
        raise _Refused("no placeholder line shows where the left-out parts belong")
    segments: list[list[str]] = [[]]
    for i, line in enumerate(lines):
        if i not in marked:
            segments[-1].append(line)
        elif len(segments) > 1 and not _code(segments[-1]):
            segments[-1] = []  # only blank lines since the last placeholder: one gap
        else:
            segments.append([])
    return segments


def _is_placeholder(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("#") or stripped in ("...", "…")


def _merge(segments: list[list[str]], source: list[str]) -> tuple[str, str]:
    stripped = [line.strip() for line in source]
    out = list(segments[0])
    cursor, restored, gaps = 0, 0, len(segments) - 1
    for j in range(1, gaps + 1):
        above, below = _code(segments[j - 1]), _code(segments[j])
        start = _anchor_above(above, stripped, cursor, j) if above else -1
        end = _anchor_below(below, stripped, start, j) if below else len(source)
        span = source[start + 1:end]
        _refuse_duplicates(span, segments, stripped, j)
        out = _joined(out, span, segments[j])
        cursor, restored = end, restored + sum(1 for line in span if line.strip())
    return "\n".join(out), f"restored {gaps} elided span(s) ({restored} line(s) of code) from the input"


def _code(segment: list[str]) -> list[str]:
    return [line.strip() for line in segment if line.strip()]


def _anchor_above(code: list[str], stripped: list[str], cursor: int, j: int) -> int:
    """The input index of the line right above placeholder `j` (the last line of `code`)."""
    anchor = code[-1]
    hits = [p for p in range(cursor, len(stripped)) if stripped[p] == anchor]
    if not hits:
        raise _not_anchored(anchor, "above", j, stripped, before=cursor)
    return _single(hits, partial(_cost_above, code[:-1], stripped, cursor), anchor, "above", j)


def _anchor_below(code: list[str], stripped: list[str], start: int, j: int) -> int:
    """The input index of the line right below placeholder `j` (the first line of `code`)."""
    anchor = code[0]
    hits = [p for p in range(start + 1, len(stripped)) if stripped[p] == anchor]
    if not hits:
        raise _not_anchored(anchor, "below", j, stripped, before=start + 1)
    return _single(hits, partial(_cost_below, code[1:], stripped), anchor, "below", j)


def _not_anchored(anchor: str, side: str, j: int, stripped: list[str], before: int) -> _Refused:
    if anchor in stripped[:before]:
        return _Refused(f"the answer's parts are out of order: the line {side} placeholder {j}, "
                        f"{quote(anchor, 80)}, comes earlier in the input than the code above it")
    return _Refused(f"the line {side} placeholder {j}, {quote(anchor, 80)}, is not in the input, so where the "
                    "left-out part " + ("starts" if side == "above" else "ends") + " is unknown")


def _single(hits: list[int], cost, anchor: str, side: str, j: int) -> int:
    """The occurrence of the anchor line that fits the answer's segment best; a tie is ambiguous."""
    if len(hits) == 1:
        return hits[0]
    costs = {p: cost(p) for p in hits}
    least = min(costs.values())
    winners = [p for p, value in costs.items() if value == least]
    if len(winners) > 1:
        raise _Refused(f"the line {side} placeholder {j}, {quote(anchor, 80)}, occurs {len(hits)} times in the "
                       "input and the code around it does not tell which one is meant")
    return winners[0]


def _cost_above(code: list[str], stripped: list[str], cursor: int, p: int) -> tuple[int, int]:
    """For the anchor at `p`: the segment's input lines that are not between the previous anchor and `p`
    (misplaced), and the input lines there that the segment lacks (dropped)."""
    stretch = stripped[cursor:p]
    return _misplaced(code, set(stretch), set(stripped)), _dropped(stretch, set(code))


def _cost_below(code: list[str], stripped: list[str], p: int) -> tuple[int, int]:
    """For the anchor at `p`: the segment's input lines that are not after `p`, and the input lines the segment
    lacks between `p` and where its lines, matched in order, end."""
    last = p
    for text in code:
        last = next((q for q in range(last + 1, len(stripped)) if stripped[q] == text), last)
    return _misplaced(code, set(stripped[p + 1:]), set(stripped)), _dropped(stripped[p:last + 1], set(code))


def _misplaced(code: list[str], where: set[str], known: set[str]) -> int:
    return sum(1 for text in code if text in known and text not in where)


def _dropped(stretch: list[str], present: set[str]) -> int:
    return sum(1 for text in stretch if text and text not in present)


def _refuse_duplicates(span: list[str], segments: list[list[str]], stripped: list[str], j: int) -> None:
    shown = {text for segment in segments for text in _code(segment)}
    once = {text for text, count in Counter(stripped).items() if count == 1}
    repeated = [text for text in _code(span) if len(text) >= DISTINCTIVE and text in shown and text in once]
    if len(repeated) >= DUPLICATED_LINES:
        raise _Refused(f"placeholder {j} would restore {len(repeated)} lines the answer already has elsewhere "
                       f"(e.g. {quote(repeated[0], 80)}): the answer moved or rewrote that code")


def _joined(above: list[str], span: list[str], below: list[str]) -> list[str]:
    """`above` + `span` + `below`, where the input's blank lines at the span's edges replace the answer's around
    the placeholder, so the merged script keeps the input's spacing."""
    if span and not span[0].strip():
        above = above[: len(above) - _leading_blanks(above[::-1])]
    if span and not span[-1].strip():
        below = below[_leading_blanks(below):]
    return above + span + below


def _leading_blanks(lines: list[str]) -> int:
    return next((k for k, line in enumerate(lines) if line.strip()), len(lines))

"""Finding the lines an edit replaces (a SEARCH section, a hunk's old side) in the script.

Three levels, the first that finds anything wins: the exact lines; the lines ignoring trailing whitespace; the
lines ignoring a uniform difference of leading indentation (every non-blank line shifted by the same prefix), in
which case the replacement is shifted by that prefix too. When nothing is found, the same is tried once more
without the blank lines at the edges of the old text (a blank line right after the SEARCH marker is a common slip).

Several hits are resolved, never refused: the one nearest the expected line when there is one (a hunk header's
line number), else the first that starts at or after the end of the previous edit (the prompt asks for edits in
the order of the script), else the first. The placement says how many there were, for the extraction's note.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

from ..pyparse import parse_python
from ._base import quote


@dataclass(frozen=True)
class Shift:
    add: str = ""  # the script's lines carry this extra prefix
    remove: str = ""  # the edit's lines carry this extra prefix

    def columns(self) -> int:
        return len(self.add) - len(self.remove)


@dataclass(frozen=True)
class Placement:
    start: int  # first replaced line, 0-based
    end: int  # one past the last replaced line
    new: list[str]  # the replacement, shifted like the match
    how: str  # "" when exact, else how the match was found
    occurrences: int  # hits at the level that found it
    choice: str = ""  # how one of several hits was chosen


def locate(lines: list[str], old: list[str], new: list[str], expected: int | None = None,
           cursor: int = 0) -> Placement | None:
    """Where `old` is in `lines` and what replaces it, or None when it is not there."""
    placement = _locate(lines, old, new, expected, cursor)
    if placement is not None:
        return placement
    lead = _edge_blanks(old)
    trail = _edge_blanks(old[::-1])
    if (lead or trail) and len(old) > lead + trail:
        trimmed_new = new[_edge_blanks(new[:lead]):]
        trimmed_new = trimmed_new[: len(trimmed_new) - _edge_blanks(trimmed_new[::-1][:trail])]
        placement = _locate(lines, old[lead: len(old) - trail], trimmed_new, expected, cursor)
        if placement is not None:
            how = "without the blank lines at its edges" + (f", {placement.how}" if placement.how else "")
            return Placement(placement.start, placement.end, placement.new, how, placement.occurrences,
                             placement.choice)
    return None


def _locate(lines: list[str], old: list[str], new: list[str], expected: int | None,
            cursor: int) -> Placement | None:
    for how, finder in (("", _exact), ("ignoring trailing whitespace", _trailing), ("", _indented)):
        hits = finder(lines, old)
        if hits:
            (start, shift), choice = _choose(hits, expected, cursor)
            if finder is _indented:
                how = f"ignoring indentation ({_describe(shift)})"
            return Placement(start, start + len(old), _shifted(new, shift), how, len(hits), choice)
    return None


def _exact(lines: list[str], old: list[str]) -> list[tuple[int, Shift]]:
    n = len(old)
    return [(i, Shift()) for i in range(len(lines) - n + 1) if lines[i] == old[0] and lines[i:i + n] == old]


def _trailing(lines: list[str], old: list[str]) -> list[tuple[int, Shift]]:
    return _exact([line.rstrip() for line in lines], [line.rstrip() for line in old])


def _indented(lines: list[str], old: list[str]) -> list[tuple[int, Shift]]:
    n = len(old)
    hits = []
    for i in range(len(lines) - n + 1):
        shift = _shift(lines[i:i + n], old)
        if shift is not None:
            hits.append((i, shift))
    return hits


def _shift(window: list[str], old: list[str]) -> Shift | None:
    """The prefix that turns `old` into `window` (or `window` into `old`), the same on every non-blank line."""
    first = next((k for k, line in enumerate(old) if line.strip()), None)
    if first is None or not window[first].strip():
        return None
    script_ws, edit_ws = _indent(window[first]), _indent(old[first])
    if len(script_ws) > len(edit_ws) and script_ws.endswith(edit_ws):
        shift = Shift(add=script_ws[: len(script_ws) - len(edit_ws)])
    elif len(edit_ws) > len(script_ws) and edit_ws.endswith(script_ws):
        shift = Shift(remove=edit_ws[: len(edit_ws) - len(script_ws)])
    else:
        return None
    for have, want in zip(window, old, strict=True):
        have, want = have.rstrip(), want.rstrip()
        if not want:
            if have:
                return None
        elif (shift.add and have != shift.add + want) or (shift.remove and want != shift.remove + have):
            return None
    return shift


def _shifted(new: list[str], shift: Shift) -> list[str]:
    if shift.add:
        return [shift.add + line if line.strip() else line for line in new]
    if shift.remove:
        return [line[len(shift.remove):] if line.startswith(shift.remove) else line.lstrip() for line in new]
    return list(new)


def _choose(hits: list[tuple[int, Shift]], expected: int | None,
            cursor: int) -> tuple[tuple[int, Shift], str]:
    if len(hits) == 1:
        return hits[0], ""
    if expected is not None:
        best = min(hits, key=lambda hit: (abs(hit[0] - expected), hit[0]))
        return best, f"it occurs {len(hits)} times: used the one nearest line {expected + 1}"
    later = [hit for hit in hits if hit[0] >= cursor]
    if later and cursor > 0:
        return later[0], f"it occurs {len(hits)} times: used the first after the previous edit"
    return hits[0], f"it occurs {len(hits)} times: used the first"


def _describe(shift: Shift) -> str:
    columns = shift.columns()
    return f"{abs(columns)} column(s) {'more' if columns > 0 else 'less'} in the script"


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _edge_blanks(lines: list[str]) -> int:
    count = 0
    for line in lines:
        if line.strip():
            break
        count += 1
    return count


def closest_line(lines: list[str], old: list[str]) -> str:
    """A hint for a note: the script's line most like the first non-blank line of `old`, if any is close."""
    first = next((line.strip() for line in old if line.strip()), "")
    stripped = [line.strip() for line in lines]
    close = difflib.get_close_matches(first, [s for s in stripped if s], n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; the closest line of the script is {quote(close[0], 120)}"


def first_lines(old: list[str], limit: int = 200) -> str:
    """The first non-blank lines of `old`, quoted within `limit` characters."""
    kept = [line.strip() for line in old if line.strip()][:3]
    return quote(" / ".join(kept), limit)


# ---------------------------------------------------------------- script lines

_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=]")


def split_script(code: str) -> tuple[list[str], bool]:
    """The script's lines (line endings normalised) and whether it ended with a newline."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    if not code:
        return [], False
    ends = code.endswith("\n")
    return (code[:-1] if ends else code).split("\n"), ends


def join_script(lines: list[str], newline: bool) -> str:
    return "\n".join(lines) + ("\n" if newline and lines else "")


def top_of_script(lines: list[str]) -> int:
    """Where code added "at the top" goes: after a shebang or encoding line, the module docstring and any
    `from __future__` imports (which must stay first)."""
    position = 0
    while position < len(lines) and ((position == 0 and lines[0].startswith("#!")) or
                                     (position < 2 and _CODING.match(lines[position]))):
        position += 1
    try:
        tree = parse_python("\n".join(lines))
    except (SyntaxError, ValueError):
        return position
    end = 0
    for k, node in enumerate(tree.body):
        docstring = k == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            end = node.end_lineno or end
        else:
            break
    return max(position, end)

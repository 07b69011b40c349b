"""The udiff format: the answer is a unified diff of the script (in a ```diff fence or bare; `--- a/x` and
`+++ b/x` headers optional), whose hunks are applied in order.

A hunk starts at an `@@ ... @@` line (`@@ -a,b +c,d @@`; the numbers may be missing or wrong) or, inside a
```diff fence or after a `---`/`+++` header pair, at the first line starting with "+", "-" or a space. Its lines
are kept (" "), removed ("-") or added ("+"); an empty line is a kept blank line (models drop the space); inside a
```diff fence a line with no prefix at all is a kept line that lost its space; `\\ No newline at end of file` is
ignored. Outside a diff fence, any other line (prose) ends the hunk, as do a fence, a header pair and `---`.

Each hunk's old side (kept and removed lines) is looked for in the script as the earlier hunks left it, with the
same whitespace-tolerant levels as search-replace (benchmark.edits._match). The line numbers are used only to
choose among several occurrences: the one nearest the header's line (shifted by what earlier hunks added or
removed). A hunk with no old side (only "+" lines) is inserted after the header's line, or at the top of the
script (after shebang, docstring and `from __future__` imports) when that is 0 or missing.

Outcomes as for search-replace: kind "udiff" (well_formed True); "edit.malformed" for an empty hunk, a hunk that
changes nothing, or a hunk cut off by the end of the answer (inside an unclosed fence, with fewer lines than its
header announces); "edit.no_match" naming the hunk whose old lines are not in the script; no hunk at all -> the
answer's complete fenced script read as a whole file, else "edit.malformed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..extract import clean_completion
from ..types import Extraction
from ._base import MALFORMED, NO_MATCH, UDIFF, EditFormat, edit_format
from ._match import closest_line, first_lines, join_script, locate, split_script, top_of_script
from ._whole import read_as_whole_file

_HEADER_NUMBERS = re.compile(r"^@@\s*-(\d+)(?:,(\d+))?\s+\+(\d+)(?:,(\d+))?\s*@@")
_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*([\w+\-.]*)")
DIFF_LANGS = {"diff", "patch", "udiff"}
MAX_DETAILS = 4


@dataclass
class Hunk:
    number: int
    old_start: int | None = None  # the header's first old line (1-based), when it has numbers
    old_count: int | None = None
    new_count: int | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)

    @property
    def old(self) -> list[str]:
        return [text for op, text in self.lines if op != "+"]

    @property
    def new(self) -> list[str]:
        return [text for op, text in self.lines if op != "-"]


class Malformed(Exception):
    """The diff cannot be read; the message names the hunk and what is wrong."""


@edit_format("udiff")
class UnifiedDiff(EditFormat):
    def apply(self, completion_text: str, current_code: str, merge_elided: bool = False) -> Extraction:
        try:
            hunks = parse_hunks(clean_completion(completion_text))
        except Malformed as problem:
            return Extraction(code=None, kind=MALFORMED, note=str(problem), well_formed=False)
        if not hunks:
            return read_as_whole_file(completion_text, current_code, merge_elided, "diff hunk (@@ ... @@)")
        return apply_hunks(hunks, current_code)


class _Reader:
    """Reads hunks line by line, remembering whether it is inside a fence and which kind."""

    def __init__(self) -> None:
        self.hunks: list[Hunk] = []
        self.current: Hunk | None = None
        self.fence: str | None = None  # the open fence's language ("" for a bare fence), None outside fences
        self.after_header = False

    @property
    def in_diff_fence(self) -> bool:
        return self.fence in DIFF_LANGS

    def close(self) -> None:
        hunk, self.current = self.current, None
        if hunk is None:
            return
        while hunk.lines and hunk.lines[-1] == (" ", ""):
            hunk.lines.pop()  # blank lines after a hunk separate it from what follows
        if not hunk.lines:
            raise Malformed(f"hunk {hunk.number} is empty: its @@ line is followed by no diff line")
        if not any(op != " " for op, _ in hunk.lines):
            raise Malformed(f"hunk {hunk.number} changes nothing: none of its lines starts with + or -")
        self.hunks.append(hunk)

    def open(self, header: str | None) -> None:
        self.close()
        self.current = Hunk(number=len(self.hunks) + 1)
        numbers = _HEADER_NUMBERS.match(header or "")
        if numbers:
            a, b, _, d = numbers.groups()
            self.current.old_start, self.current.old_count = int(a), int(b) if b is not None else 1
            self.current.new_count = int(d) if d is not None else 1

    def read(self, line: str) -> None:
        if self.current is None:
            if (self.after_header or self.in_diff_fence) and line[:1] in "+- " and line.strip():
                self.open(None)
            else:
                return
        op = line[:1]
        if op in ("+", "-", " "):
            self.current.lines.append((op, line[1:]))
        elif op == "\\":
            pass  # "\ No newline at end of file"
        elif not line.strip():
            self.current.lines.append((" ", ""))
        elif self.in_diff_fence:
            self.current.lines.append((" ", line))  # a kept line that lost its leading space
        else:
            self.close()  # prose after the diff


def parse_hunks(text: str) -> list[Hunk]:
    """The hunks of the diff in `text`, in order; Malformed when one cannot be applied as written."""
    reader = _Reader()
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            reader.close()
            reader.fence = None if reader.fence is not None else fence.group(1).lower()
            reader.after_header = False
        elif line.startswith("---") and i + 1 < len(lines) and lines[i + 1].startswith("+++"):
            reader.close()
            reader.after_header = True
            i += 1
        elif line.startswith("@@"):
            reader.open(line)
        elif line.strip() in ("---", "+++") and reader.current is not None:
            reader.close()  # a Markdown rule after the diff
        else:
            reader.read(line)
        i += 1
    if reader.current is not None and reader.fence is not None:
        _refuse_cut_off(reader.current)
    reader.close()
    return reader.hunks


def _refuse_cut_off(hunk: Hunk) -> None:
    """The answer ended inside an open fence: a hunk shorter than its header announces was cut off."""
    if hunk.old_count is None:
        return
    old, new = len(hunk.old), len(hunk.new)
    if old < hunk.old_count or new < hunk.new_count:
        raise Malformed(f"hunk {hunk.number} is cut off: the answer ends inside it (its header announces "
                        f"{hunk.old_count} old and {hunk.new_count} new lines, it has {old} and {new})")


def apply_hunks(hunks: list[Hunk], current_code: str) -> Extraction:
    """`current_code` with every hunk applied in order, or edit.no_match for the first that does not apply."""
    lines, newline = split_script(current_code)
    offset, cursor, details, misplaced = 0, 0, [], 0
    for hunk in hunks:
        old, new = hunk.old, hunk.new
        expected = hunk.old_start - 1 + offset if hunk.old_start else None
        if not any(line.strip() for line in old):
            added = [text for op, text in hunk.lines if op == "+"]
            at = top_of_script(lines) if not hunk.old_start else min(max(hunk.old_start + offset, 0), len(lines))
            lines[at:at] = added
            offset, cursor = offset + len(added), at + len(added)
            details.append(f"hunk {hunk.number}: no old lines, inserted at line {at + 1}")
            continue
        placement = locate(lines, old, new, expected=expected, cursor=cursor)
        if placement is None:
            note = (f"hunk {hunk.number} of {len(hunks)}: its old lines (kept and '-' lines) are not in the "
                    f"script: {first_lines(old)}{closest_line(lines, old)}")
            return Extraction(code=None, kind=NO_MATCH, note=note, well_formed=False)
        misplaced += expected is not None and placement.start != expected
        lines[placement.start:placement.end] = placement.new
        offset += len(placement.new) - (placement.end - placement.start)
        cursor = placement.start + len(placement.new)
        details += [f"hunk {hunk.number}: {what}" for what in (placement.how, placement.choice) if what]
    code = join_script(lines, newline)
    note = f"applied {len(hunks)} hunk(s)"
    if misplaced:
        note += f"; the line numbers of {misplaced} hunk header(s) were off (found by their lines)"
    note += "".join(f"; {d}" for d in details[:MAX_DETAILS])
    if len(details) > MAX_DETAILS:
        note += f"; ... ({len(details) - MAX_DETAILS} more)"
    return Extraction(code=code, kind=UDIFF, note=note, well_formed=True)

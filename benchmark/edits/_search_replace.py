"""The search-replace format: the answer holds blocks

    <<<<<<< SEARCH
    (lines copied from the current script)
    =======
    (the lines that replace them)
    >>>>>>> REPLACE

anywhere in its text (inside ```python fences or not, with prose around them), and they are applied in order.

Markers are read leniently (5 to 9 marker characters, any case, text after SEARCH/REPLACE ignored); a fence line
at the very start or end of a section is dropped. A `=======` line outside a block is prose (a Markdown underline).

Each SEARCH text is looked for in the script as the earlier blocks left it (benchmark.edits._match): exactly, then
ignoring trailing whitespace, then ignoring a uniform indentation difference (the replacement is re-indented by it).
A SEARCH text that occurs more than once is not refused: the first occurrence at or after the end of the previous
block's replacement is used (the prompt asks for blocks in the order of the script), else the first occurrence;
the note says so. An empty (or blank) SEARCH section inserts the replacement at the top of the script, after a
shebang, the module docstring and `from __future__` imports.

Outcomes: every block applied -> kind "search_replace" (well_formed True); a marker missing or out of place ->
"edit.malformed" naming the block and what is missing; a SEARCH text not in the script -> "edit.no_match" quoting
it; no block at all -> the answer's complete fenced script, read as a whole file (well_formed False), else
"edit.malformed" ("empty" for an empty completion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..extract import clean_completion
from ..types import Extraction
from ._base import MALFORMED, NO_MATCH, SEARCH_REPLACE, EditFormat, edit_format
from ._match import closest_line, first_lines, join_script, locate, split_script, top_of_script
from ._whole import read_as_whole_file

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})[\w+\-. ]*$")
MAX_DETAILS = 4  # per-block details kept in a note


@dataclass(frozen=True)
class Block:
    search: list[str]
    replace: list[str]


class Malformed(Exception):
    """The blocks cannot be read; the message names the block and what is wrong."""


@edit_format("search-replace")
class SearchReplace(EditFormat):
    def apply(self, completion_text: str, current_code: str, merge_elided: bool = False) -> Extraction:
        try:
            blocks = parse_blocks(clean_completion(completion_text))
        except Malformed as problem:
            return Extraction(code=None, kind=MALFORMED, note=str(problem), well_formed=False)
        if not blocks:
            return read_as_whole_file(completion_text, current_code, merge_elided, "SEARCH/REPLACE block")
        return apply_blocks(blocks, current_code)


def parse_blocks(text: str) -> list[Block]:
    """The SEARCH/REPLACE blocks of `text`, in order; Malformed when a marker is missing or out of place."""
    blocks: list[Block] = []
    section: str | None = None  # None outside a block, else "search" or "replace"
    search: list[str] = []
    replace: list[str] = []
    for line in text.split("\n"):
        number = len(blocks) + 1
        if _SEARCH.match(line):
            if section is not None:
                raise Malformed(f"block {number}: a new <<<<<<< SEARCH starts before this block's "
                                f"{_next_marker(section)}")
            section, search, replace = "search", [], []
        elif _DIVIDER.match(line) and section is not None:
            if section == "replace":
                raise Malformed(f"block {number}: a second ======= divider (one block has one)")
            section = "replace"
        elif _REPLACE.match(line):
            if section is None:
                raise Malformed(f"block {number}: >>>>>>> REPLACE without a <<<<<<< SEARCH before it")
            if section == "search":
                raise Malformed(f"block {number}: no ======= divider between SEARCH and REPLACE")
            blocks.append(Block(_unfenced(search), _unfenced(replace)))
            section = None
        elif section == "search":
            search.append(line)
        elif section == "replace":
            replace.append(line)
    if section is not None:
        raise Malformed(f"block {len(blocks) + 1}: the answer ends before this block's {_next_marker(section)} "
                        "(was it cut off?)")
    return blocks


def _next_marker(section: str) -> str:
    return "======= divider" if section == "search" else ">>>>>>> REPLACE marker"


def _unfenced(lines: list[str]) -> list[str]:
    if lines and _FENCE.match(lines[0]):
        lines = lines[1:]
    if lines and _FENCE.match(lines[-1]):
        lines = lines[:-1]
    return lines


def apply_blocks(blocks: list[Block], current_code: str) -> Extraction:
    """`current_code` with every block applied in order, or edit.no_match for the first that does not apply."""
    lines, newline = split_script(current_code)
    cursor, details = 0, []
    for number, block in enumerate(blocks, 1):
        if not any(line.strip() for line in block.search):
            top = top_of_script(lines)
            lines[top:top] = block.replace
            cursor = top + len(block.replace)
            details.append(f"block {number}: empty SEARCH, inserted at the top")
            continue
        placement = locate(lines, block.search, block.replace, cursor=cursor)
        if placement is None:
            note = (f"block {number} of {len(blocks)}: SEARCH text not found in the script: "
                    f"{first_lines(block.search)}{closest_line(lines, block.search)}")
            return Extraction(code=None, kind=NO_MATCH, note=note, well_formed=False)
        lines[placement.start:placement.end] = placement.new
        cursor = placement.start + len(placement.new)
        details += [f"block {number}: {what}" for what in (placement.how, placement.choice) if what]
    code = join_script(lines, newline)
    note = f"applied {len(blocks)} SEARCH/REPLACE block(s)" + "".join(f"; {d}" for d in details[:MAX_DETAILS])
    if len(details) > MAX_DETAILS:
        note += f"; ... ({len(details) - MAX_DETAILS} more)"
    if code == current_code.replace("\r\n", "\n"):
        note += "; the blocks change nothing"
    return Extraction(code=code, kind=SEARCH_REPLACE, note=note, well_formed=True)

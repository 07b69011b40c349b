"""Edit formats: how the model is asked to answer, and how its answer becomes the new script.

    from benchmark.edits import get_edit_format, verdict_without_code, repair_instructions

    extraction = get_edit_format("search-replace").apply(completion.text, current_code, merge_elided=True)
    verdict = verdict_without_code(extraction)  # None: there is a script to execute

- `whole`           the complete script (the study's format; benchmark.extract). With `merge_elided`, an answer that
                    leaves unchanged parts out ("# ... rest unchanged") is merged with the input where that is
                    unambiguous: kind "merged"; else it stays "elided" and the note says why (see _merge.py).
- `search-replace`  `<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE` blocks applied in order: kind "search_replace".
- `udiff`           a unified diff whose hunks are found by their lines, not their numbers: kind "udiff".

An edit that cannot be read is "edit.malformed", one whose old text is not in the script "edit.no_match"; both have
code None and are judged without execution by `verdict_without_code` (category edit_failed). `well_formed` is True
for an edit that applied, False for any other answer of an edit format (including one read as a whole file), and
None for the whole format. The prompt texts of each format (system sentence, output rule, answer header, repair
reminder) are the marked sections of prompts/edit_formats/<name>.md.

Adding a format: subclass `EditFormat`, implement `apply`, decorate it with `@edit_format("name")` and write
prompts/edit_formats/<name>.md with the sections system, rules, header and repair.
"""

from __future__ import annotations

from . import _search_replace, _udiff, _whole  # noqa: F401  (the built-in formats register themselves)
from ._base import (
    EDIT_FAILURE_KINDS,
    EDIT_FORMATS,
    MALFORMED,
    MERGED,
    NO_MATCH,
    SEARCH_REPLACE,
    UDIFF,
    EditFormat,
    FormatTexts,
    edit_format,
    get_edit_format,
    load_format_texts,
    repair_instructions,
    verdict_without_code,
)
from ._merge import MergeResult, merge_elided
from ._search_replace import SearchReplace
from ._udiff import UnifiedDiff
from ._whole import WholeFile

__all__ = [
    "EDIT_FAILURE_KINDS", "EDIT_FORMATS", "MALFORMED", "MERGED", "NO_MATCH", "SEARCH_REPLACE", "UDIFF",
    "EditFormat", "FormatTexts", "MergeResult", "SearchReplace", "UnifiedDiff", "WholeFile", "edit_format",
    "get_edit_format", "load_format_texts", "merge_elided", "repair_instructions", "verdict_without_code",
]

"""The whole-file format: the answer is the complete new script (the study's format)."""

from __future__ import annotations

from ..extract import ELIDED, EMPTY, FENCED, MULTIPLE, extract_code, extract_unchecked
from ..types import Extraction
from ._base import MALFORMED, MERGED, EditFormat, edit_format
from ._merge import merge_elided


@edit_format("whole")
class WholeFile(EditFormat):
    """`benchmark.extract.extract_code`; with `merge_elided`, an answer that leaves unchanged parts out is merged
    with the input where that is unambiguous (kind "merged"), else it stays "elided" with the reason."""

    def apply(self, completion_text: str, current_code: str, merge_elided: bool = False) -> Extraction:
        extraction = extract_code(completion_text, current_code)
        if extraction.kind != ELIDED or not merge_elided:
            return extraction
        return merge_into(extraction, completion_text, current_code)


def merge_into(elided: Extraction, completion_text: str, current_code: str) -> Extraction:
    """The merged extraction of an answer `extract_code` found elided, or `elided` with why it was not merged."""
    answer = extract_unchecked(completion_text, current_code)
    if answer.code is None:  # cannot happen for an elided answer; kept so a change in extract cannot crash here
        return elided
    merged = merge_elided(answer.code, current_code)
    if merged.code is None:
        return Extraction(code=None, kind=ELIDED, note=f"{elided.note}; not merged: {merged.note}")
    return Extraction(code=merged.code, kind=MERGED, note=f"{merged.note}; the answer was {answer.kind}, with "
                      f"parts left out")


COMPLETE_SHARE = 0.5  # a script that keeps less of the input's lines than this is a fragment, not the whole file
_SCRIPT_KINDS = frozenset({FENCED, MULTIPLE, MERGED})


def read_as_whole_file(completion_text: str, current_code: str, merge_elided: bool, missing: str) -> Extraction:
    """An edit-format answer without any edit (`missing` names what was looked for): its complete fenced script
    if it has one (well_formed False), else edit.malformed; an empty completion keeps the kind "empty"."""
    whole = WholeFile().apply(completion_text, current_code, merge_elided)
    if whole.kind == EMPTY:
        return whole.model_copy(update={"well_formed": False})
    if whole.code is not None and whole.kind in _SCRIPT_KINDS:
        kept = _share_kept(whole.code, current_code)
        if kept >= COMPLETE_SHARE:
            note = "no edit blocks: the answer was read as a whole file" + (f"; {whole.note}" if whole.note else "")
            return whole.model_copy(update={"note": note, "well_formed": False})
        why = f"its Python block keeps only {kept:.0%} of the script's lines, so it is a fragment, not the script"
    else:
        why = f"read as a whole file it is {whole.kind}" + (f" ({whole.note})" if whole.note else "")
    return Extraction(code=None, kind=MALFORMED, note=f"no {missing} in the answer; {why}", well_formed=False)


def _share_kept(code: str, current_code: str) -> float:
    """The share of the input's distinct non-blank lines (stripped) that `code` still holds."""
    wanted = {line.strip() for line in current_code.splitlines() if line.strip()}
    if not wanted:
        return 1.0
    have = {line.strip() for line in code.splitlines()}
    return len(wanted & have) / len(wanted)

"""The edit-format extension point: an abstract class, its registry and decorator, the prompt texts of a format
(read from prompts/edit_formats/<name>.md) and the verdict of an answer that left nothing to run."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import AdaptbenchError
from ..extract import verdict_for
from ..registry import Registry
from ..types import Extraction, FailureCategory, Status, Verdict

# kinds an edit format adds to those of benchmark.extract
SEARCH_REPLACE, UDIFF, MERGED = "search_replace", "udiff", "merged"
MALFORMED, NO_MATCH = "edit.malformed", "edit.no_match"
EDIT_FAILURE_KINDS = frozenset({MALFORMED, NO_MATCH})

FORMATS_SUBDIR = "edit_formats"
SECTIONS = ("system", "rules", "header", "repair")
_SECTION = re.compile(r"^<!--\s*section:\s*([a-z-]+)\s*-->[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class FormatTexts:
    """What a prompt says about the answer's format: the system message's last sentence, the output rule(s),
    the header the prompt ends with, and the reminder a repair round appends."""

    system: str
    rules: str
    header: str
    repair: str


class EditFormat(ABC):
    """How the model is asked to answer, and how its answer becomes the new script."""

    name: ClassVar[str]

    @abstractmethod
    def apply(self, completion_text: str, current_code: str, merge_elided: bool = False) -> Extraction:
        """The script that results from the answer `completion_text` applied to `current_code`."""

    def texts(self, prompts_dir: Path | None = None) -> FormatTexts:
        return load_format_texts(self.name, prompts_dir)

    def instructions(self, prompts_dir: Path | None = None) -> str:
        """The output rule that asks for this format (the `rules` section of its .md file)."""
        return self.texts(prompts_dir).rules

    def repair_instructions(self, prompts_dir: Path | None = None) -> str:
        return self.texts(prompts_dir).repair


EDIT_FORMATS: Registry[EditFormat] = Registry("edit format", EditFormat)


def edit_format(name: str):
    """Class decorator: register an EditFormat under `name` (also set as its `name`)."""

    def decorator(cls: type[EditFormat]) -> type[EditFormat]:
        cls.name = name
        return EDIT_FORMATS.register(name)(cls)

    return decorator


def get_edit_format(name: str) -> EditFormat:
    """An instance of the format `name`; an unknown name is an UnknownNameError listing the formats."""
    return EDIT_FORMATS.get(name)()


def repair_instructions(name: str, prompts_dir: Path | None = None) -> str:
    """The sentence(s) a repair round appends to remind the model of the answer format `name`."""
    return get_edit_format(name).repair_instructions(prompts_dir)


def load_format_texts(name: str, prompts_dir: Path | None = None) -> FormatTexts:
    """The marked sections (`<!-- section: NAME -->`) of prompts/edit_formats/<name>.md."""
    folder = _prompts_dir(prompts_dir)
    if not folder.is_dir():
        raise AdaptbenchError(f"prompts folder {folder} does not exist",
                              "unset ADAPTBENCH_PROMPTS_DIR or point it at a folder holding the templates")
    path = folder / FORMATS_SUBDIR / f"{name}.md"
    if not path.is_file():
        raise AdaptbenchError(f"the prompt text of edit format '{name}' is missing: {path}",
                              f"write {path} with the sections {', '.join(SECTIONS)}, or point "
                              "ADAPTBENCH_PROMPTS_DIR at a complete prompts folder")
    parts = _SECTION.split(path.read_text())
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    missing = [s for s in SECTIONS if not sections.get(s)]
    if missing:
        raise AdaptbenchError(f"{path}: no (or an empty) section {', '.join(missing)}",
                              "mark each section with a line '<!-- section: NAME -->' followed by its text")
    return FormatTexts(**{s: sections[s] for s in SECTIONS})


def _prompts_dir(prompts_dir: Path | None) -> Path:
    if prompts_dir is not None:
        return Path(prompts_dir)
    from ..prompts import default_prompts_dir  # benchmark.prompts imports this package: look it up at call time

    return default_prompts_dir()


def verdict_without_code(extraction: Extraction) -> Verdict | None:
    """The verdict of a sample judged without execution, for every extraction kind: an edit that is malformed
    or does not apply is an edit failure; the whole-file kinds without code are benchmark.extract's no_code
    verdicts; None when there is a script to run."""
    if extraction.kind in EDIT_FAILURE_KINDS:
        return Verdict(status=Status.failed, category=FailureCategory.edit_failed, code=extraction.kind,
                       reason=extraction.note or f"the edit could not be applied ({extraction.kind})")
    return verdict_for(extraction)


def quote(text: str, limit: int = 200) -> str:
    """`text` as a quoted string for a note, at most `limit` characters long (cut with "...")."""
    text = text.strip()
    quoted = repr(text)
    while len(quoted) > limit and text:
        text = text[: max(0, len(text) - max(8, len(quoted) - limit))].rstrip()
        quoted = repr(text + "...")
    return quoted

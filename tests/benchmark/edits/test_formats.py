"""The edit-format registry, the prompt texts of each format, and one verdict function for every kind."""

from __future__ import annotations

import shutil

import pytest

from benchmark.edits import (
    EDIT_FORMATS,
    EditFormat,
    edit_format,
    get_edit_format,
    load_format_texts,
    repair_instructions,
    verdict_without_code,
)
from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.prompts import default_prompts_dir
from benchmark.types import Extraction, FailureCategory, Status

MARKERS = {"whole": ["```python", "COMPLETE"], "search-replace": ["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"],
           "udiff": ["```diff", "@@", "+", "-"]}


def test_the_built_in_formats_are_registered_under_their_names():
    assert EDIT_FORMATS.names() == ["search-replace", "udiff", "whole"]
    for name in EDIT_FORMATS.names():
        assert get_edit_format(name).name == name


def test_an_unknown_format_lists_the_formats():
    with pytest.raises(UnknownNameError) as info:
        get_edit_format("search_replace")
    assert "unknown edit format 'search_replace'" in str(info.value)
    assert "did you mean search-replace" in info.value.hint and "udiff" in info.value.hint


def test_a_plugin_format_registers_with_the_decorator(monkeypatch):
    monkeypatch.setattr(EDIT_FORMATS, "_entries", dict(EDIT_FORMATS._entries))

    @edit_format("uppercase")
    class Uppercase(EditFormat):
        def apply(self, completion_text, current_code, merge_elided=False):
            return Extraction(code=current_code.upper(), kind="uppercase")

    assert get_edit_format("uppercase").apply("", "x = 1").code == "X = 1"
    assert Uppercase.name == "uppercase" and "uppercase" in EDIT_FORMATS.names()


@pytest.mark.parametrize("name", ["whole", "search-replace", "udiff"])
def test_each_format_has_its_prompt_texts(name):
    texts = load_format_texts(name)
    for marker in MARKERS[name]:
        assert marker in texts.rules, (name, marker)
    assert get_edit_format(name).instructions() == texts.rules
    assert texts.header.startswith("##") and texts.header.endswith(":")
    assert repair_instructions(name) == texts.repair and len(texts.repair) < 300
    if name != "whole":
        assert "EXACTLY" in texts.rules and "Do NOT repeat" in texts.rules
        assert "not with the whole script" in texts.rules
        assert "edit" in texts.system


def test_repair_reminders_name_the_format():
    assert repair_instructions("search-replace").startswith("Reply with SEARCH/REPLACE blocks against the script")
    assert "```diff" in repair_instructions("udiff")
    assert "complete" in repair_instructions("whole")


def test_a_missing_or_incomplete_format_file_says_how_to_fix(tmp_path):
    folder = tmp_path / "prompts"
    shutil.copytree(default_prompts_dir(), folder)
    (folder / "edit_formats" / "udiff.md").unlink()
    with pytest.raises(AdaptbenchError, match="the prompt text of edit format 'udiff' is missing") as info:
        load_format_texts("udiff", folder)
    assert "system, rules, header, repair" in info.value.hint
    path = folder / "edit_formats" / "search-replace.md"
    path.write_text(path.read_text().replace("<!-- section: repair -->", "<!-- repair -->"))
    with pytest.raises(AdaptbenchError, match="no \\(or an empty\\) section repair"):
        load_format_texts("search-replace", folder)


@pytest.mark.parametrize(("kind", "category", "code"), [
    ("edit.malformed", FailureCategory.edit_failed, "edit.malformed"),
    ("edit.no_match", FailureCategory.edit_failed, "edit.no_match"),
    ("elided", FailureCategory.no_code, "extract.elided"),
    ("truncated", FailureCategory.no_code, "extract.truncated"),
    ("no_code", FailureCategory.no_code, "extract.no_code"),
    ("empty", FailureCategory.no_code, "extract.empty"),
])
def test_verdict_without_code_covers_every_kind_without_code(kind, category, code):
    verdict = verdict_without_code(Extraction(code=None, kind=kind, note=f"why {kind}", well_formed=False))
    assert (verdict.status, verdict.category, verdict.code, verdict.reason) == (Status.failed, category, code,
                                                                                 f"why {kind}")


@pytest.mark.parametrize("kind", ["search_replace", "udiff", "merged", "fenced", "multiple_blocks", "bare"])
def test_verdict_without_code_is_none_when_there_is_a_script(kind):
    assert verdict_without_code(Extraction(code="print(1)", kind=kind)) is None

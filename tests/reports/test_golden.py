"""Golden files: the Markdown report, the LaTeX tables and the CSV of cells for the factory's fixed run.

To regenerate after an intended change, run
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports/test_golden.py
then review the diff of tests/reports/golden/ before committing it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reports import write_report

from .conftest import GOLDEN
from .latex_check import compile_errors, pdflatex, structural_errors

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CASES = [  # (golden file, file written by write_report, ci)
    ("report.md", "report.md", False),
    ("tables.tex", "tables.tex", False),
    ("cells.csv", "cells.csv", False),
    ("report_ci.md", "report.md", True),
    ("tables_ci.tex", "tables.tex", True),
]


@pytest.fixture(scope="module")
def outputs(golden_run, tmp_path_factory) -> dict[tuple[str, bool], Path]:
    out = {}
    for ci in (False, True):
        folder = tmp_path_factory.mktemp(f"report-ci-{ci}")
        for path in write_report(golden_run, ("md", "tex", "csv"), ci=ci, out_dir=folder,
                                 prices_path=GOLDEN / "prices.toml"):
            out[(path.name, ci)] = path
    return out


@pytest.mark.parametrize("golden,written,ci", CASES)
def test_matches_golden(outputs, golden, written, ci):
    actual = outputs[(written, ci)].read_text()
    target = GOLDEN / golden
    if UPDATE:
        target.write_text(actual)
        pytest.skip(f"updated {target}")
    assert target.exists(), f"missing golden file {target}; run with UPDATE_GOLDEN=1 and review it"
    assert actual == target.read_text(), f"{written} differs from {target}; if intended, regenerate (see module doc)"


@pytest.mark.parametrize("ci", [False, True])
def test_latex_is_well_formed(outputs, ci, tmp_path):
    tex = outputs[("tables.tex", ci)]
    assert structural_errors(tex.read_text()) == []
    if pdflatex() is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended); "
                    "the structural check ran")
    shutil.copy(tex, tmp_path / "tables.tex")
    assert compile_errors(tmp_path / "tables.tex") is None


def test_structural_check_catches_defects():
    good = "\\begin{tabular}{lc}\\toprule a & b \\\\ \\bottomrule\\end{tabular}"
    assert structural_errors(good) == []
    assert structural_errors(good.replace("a & b", "a & b & c"))  # too many columns
    assert structural_errors(good.replace("a &", "a_x &"))  # unescaped underscore
    assert structural_errors(good + "{")  # unbalanced brace
    assert structural_errors(good.replace("\\end{tabular}", "\\end{table}"))  # mismatched environment
    assert structural_errors("\\begin{tabular}{lc}\\multicolumn{3}{c}{x} \\\\\\end{tabular}")  # span too wide


def test_csv_has_every_cell(outputs, golden_run):
    import csv

    from benchmark.metrics import DEFAULT_GROUP, axis_value
    from reports import load_run

    rows = list(csv.DictReader(outputs[("cells.csv", False)].open()))
    expected = {tuple(axis_value(r, a) for a in DEFAULT_GROUP) for r in load_run(golden_run).records}
    assert len(rows) == len(expected)
    short = [r for r in rows if r["framework"] == "sklearn" and r["component"] == "optuna" and r["temperature"] == "1"
             and r["setting"] == "zero-shot" and r["model"] == "wizardcoder_15b"]
    assert len(short) == 1 and short[0]["pass@3"] == "" and short[0]["pass@1"] != ""

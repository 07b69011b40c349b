"""`write_report`: every output of a run (md, tex, csv, json, html, png) under <run_dir>/report/."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BadOptionError

from ._counts import CountTable, UsageRow, failure_tables, load_prices, usage_rows
from ._html import load_input_codes, render_index, write_html
from ._labels import fmt_temperature
from ._latex import render_document_tex
from ._load import ReportError, Run, load_run
from ._loop import LoopContent, cost_note, loop_content
from ._markdown import (
    EDITS_NOTE,
    ROUNDS_NOTE,
    md_escape,
    render_costs_md,
    render_counts_md,
    render_edits_md,
    render_rounds_md,
    render_table_md,
    render_usage_md,
)
from ._plots import COST_PLOT, render_plots
from ._tables import GROUP_AXES, CellStat, Table, build_tables, cell_stats, choose_k
from ._tabular import (
    cells_csv,
    cells_json,
    costs_csv,
    edits_csv,
    failures_csv,
    loop_json,
    round_failures_csv,
    rounds_csv,
    usage_csv,
)

log = logging.getLogger(__name__)

FORMATS = ("md", "tex", "csv", "json", "html", "png")
REPORT_DIR = "report"
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class ReportContent:
    """Everything the renderers need, computed once."""

    run: Run
    k: int
    ks: tuple[int, ...]
    ci: bool
    stats: list[CellStat]
    tables: list[Table]
    failures: list[CountTable]
    usage_by_model: list[UsageRow]
    usage_by_cell: list[UsageRow]
    loop: LoopContent


def parse_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """'md,tex' or ['md', 'tex'] -> ('md', 'tex'); an unknown format is a BadOptionError naming the valid ones."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    for fmt in chosen:
        if fmt not in FORMATS:
            close = difflib.get_close_matches(fmt, FORMATS, n=1)
            raise BadOptionError(f"unknown report format '{fmt}'",
                                 (f"did you mean '{close[0]}'? " if close else "") + f"choose from: {','.join(FORMATS)}")
    if not chosen:
        raise BadOptionError("no report format given", f"choose from: {','.join(FORMATS)}")
    return chosen


def build_content(run: Run, k: int | None = None, ci: bool = False, prices_path: str | Path | None = None) -> ReportContent:
    if not run.records:
        raise ReportError(f"{run.path}: the run has no samples to report on", "run the benchmark first (adaptbench run)")
    chosen = choose_k(run.spec, k)
    ks = tuple(sorted(set(run.spec.k) | {chosen}))
    stats = cell_stats(run.records, ks, ci)
    prices = load_prices(prices_path)
    return ReportContent(run=run, k=chosen, ks=ks, ci=ci, stats=stats, tables=build_tables(stats, chosen, run.spec),
                         failures=failure_tables(run.records, run.spec),
                         usage_by_model=usage_rows(run.records, ("model",), prices, run.spec),
                         usage_by_cell=usage_rows(run.records, GROUP_AXES, prices, run.spec),
                         loop=loop_content(run.records, run.spec, prices))


def render_report_md(content: ReportContent, plot_link: str | None = None) -> str:
    """The Markdown report; `plot_link` is the relative path of the accuracy-against-cost PNG, when written."""
    spec = content.run.spec
    parts = [f"# adaptbench report: {md_escape(spec.run_id)}", "",
             f"- models: {md_escape(', '.join(spec.models))}",
             f"- temperatures: {', '.join(fmt_temperature(t) for t in spec.temperatures)}",
             f"- settings: {', '.join(s.value for s in spec.settings)}; retrievals: {md_escape(', '.join(spec.retrievals))}",
             f"- n = {spec.n}, reported k = {content.k}, tasks = {len(spec.tasks)}, samples = {len(content.run.records)}",
             f"- git sha: {spec.git_sha or 'unknown'}", "", f"## Pass@{content.k}"]
    for table in content.tables:
        parts += ["", f"### {md_escape(table.title)}", "", render_table_md(table, content.ci)]
    parts += _loop_md(content.loop)
    parts += ["", "## Failure analysis"]
    for counts in content.failures:
        parts += ["", f"### {md_escape(counts.title)}", "", render_counts_md(counts)]
    parts += ["", "## Cost and usage", "", render_usage_md(content.usage_by_model, ("model",)), "",
              ("Tokens and latency summed over each sample's attempts. Cost (USD): what the attempts recorded; for "
               "records from before costs were recorded, tokens at the price table's prices, blank where a model has "
               "no price. Per-cell usage: usage.csv.")]
    parts += _cost_md(content, plot_link)
    return "\n".join(parts) + "\n"


def _loop_md(loop: LoopContent) -> list[str]:
    parts: list[str] = []
    if loop.show_rounds:
        parts += ["", "## Rounds", "", "### Pass@1 after round r", "", render_rounds_md(loop.rounds), "",
                  md_escape(ROUNDS_NOTE), "", f"### {md_escape(loop.round_failures.title)}", "",
                  render_counts_md(loop.round_failures)]
    if loop.show_edits:
        parts += ["", "## Edits", "", render_edits_md(loop.edits, loop.edit_axes), "", md_escape(EDITS_NOTE)]
    return parts


def _cost_md(content: ReportContent, plot_link: str | None) -> list[str]:
    loop = content.loop
    parts = ["", "## Cost against success", "", render_costs_md(loop.costs, loop.axes), "",
             md_escape(cost_note(content.run.spec))]
    if plot_link:
        parts += ["", f"![Accuracy against cost, with the Pareto front]({plot_link})"]
    return parts


def write_report(run_dir: str | Path, formats: str | Sequence[str] = FORMATS, ci: bool = False,
                 out_dir: str | Path | None = None, *, k: int | None = None, prices_path: str | Path | None = None,
                 tasks_dir: str | Path | None = None) -> list[Path]:
    """Write the chosen formats for the run in `run_dir` into `out_dir` (default <run_dir>/report/); returns the files."""
    chosen = parse_formats(formats)
    content = build_content(load_run(run_dir), k, ci, prices_path)
    out = Path(out_dir) if out_dir else content.run.path / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    plots = render_plots(content.stats, content.run.records, content.k, content.run.spec, content.loop.costs,
                         content.loop.axes) if {"png", "html"} & set(chosen) else {}
    extras = _Extras(plots=plots, tasks_dir=Path(tasks_dir) if tasks_dir else None,
                     plot_link=f"{PLOTS_DIR}/{COST_PLOT}" if "png" in chosen else None)
    written: list[Path] = []
    for fmt in chosen:
        written += _WRITERS[fmt](content, out, extras)
    log.info("report for %s: %d files in %s", content.run.run_id, len(written), out)
    return written


@dataclass(frozen=True)
class _Extras:
    plots: dict[str, bytes]
    tasks_dir: Path | None
    plot_link: str | None = None


def _write(path: Path, text: str) -> list[Path]:
    path.write_text(text, encoding="utf-8")
    return [path]


def _write_md(c: ReportContent, out: Path, x: _Extras) -> list[Path]:
    return _write(out / "report.md", render_report_md(c, x.plot_link))


def _write_tex(c: ReportContent, out: Path, _x: _Extras) -> list[Path]:
    return _write(out / "tables.tex", render_document_tex(c.tables, c.run.run_id, c.ci, c.loop.costs, c.loop.axes,
                                                          cost_note(c.run.spec)))


def _write_csv(c: ReportContent, out: Path, _x: _Extras) -> list[Path]:
    loop = c.loop
    return (_write(out / "cells.csv", cells_csv(c.stats, c.ks, c.ci)) + _write(out / "failures.csv", failures_csv(c.run.records))
            + _write(out / "usage.csv", usage_csv(c.usage_by_cell, GROUP_AXES))
            + _write(out / "costs.csv", costs_csv(loop.costs, loop.axes))
            + _write(out / "rounds.csv", rounds_csv(loop.rounds))
            + _write(out / "round_failures.csv", round_failures_csv(loop.round_failures))
            + _write(out / "edits.csv", edits_csv(loop.edits, loop.edit_axes)))


def _write_json(c: ReportContent, out: Path, _x: _Extras) -> list[Path]:
    return (_write(out / "cells.json", cells_json(c.stats, c.run.run_id, c.k, c.ks, c.ci))
            + _write(out / "loop.json", loop_json(c.run.run_id, c.loop.rounds, c.loop.edits, c.loop.edit_axes,
                                                  c.loop.costs, c.loop.axes)))


def _write_png(c: ReportContent, out: Path, x: _Extras) -> list[Path]:
    (out / PLOTS_DIR).mkdir(exist_ok=True)
    written = []
    for name, data in x.plots.items():
        (out / PLOTS_DIR / name).write_bytes(data)
        written.append(out / PLOTS_DIR / name)
    return written


def _write_html(c: ReportContent, out: Path, x: _Extras) -> list[Path]:
    index = render_index(c.run, c.k, c.tables, c.ci, x.plots, c.failures, c.usage_by_model, ("model",), c.loop)
    codes = load_input_codes({r.key.task_id for r in c.run.records}, x.tasks_dir)
    return write_html(out, index, c.run.records, codes)


_WRITERS = {"md": _write_md, "tex": _write_tex, "csv": _write_csv, "json": _write_json, "png": _write_png,
            "html": _write_html}

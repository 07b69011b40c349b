"""GitHub-flavoured Markdown: the Pass@k tables, failure analysis, usage, and the compact end-of-run summary."""

from __future__ import annotations

from collections.abc import Sequence

from benchmark.types import RunSpec, SampleRecord

from ._counts import CountTable, UsageRow
from ._labels import (
    AXIS_LABELS,
    STUDY_TABLES,
    col_label,
    fmt_percent,
    fmt_usd,
    label,
    row_labels,
)
from ._loop import CostRow, EditRow, RoundTable
from ._tables import (
    OPTIONAL_LOOP_ROWS,
    CellStat,
    Shape,
    Table,
    cell_stats,
    layout_table,
)

_MD_SPECIAL = str.maketrans({"|": "\\|", "\\": "\\\\", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
                             "<": "&lt;", ">": "&gt;", "\n": " "})


def md_escape(text: object) -> str:
    return str(text).translate(_MD_SPECIAL)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A pipe table; `align` holds 'l' or 'r' per column (default: first column left, others right)."""
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    rule = ["---" if a == "l" else "--:" for a in align]
    lines = [_md_row(headers), _md_row(rule, escape=False)]
    lines += [_md_row(r) for r in rows]
    return "\n".join(lines)


def _md_row(cells: Sequence[str], escape: bool = True) -> str:
    return "| " + " | ".join(md_escape(c) if escape else c for c in cells) + " |"


def table_caption(table: Table, with_ci: bool) -> str:
    study = STUDY_TABLES.get(table.functionality)
    ref = f" (cf. the study's Table {study})" if study else ""
    ci = ", [95% bootstrap CI over tasks]" if with_ci else ""
    return (f"Pass@{table.k} (%) per cell, (number of tasks){ci}; – where a task has fewer than {table.k} samples"
            f"{ref}.")


def cell_md(stat: CellStat | None, k: int, with_ci: bool) -> str:
    if stat is None:
        return ""
    value = stat.pass_at.get(k)
    text = f"{fmt_percent(value)} ({stat.n_tasks})"
    interval = stat.ci.get(k) if with_ci else None
    return f"{text} [{fmt_percent(interval[0])}–{fmt_percent(interval[1])}]" if interval else text


def render_table_md(table: Table, with_ci: bool = False) -> str:
    headers = [AXIS_LABELS.get(a, a) for a in table.row_axes] + [col_label(table.col_axes, c) for c in table.cols]
    body = []
    for row, texts in zip(table.rows, row_labels(table.row_axes, table.rows)):
        body.append(texts + [cell_md(table.cell(row, col), table.k, with_ci) for col in table.cols])
    align = ["l"] * len(table.row_axes) + ["r"] * len(table.cols)
    return f"{md_table(headers, body, align)}\n\n{md_escape(table_caption(table, with_ci))}"


def render_counts_md(counts: CountTable) -> str:
    if not counts.rows:
        return "_none_"
    headers = [AXIS_LABELS.get(a, a) for a in counts.row_axes] + list(counts.columns) + ["total"]
    body = []
    for row, texts in zip([r for r, _ in counts.rows], row_labels(counts.row_axes, [r for r, _ in counts.rows])):
        counter = dict(counts.rows)[row]
        body.append(texts + [str(counter.get(c, 0)) for c in counts.columns] + [str(sum(counter.values()))])
    return md_table(headers, body, ["l"] * len(counts.row_axes) + ["r"] * (len(counts.columns) + 1))


USAGE_HEADERS = ("samples", "tokens in", "tokens out", "latency mean (s)", "latency p95 (s)", "cost (USD)")


def usage_cells(row: UsageRow) -> list[str]:
    cost = "" if row.cost_usd is None else f"{row.cost_usd:.4f}"
    return [str(row.samples), str(row.prompt_tokens), str(row.completion_tokens), f"{row.latency_mean_s:.2f}",
            f"{row.latency_p95_s:.2f}", cost]


def render_usage_md(rows: Sequence[UsageRow], axes: Sequence[str]) -> str:
    headers = [AXIS_LABELS.get(a, a) for a in axes] + list(USAGE_HEADERS)
    body = [[label(a, v) for a, v in zip(axes, row.group)] + usage_cells(row) for row in rows]
    return md_table(headers, body, ["l"] * len(axes) + ["r"] * len(USAGE_HEADERS))


def axis_headers(axes: Sequence[str]) -> list[str]:
    return [AXIS_LABELS.get(a, a) for a in axes]


def round_headers(table: RoundTable) -> list[str]:
    return ["samples"] + [f"after round {r}" for r in range(1, table.rounds + 1)]


def render_rounds_md(table: RoundTable) -> str:
    headers = axis_headers(table.axes) + round_headers(table)
    labels = row_labels(table.axes, [row.group for row in table.rows])
    body = [texts + [str(row.samples)] + [fmt_percent(v, 1) for v in row.pass_by_round]
            for row, texts in zip(table.rows, labels)]
    return md_table(headers, body, ["l"] * len(table.axes) + ["r"] * (table.rounds + 1))


ROUNDS_NOTE = ("Pass@1 after round r (%): the share of samples that passed in one of their first r attempts (a sample "
               "stops at its first pass, so it keeps that pass in later rounds; a row whose loop allows fewer rounds "
               "keeps its final value). The last column is the final pass@1.")

EDIT_HEADERS = ("attempts", "edits", "well-formed (%)", "edit.malformed", "edit.no_match", "merged",
                "not an edit (n/a)")
EDITS_NOTE = ("Per model that made the attempt (each member of a cascade on its own). Well-formed: the share of its "
              "edits (search-replace or udiff answers) that parsed and applied to the script; n/a where it made none. "
              "merged: whole-file answers whose elided parts were restored from the input. Not an edit: whole-file "
              "answers and backend failures.")


def edit_cells(row: EditRow) -> list[str]:
    share = "n/a" if row.well_formed_share is None else fmt_percent(row.well_formed_share, 1)
    return [str(row.attempts), str(row.edits), share, str(row.malformed), str(row.no_match), str(row.merged),
            str(row.not_edits)]


def render_edits_md(rows: Sequence[EditRow], axes: Sequence[str]) -> str:
    body = [texts + edit_cells(row) for row, texts in zip(rows, row_labels(axes, [r.group for r in rows]))]
    return md_table(axis_headers(axes) + list(EDIT_HEADERS), body, ["l"] * len(axes) + ["r"] * len(EDIT_HEADERS))


COST_HEADERS = ("samples", "success (%)", "cost (USD)", "mean cost / sample (USD)", "cost / pass (USD)",
                "solved tasks", "cost / solved task (USD)", "mean attempts", "final answers")


def final_models_text(row: CostRow) -> str:
    """'a 60%, b 40%': the share of a cascade's final answers given by each member; – for a single model."""
    if not row.final_models:
        return "–"
    return ", ".join(f"{m} {fmt_percent(n / row.samples)}%" for m, n in row.final_models)


def cost_cells(row: CostRow) -> list[str]:
    def money(value: float | None) -> str:
        return "–" if value is None and row.total_usd is not None else fmt_usd(value)

    return [str(row.samples), fmt_percent(row.success_rate, 1), fmt_usd(row.total_usd), fmt_usd(row.mean_usd),
            money(row.usd_per_pass), f"{row.solved_tasks}/{row.tasks}", money(row.usd_per_solved_task),
            f"{row.mean_attempts:.2f}", final_models_text(row)]


def render_costs_md(rows: Sequence[CostRow], axes: Sequence[str]) -> str:
    body = [texts + cost_cells(row) for row, texts in zip(rows, row_labels(axes, [r.group for r in rows]))]
    return md_table(axis_headers(axes) + list(COST_HEADERS), body,
                    ["l"] * len(axes) + ["r"] * (len(COST_HEADERS) - 1) + ["l"])


SUMMARY_SHAPE = Shape(rows=(("functionality", True), ("pair", True), ("framework", True), ("retrieval", False),
                            ("model", True), *OPTIONAL_LOOP_ROWS),
                      cols=(("temperature", True), ("setting", True)))


def render_summary_markdown(records: Sequence[SampleRecord], ks: Sequence[int] = (1, 3),
                            spec: RunSpec | None = None) -> str:
    """The compact table printed at the end of a run: one row per task group and model, columns temperature x setting,
    each cell 'pass@k1 / pass@k2 / ...' in % over the group's tasks."""
    if not records:
        return "_no samples recorded_"
    ks = tuple(ks) or (1,)
    table = layout_table("summary", "Summary", cell_stats(records, ks), SUMMARY_SHAPE, ks[-1], spec)
    names = {"functionality": "Task group", "pair": "Component"}
    headers = [names.get(a) or AXIS_LABELS.get(a, a) for a in table.row_axes]
    headers += [col_label(table.col_axes, c) for c in table.cols]
    body = []
    for row, texts in zip(table.rows, row_labels(table.row_axes, table.rows)):
        cells = [table.cell(row, col) for col in table.cols]
        body.append(texts + [" / ".join(fmt_percent(c.pass_at.get(k)) for k in ks) if c else "" for c in cells])
    legend = " / ".join(f"Pass@{k}" for k in ks)
    return f"{md_table(headers, body, ['l'] * len(table.row_axes) + ['r'] * len(table.cols))}\n\n" \
           f"{md_escape(f'Cells: {legend} (%) over the tasks of the row; – where fewer than k samples.')}"


def failure_digest(records: Sequence[SampleRecord], top: int = 6) -> str:
    """One line under the end-of-run table: why samples did not pass, by verdict code, most frequent first."""
    from collections import Counter

    codes = Counter(r.verdict.code for r in records if not r.verdict.passed)
    if not codes:
        return "Every sample passed."
    shown = ", ".join(f"{code} {count}" for code, count in codes.most_common(top))
    more = f", {len(codes) - top} more codes" if len(codes) > top else ""
    return f"Not passed: {sum(codes.values())} of {len(records)} samples ({shown}{more})."


"""The static HTML report: report/index.html (tables, plots, failure analysis, usage, sample index) and one page
per sample under report/samples/. Self-contained: inline CSS, plots as base64, no scripts; everything autoescaped."""

from __future__ import annotations

import base64
import difflib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from benchmark.types import Attempt, SampleRecord

from . import _templates
from ._counts import CountTable, UsageRow
from ._labels import (
    AXIS_LABELS,
    fmt_percent,
    fmt_temperature,
    fmt_usd,
    label,
    row_labels,
)
from ._load import Run
from ._loop import CostRow, EditRow, LoopContent, RoundTable, cost_note
from ._markdown import (
    COST_HEADERS,
    EDIT_HEADERS,
    EDITS_NOTE,
    ROUNDS_NOTE,
    USAGE_HEADERS,
    cell_md,
    cost_cells,
    edit_cells,
    round_headers,
    table_caption,
    usage_cells,
)
from ._plots import COST_PLOT
from ._tables import Table

log = logging.getLogger(__name__)
SAMPLES_DIR = "samples"


@dataclass(frozen=True)
class Grid:
    """A table ready for the template: header rows of (text, colspan), body rows of (text, numeric)."""

    key: str
    title: str
    header: list[list[tuple[str, int]]]
    body: list[list[tuple[str, bool]]]
    caption: str = ""
    cls: str = "grid"


def _environment() -> jinja2.Environment:
    templates = {"base": _templates.BASE, "index": _templates.INDEX, "sample": _templates.SAMPLE}
    env = jinja2.Environment(loader=jinja2.DictLoader(templates), autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["css"] = _templates.CSS
    return env


def passk_grid(table: Table, with_ci: bool) -> Grid:
    values = [list(dict.fromkeys(c[i] for c in table.cols)) for i in range(len(table.col_axes))]
    header = []
    for level, axis in enumerate(table.col_axes):
        span = 1
        for later in values[level + 1:]:
            span *= len(later)
        repeat = len(table.cols) // (span * len(values[level]))
        left = ([(AXIS_LABELS.get(a, a), 1) for a in table.row_axes] if level == len(table.col_axes) - 1
                else [(f"{AXIS_LABELS.get(axis, axis)} →", len(table.row_axes))])
        header.append(left + [(label(axis, v), span) for _ in range(repeat) for v in values[level]])
    body = [[(t, False) for t in texts] + [(cell_md(table.cell(row, c), table.k, with_ci), True) for c in table.cols]
            for row, texts in zip(table.rows, row_labels(table.row_axes, table.rows))]
    return Grid(key=table.functionality, title=table.title, header=header, body=body,
                caption=table_caption(table, with_ci), cls="passk")


def rows_grid(key: str, title: str, axes: Sequence[str], headers: Sequence[str], groups: Sequence[tuple],
              cells: Sequence[Sequence[str]], caption: str = "") -> Grid:
    """A flat table: row-axis labels (repeats blanked), then numeric cells."""
    header = [[(AXIS_LABELS.get(a, a), 1) for a in axes] + [(h, 1) for h in headers]]
    body = [[(t, False) for t in texts] + [(c, True) for c in row]
            for texts, row in zip(row_labels(axes, groups), cells)]
    return Grid(key=key, title=title, header=header, body=body, caption=caption, cls=key)


def rounds_grid(table: RoundTable) -> Grid:
    cells = [[str(r.samples)] + [fmt_percent(v, 1) for v in r.pass_by_round] for r in table.rows]
    return rows_grid("rounds", "Pass@1 after round r", table.axes, round_headers(table), [r.group for r in table.rows],
                     cells, ROUNDS_NOTE)


def edits_grid(rows: Sequence[EditRow], axes: Sequence[str]) -> Grid:
    return rows_grid("edits", "Well-formed edits per model", axes, EDIT_HEADERS, [r.group for r in rows],
                     [edit_cells(r) for r in rows], EDITS_NOTE)


def costs_grid(rows: Sequence[CostRow], axes: Sequence[str], caption: str) -> Grid:
    return rows_grid("costs", "Cost against success", axes, COST_HEADERS, [r.group for r in rows],
                     [cost_cells(r) for r in rows], caption)


def counts_grid(counts: CountTable) -> Grid:
    header = [[(AXIS_LABELS.get(a, a), 1) for a in counts.row_axes] + [(c, 1) for c in counts.columns] + [("total", 1)]]
    rows = [r for r, _ in counts.rows]
    body = []
    for (row, counter), texts in zip(counts.rows, row_labels(counts.row_axes, rows)):
        body.append([(t, False) for t in texts] + [(str(counter.get(c, 0)), True) for c in counts.columns]
                    + [(str(sum(counter.values())), True)])
    return Grid(key="counts", title=counts.title, header=header, body=body, cls="counts")


def usage_grid(rows: Sequence[UsageRow], axes: Sequence[str]) -> Grid:
    header = [[(AXIS_LABELS.get(a, a), 1) for a in axes] + [(h, 1) for h in USAGE_HEADERS]]
    body = [[(label(a, v), False) for a, v in zip(axes, r.group)] + [(c, True) for c in usage_cells(r)] for r in rows]
    return Grid(key="usage", title="Cost and usage", header=header, body=body, cls="usage")


def sample_href(record: SampleRecord) -> str:
    return f"{SAMPLES_DIR}/{record.key.id()}.html"


def _sample_row(record: SampleRecord) -> dict[str, Any]:
    return {"task_id": record.key.task_id, "model": record.key.model, "temperature": fmt_temperature(record.key.temperature),
            "setting": label("setting", record.key.setting.value), "retrieval": record.key.retrieval,
            "index": record.key.sample_index, "status": record.verdict.status.value,
            "category": record.verdict.category.value, "code": record.verdict.code, "passed": record.verdict.passed,
            "attempts": len(record.all_attempts()), "href": sample_href(record)}


def _sort_samples(records: Sequence[SampleRecord]) -> list[SampleRecord]:
    return sorted(records, key=lambda r: (r.key.task_id, r.key.model, r.key.temperature, r.key.setting.value,
                                          r.key.retrieval, r.key.sample_index))


def render_index(run: Run, k: int, tables: Sequence[Table], with_ci: bool, plots: dict[str, bytes],
                 failures: Sequence[CountTable], usage: Sequence[UsageRow], usage_axes: Sequence[str],
                 loop: LoopContent) -> str:
    spec = run.spec
    meta = [("models", ", ".join(spec.models)), ("temperatures", ", ".join(fmt_temperature(t) for t in spec.temperatures)),
            ("settings", ", ".join(s.value for s in spec.settings)), ("retrievals", ", ".join(spec.retrievals)),
            ("n", spec.n), ("k", k), ("tasks", len(spec.tasks)), ("samples recorded", len(run.records)),
            ("git sha", spec.git_sha or "unknown"), ("created", spec.created_at)]
    encoded = {name: base64.b64encode(data).decode() for name, data in plots.items()}
    cost_plot = encoded.pop(COST_PLOT, None)
    return _environment().get_template("index").render(
        run=spec, meta=meta, k=k, tables=[passk_grid(t, with_ci) for t in tables], plots=list(encoded.items()),
        failures=[counts_grid(c) for c in failures], usage=usage_grid(usage, usage_axes),
        rounds=rounds_grid(loop.rounds) if loop.show_rounds else None,
        round_failures=counts_grid(loop.round_failures) if loop.show_rounds else None,
        edits=edits_grid(loop.edits, loop.edit_axes) if loop.show_edits else None,
        costs=costs_grid(loop.costs, loop.axes, cost_note(spec)), cost_plot=cost_plot,
        samples=[_sample_row(r) for r in _sort_samples(run.records)])


def write_html(out_dir: Path, index_html: str, records: Sequence[SampleRecord], input_codes: dict[str, tuple[int, str]]
               ) -> list[Path]:
    """Write index.html and one page per sample; returns the paths written."""
    env = _environment()
    (out_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(index_html, encoding="utf-8")
    written = [index]
    template = env.get_template("sample")
    for record in records:
        page = out_dir / sample_href(record)
        page.write_text(template.render(s=sample_view(record, input_codes.get(record.key.task_id))), encoding="utf-8")
        written.append(page)
    log.info("wrote %s and %d sample pages", index, len(records))
    return written


def sample_view(record: SampleRecord, input_code: tuple[int, str] | None) -> dict[str, Any]:
    """Everything one sample page shows, as plain values (the template escapes them)."""
    key, verdict, completion = record.key, record.verdict, record.completion
    view = _sample_row(record)
    view.update(
        meta=[("sample id", key.id()), ("task version", record.task_version), ("code", verdict.code),
              ("retrieval", key.retrieval), ("prompt hash", record.prompt_hash), ("recorded", record.created_at)],
        reason=verdict.reason, checks=list(verdict.checks),
        messages=list(record.prompt.messages) if record.prompt else [],
        retrieved=[_document(i, d) for i, d in enumerate(record.prompt.retrieved if record.prompt else (), 1)],
        completion=completion.text,
        completion_meta=[("model", completion.model), ("finish reason", completion.finish_reason),
                         ("tokens in / out", f"{completion.usage.prompt_tokens} / {completion.usage.completion_tokens}"),
                         ("latency (s)", f"{completion.latency_s:.2f}"), ("backend error", completion.error or "–"),
                         ("extraction", record.extraction.kind + (f": {record.extraction.note}"
                                                                  if record.extraction.note else ""))],
        execution=_execution_meta(record), stdout=record.execution.stdout_tail if record.execution else "",
        stderr=record.execution.stderr_tail if record.execution else "",
    )
    view["diff"], view["diff_note"] = _diff(record, input_code)
    view["attempts_list"] = [attempt_view(a, record) for a in record.all_attempts()]
    view["cost"] = fmt_usd(record.cost.usd) if record.attempts else ""
    return view


def attempt_view(attempt: Attempt, record: SampleRecord) -> dict[str, Any]:
    """One attempt on the sample page: who answered in which round, how it was judged, what it was shown and what
    it answered, and its cost (blank for a version 1 record, which recorded none)."""
    verdict, extraction, cost = attempt.verdict, attempt.extraction, attempt.cost
    well_formed = {True: "yes", False: "no", None: "n/a"}[extraction.well_formed]
    return {"round": attempt.round, "model": attempt.model, "level": attempt.level, "status": verdict.status.value,
            "code": verdict.code, "reason": verdict.reason, "feedback": attempt.feedback,
            "answer": attempt.completion.text, "extracted": extraction.code,
            "extraction": extraction.kind + (f": {extraction.note}" if extraction.note else ""),
            "well_formed": well_formed,
            "cost": fmt_usd(cost.usd) if record.attempts else "",
            "cost_detail": (f"{fmt_usd(cost.usd)} USD: API {fmt_usd(cost.api_usd)} + local compute "
                            f"{cost.compute_s:.2f} s ({fmt_usd(cost.compute_usd)})"
                            if record.attempts else "not recorded (schema version 1)"),
            "tokens": f"{attempt.completion.usage.prompt_tokens} / {attempt.completion.usage.completion_tokens}"}


def _document(index: int, doc: dict[str, Any]) -> tuple[str, str]:
    title = next((str(doc[k]) for k in ("title", "source", "url", "id") if doc.get(k)), f"document {index}")
    if doc.get("score") is not None:
        title += f" (score {doc['score']})"
    text = next((doc[k] for k in ("text", "content", "page_content") if isinstance(doc.get(k), str)), None)
    return title, text if text is not None else json.dumps(doc, indent=2, default=str)


def _execution_meta(record: SampleRecord) -> list[tuple[str, Any]] | None:
    ex = record.execution
    if ex is None:
        return None
    return [("exit code", ex.exit_code), ("timed out", ex.timed_out), ("killed", ex.killed_reason or "–"),
            ("duration (s)", f"{ex.duration_s:.2f}"), ("isolation", ex.isolation)]


def _diff(record: SampleRecord, input_code: tuple[int, str] | None) -> tuple[list[tuple[str, str]] | None, str]:
    if record.extraction.code is None:
        return None, "No code was extracted from the completion."
    if input_code is None:
        return None, "The task's input script is not available here, so no diff is shown."
    version, source = input_code
    note = "" if version == record.task_version else \
        f"Diff against task version {version}; the sample was generated for version {record.task_version}."
    lines = difflib.unified_diff(source.splitlines(), record.extraction.code.splitlines(), "input", "extracted",
                                 lineterm="")
    return [(_diff_class(line), line) for line in lines], note


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "hunk"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")


def load_input_codes(task_ids: set[str], tasks_dir: Path | None = None) -> dict[str, tuple[int, str]]:
    """{task id: (task version, input script)} for the tasks found; {} (with a warning) when tasks cannot be loaded."""
    try:
        from benchmark.tasks import load_tasks

        tasks = load_tasks(None, tasks_dir)
        return {t.id: (t.version, t.input_code()) for t in tasks if t.id in task_ids}
    except Exception as exc:  # noqa: BLE001 - diffs are optional; a broken task folder must not stop the report
        log.warning("task input scripts unavailable (%s); sample pages show no diff", exc)
        return {}

"""PNG plots (matplotlib, Agg canvas, no pyplot state): a Pass@k heatmap per model and Pass@k against temperature
per functionality."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import numpy as np

from benchmark.metrics import cells
from benchmark.types import RunSpec, SampleRecord

from ._labels import col_label, label, slug, sort_key
from ._tables import CellStat, axis_of

log = logging.getLogger(__name__)

HEAT_ROWS = ("functionality", "pair", "framework", "retrieval")
HEAT_COLS = ("temperature", "setting")
LINE_AXES = ("functionality", "model", "setting", "retrieval", "temperature")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _key(axes: Sequence[str], values: tuple, spec: RunSpec | None) -> tuple:
    return tuple(sort_key(a, v, spec) for a, v in zip(axes, values))


def heatmap(stats: Sequence[CellStat], model: str, k: int, spec: RunSpec | None = None) -> bytes:
    mine = [s for s in stats if s.group["model"] == model]
    grid = {(tuple(axis_of(s.group, a) for a in HEAT_ROWS), tuple(axis_of(s.group, a) for a in HEAT_COLS)): s
            for s in mine}
    rows = sorted({r for r, _ in grid}, key=lambda r: _key(HEAT_ROWS, r, spec))
    cols = sorted({c for _, c in grid}, key=lambda c: _key(HEAT_COLS, c, spec))
    values = np.full((len(rows), len(cols)), np.nan)
    fig = _figure(1.4 + 1.1 * len(cols), 1.2 + 0.45 * len(rows))
    ax = fig.add_subplot()
    for (i, row), (j, col) in ((ir, jc) for ir in enumerate(rows) for jc in enumerate(cols)):
        stat = grid.get((row, col))
        value = stat.pass_at.get(k) if stat else None
        if value is not None:
            values[i, j] = 100 * value
        text = "" if stat is None else "–" if value is None else f"{100 * value:.0f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if (value or 0) < 0.6 else "black")
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(cols)), [col_label(HEAT_COLS, c) for c in cols], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [_row_text(r) for r in rows], fontsize=8)
    ax.set_title(f"Pass@{k} (%) — {model}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return _png(fig)


def _row_text(row: tuple) -> str:
    functionality, pair, framework, retrieval = row
    parts = [label("functionality", functionality).split(" (")[0], label("pair", pair)]
    if framework not in ("none", None):
        parts.append(label("framework", framework))
    if retrieval not in ("none", None):
        parts.append(str(retrieval))
    return " · ".join(parts)


def temperature_plot(records: Sequence[SampleRecord], functionality: str, k: int, spec: RunSpec | None = None) -> bytes:
    """Pass@k over the functionality's tasks against temperature, one line per model and setting (and retrieval)."""
    mine = [r for r in records if r.functionality.value == functionality]
    lines: dict[tuple, list[tuple[float, float]]] = {}
    for cell in cells(mine, (k,), LINE_AXES):
        value = cell.pass_at[k]
        if value is None:
            continue
        series = (cell.group["model"], cell.group["setting"], cell.group["retrieval"])
        lines.setdefault(series, []).append((float(cell.group["temperature"]), 100 * value))
    fig = _figure(5.5, 3.6)
    ax = fig.add_subplot()
    for series in sorted(lines, key=lambda s: _key(("model", "setting", "retrieval"), s, spec)):
        points = sorted(lines[series])
        name = " · ".join([series[0], label("setting", series[1])] + ([series[2]] if series[2] != "none" else []))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("temperature")
    ax.set_ylabel(f"Pass@{k} (%)")
    ax.set_ylim(-5, 105)
    ax.set_title(label("functionality", functionality), fontsize=10)
    if lines:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, f"no cell with n ≥ {k}", transform=ax.transAxes, ha="center")
    return _png(fig)


def render_plots(stats: Sequence[CellStat], records: Sequence[SampleRecord], k: int,
                 spec: RunSpec | None = None) -> dict[str, bytes]:
    """{file name: PNG bytes}: heatmap_<model>.png and temperature_<functionality>.png."""
    models = sorted({s.group["model"] for s in stats}, key=lambda m: sort_key("model", m, spec))
    functionalities = sorted({s.group["functionality"] for s in stats}, key=lambda f: sort_key("functionality", f))
    out = {f"heatmap_{slug(m)}.png": heatmap(stats, m, k, spec) for m in models}
    out.update({f"temperature_{slug(f)}.png": temperature_plot(records, f, k, spec) for f in functionalities})
    log.info("rendered %d plots", len(out))
    return out

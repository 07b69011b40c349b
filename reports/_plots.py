"""PNG plots (matplotlib, Agg canvas, no pyplot state): a Pass@k heatmap per model, Pass@k against temperature
per functionality, and success against mean cost per sample for every model and cascade, with the Pareto front."""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Sequence

import numpy as np

from benchmark.metrics import LOOP_AXES, cells, pareto_front
from benchmark.types import RunSpec, SampleRecord

from ._labels import col_label, label, slug, sort_key
from ._loop import CostRow
from ._tables import CellStat, axis_of

log = logging.getLogger(__name__)

HEAT_ROWS = ("functionality", "pair", "framework", "retrieval", *LOOP_AXES)
HEAT_COLS = ("temperature", "setting")
SERIES_AXES = ("model", "setting", "retrieval", *LOOP_AXES)
LINE_AXES = ("functionality", *SERIES_AXES, "temperature")
COST_PLOT = "cost_accuracy.png"
LOG_SPREAD = 100  # costs spread wider than this factor get a log axis


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
    fig = _figure(3.4 + 1.0 * len(cols), 1.2 + 0.45 * len(rows))  # room for the row labels
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
    shown = _varying([s.group for s in mine])
    ax.set_yticks(range(len(rows)), [_row_text(r, shown) for r in rows], fontsize=8)
    ax.set_title(f"Pass@{k} (%) — {model}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return _png(fig)


def _row_text(row: tuple, loop_shown: Sequence[str]) -> str:
    functionality, pair, framework, retrieval, *loop = row
    parts = [label("functionality", functionality).split(" (")[0], label("pair", pair)]
    if framework not in ("none", None):
        parts.append(label("framework", framework))
    if retrieval not in ("none", None):
        parts.append(str(retrieval))
    return " · ".join(parts + [loop_text(a, v) for a, v in zip(LOOP_AXES, loop) if a in loop_shown])


def loop_text(axis: str, value) -> str:
    """A loop axis value in a plot label: 'rounds 3', 'feedback output', 'search-replace', 'merge elided'."""
    if axis == "rounds":
        return f"rounds {value}"
    if axis == "feedback":
        return f"feedback {value}"
    if axis == "merge_elided":
        return "merge elided" if value else "no merge"
    if axis == "cascade_feedback":
        return "cascade feedback" if value else "cascade fresh"
    return str(value)


def _varying(groups: Sequence[dict], axes: Sequence[str] = LOOP_AXES) -> tuple[str, ...]:
    return tuple(a for a in axes if len({g.get(a) for g in groups}) > 1)


def temperature_plot(records: Sequence[SampleRecord], functionality: str, k: int, spec: RunSpec | None = None) -> bytes:
    """Pass@k over the functionality's tasks against temperature, one line per model and setting (and retrieval)."""
    mine = [r for r in records if r.functionality.value == functionality]
    lines: dict[tuple, list[tuple[float, float]]] = {}
    grouped = cells(mine, (k,), LINE_AXES)
    shown = _varying([c.group for c in grouped])
    for cell in grouped:
        value = cell.pass_at[k]
        if value is None:
            continue
        series = tuple(cell.group[a] for a in SERIES_AXES)
        lines.setdefault(series, []).append((float(cell.group["temperature"]), 100 * value))
    fig = _figure(5.5, 3.6)
    ax = fig.add_subplot()
    for series in sorted(lines, key=lambda s: _key(SERIES_AXES, s, spec)):
        points = sorted(lines[series])
        name = " · ".join([series[0], label("setting", series[1])] + ([series[2]] if series[2] != "none" else [])
                          + [loop_text(a, v) for a, v in zip(SERIES_AXES, series) if a in shown])
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


def cost_scale(costs: Sequence[float]) -> str:
    """'linear', or 'log' when the positive costs spread over more than LOG_SPREAD x ('symlog' when a zero is
    among them, so free models stay on the axis)."""
    positive = [c for c in costs if c > 0]
    if len(positive) < 2 or max(positive) <= LOG_SPREAD * min(positive):
        return "linear"
    return "symlog" if len(positive) < len(costs) else "log"


def point_label(axes: Sequence[str], group: tuple) -> str:
    return " · ".join(loop_text(a, v) if a in LOOP_AXES else label(a, v) for a, v in zip(axes, group))


def cost_accuracy_plot(rows: Sequence[CostRow], axes: Sequence[str]) -> bytes:
    """Success (final pass@1, %) against mean cost per sample (USD), a labelled point per row, the Pareto front
    (no other row is at least as cheap and as accurate, and better in one) marked and joined as a step line."""
    known = [r for r in rows if r.mean_usd is not None]
    points = [(float(r.mean_usd), 100 * r.success_rate) for r in known]  # type: ignore[arg-type]
    front = pareto_front(points)
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    ax.scatter([p[0] for p in points], [p[1] for p in points], color="0.45", zorder=2, label="configuration")
    if front:
        xs, ys = [points[i][0] for i in front], [points[i][1] for i in front]
        ax.step(xs, ys, where="post", color="C3", zorder=1)
        ax.scatter(xs, ys, s=90, facecolors="none", edgecolors="C3", linewidths=1.6, zorder=3, label="Pareto front")
    scale = _cost_axis(ax, [p[0] for p in points])
    _annotate(ax, [point_label(axes, r.group) for r in known], points)
    ax.set_ylabel("success: final pass@1 (%)")
    ax.set_ylim(-5, 105)
    ax.set_title("Accuracy against cost", fontsize=10)
    unknown = [point_label(axes, r.group) for r in rows if r.mean_usd is None]
    label_text = f"mean cost per sample (USD{', log scale' if scale != 'linear' else ''})"
    if unknown:
        label_text += "\n" + textwrap.fill("not shown, cost unknown: " + "; ".join(unknown), 120)
    ax.set_xlabel(label_text, fontsize=8)
    if points:
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no configuration with a known cost", transform=ax.transAxes, ha="center")
    return _png(fig)


def _annotate(ax, labels: Sequence[str], points: Sequence[tuple[float, float]]) -> None:
    """Labels right of their point, or left of it in the right half of the plot, so they stay inside."""
    ax.get_xlim()  # settles the view limits the transform below uses
    to_axes = ax.transData + ax.transAxes.inverted()
    for text, (x, y) in zip(labels, points):
        on_right = to_axes.transform((x, y))[0] > 0.5
        ax.annotate(text, (x, y), xytext=(-5 if on_right else 5, 4), textcoords="offset points", fontsize=7,
                    ha="right" if on_right else "left")


def _cost_axis(ax, costs: Sequence[float]) -> str:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    scale = cost_scale(costs)
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=min(c for c in costs if c > 0))
    elif scale == "log":
        ax.set_xscale("log")
    else:
        top = max(costs, default=0.0) or 1.0
        ax.set_xlim(-0.05 * top, 1.1 * top)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    return scale


def render_plots(stats: Sequence[CellStat], records: Sequence[SampleRecord], k: int,
                 spec: RunSpec | None = None, costs: Sequence[CostRow] = (),
                 cost_axes: Sequence[str] = ("model",)) -> dict[str, bytes]:
    """{file name: PNG bytes}: heatmap_<model>.png, temperature_<functionality>.png and, given cost rows,
    cost_accuracy.png."""
    models = sorted({s.group["model"] for s in stats}, key=lambda m: sort_key("model", m, spec))
    functionalities = sorted({s.group["functionality"] for s in stats}, key=lambda f: sort_key("functionality", f))
    out = {f"heatmap_{slug(m)}.png": heatmap(stats, m, k, spec) for m in models}
    out.update({f"temperature_{slug(f)}.png": temperature_plot(records, f, k, spec) for f in functionalities})
    if costs:
        out[COST_PLOT] = cost_accuracy_plot(costs, cost_axes)
    log.info("rendered %d plots", len(out))
    return out

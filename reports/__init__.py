"""Reports: a run's Pass@k tables in the study's layout (Markdown, LaTeX, CSV, JSON), the adaptation loop's tables
(pass@1 after each round, verdicts per round, well-formed edits per model, success and cost per model or cascade with
an accuracy-against-cost plot and its Pareto front), failure analysis, usage, plots, a static HTML report with a page
per sample listing every attempt, MLflow/W&B logging, and run-to-run comparison.

Command-line entry points (the CLI wires them): `write_report(run_dir, parse_formats("md,tex"), ci=...)` for
`adaptbench report`, `compare_runs(a, b, across=())` + `render_comparison_markdown` for `adaptbench compare`, and
`render_summary_markdown(records, ks)` at the end of every run."""

from ._compare import (
    CellDiff,
    Comparison,
    compare_markdown,
    compare_runs,
    render_comparison_markdown,
)
from ._counts import load_prices
from ._load import ReportError, Run, load_run
from ._markdown import failure_digest, render_summary_markdown
from ._report import (
    FORMATS,
    build_content,
    parse_formats,
    render_report_md,
    write_report,
)
from ._stats import bootstrap_ci, paired_permutation_test
from ._tables import CellStat, Table, build_tables, cell_stats, choose_k
from ._tracking import default_tracking_uri, log_to_mlflow, log_to_wandb, metric_name

render_comparison = render_comparison_markdown  # the name the CLI uses

__all__ = [
    "FORMATS",
    "CellDiff",
    "CellStat",
    "Comparison",
    "ReportError",
    "Run",
    "Table",
    "bootstrap_ci",
    "build_content",
    "build_tables",
    "cell_stats",
    "choose_k",
    "compare_markdown",
    "compare_runs",
    "default_tracking_uri",
    "failure_digest",
    "load_prices",
    "load_run",
    "log_to_mlflow",
    "log_to_wandb",
    "metric_name",
    "paired_permutation_test",
    "parse_formats",
    "render_comparison",
    "render_comparison_markdown",
    "render_report_md",
    "render_summary_markdown",
    "write_report",
]

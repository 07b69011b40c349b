from __future__ import annotations

from itertools import combinations

import pytest

from benchmark.errors import BadOptionError
from reports import build_content, load_run, parse_formats, render_summary_markdown
from reports._labels import COMPONENT_ORDER, FRAMEWORK_ORDER, FUNCTIONALITY_ORDER
from reports._tables import axis_of

from .factory import SHORT, make_records, make_spec


def brute_pass_at_k(outcomes: list[bool], k: int) -> float:
    """pass@k as the share of all k-subsets holding a passing sample (independent of the closed form)."""
    subsets = list(combinations(outcomes, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.fixture(scope="module")
def content(golden_run):
    return build_content(load_run(golden_run))


def test_one_table_per_functionality_in_the_study_order(content):
    assert [t.functionality for t in content.tables] == list(FUNCTIONALITY_ORDER)


def test_table_shapes_follow_the_study(content):
    shapes = {t.functionality: (t.row_axes, t.col_axes) for t in content.tables}
    assert shapes["model_optimization"] == (("component", "model"), ("temperature", "setting"))
    assert shapes["experiment_tracking"] == (("component", "framework", "model"), ("temperature", "setting"))
    assert shapes["version_control"] == (("pair", "retrieval", "model"), ("temperature",))
    table_one = content.tables[0]
    assert [c for c in table_one.cols][:2] == [(0.0, "zero-shot"), (0.0, "docprompt")]
    assert [r[0] for r in table_one.rows] == ["nncf", "nncf", "torch_prune", "torch_prune"]


def test_only_functionalities_present_get_a_table(golden_run):
    run = load_run(golden_run)
    subset = [r for r in run.records if r.functionality.value == "model_registration"]
    tables = build_content(type(run)(path=run.path, spec=run.spec, records=subset)).tables
    assert [t.functionality for t in tables] == ["model_registration"]
    # a single setting: Tables II-IV drop the setting level
    assert tables[0].col_axes == ("temperature", "setting")
    one_setting = [r for r in subset if r.key.setting.value == "docprompt"]
    tables = build_content(type(run)(path=run.path, spec=run.spec, records=one_setting)).tables
    assert tables[0].col_axes == ("temperature",)


def test_every_cell_matches_a_brute_force_pass_at_k(content):
    records = content.run.records
    for table in content.tables:
        for (row, col), stat in table.cells.items():
            members = [r for r in records if all(axis_of(_group(r), a) == v for a, v in
                                                 zip(table.row_axes + table.col_axes, row + col))
                       and r.functionality.value == table.functionality]
            per_task: dict[str, list[bool]] = {}
            for r in members:
                per_task.setdefault(r.key.task_id, []).append(r.verdict.passed)
            if any(len(v) < table.k for v in per_task.values()):
                assert stat.pass_at[table.k] is None
                continue
            expected = sum(brute_pass_at_k(v, table.k) for v in per_task.values()) / len(per_task)
            assert stat.pass_at[table.k] == pytest.approx(expected)
            assert stat.n_tasks == len(per_task)


def _group(record) -> dict:
    return {"component": record.component.value, "source_component": record.source_component.value
            if record.source_component else None, "framework": record.framework.value, "model": record.key.model,
            "temperature": record.key.temperature, "setting": record.key.setting.value,
            "retrieval": record.key.retrieval}


def test_cell_with_fewer_than_k_samples_shows_a_dash(content):
    from reports._markdown import render_table_md

    hpo = next(t for t in content.tables if t.functionality == "hyperparameter_optimization")
    _, model, temperature, setting, _ = SHORT
    stat = hpo.cell(("optuna", "sklearn", model), (temperature, setting.value))
    assert stat.pass_at[3] is None and stat.pass_at[1] is not None
    assert "| – (1) |" in render_table_md(hpo)


def test_k_defaults_to_the_largest_k_with_n_at_least_k(golden_run):
    run = load_run(golden_run)
    assert build_content(run).k == 3
    assert build_content(run, k=1).k == 1
    spec = run.spec.model_copy(update={"n": 2})
    assert build_content(type(run)(path=run.path, spec=spec, records=run.records)).k == 1


def test_bootstrap_interval_is_reproducible_and_contains_the_estimate(golden_run):
    run = load_run(golden_run)
    first, second = build_content(run, ci=True), build_content(run, ci=True)
    assert [s.ci for s in first.stats] == [s.ci for s in second.stats]
    for stat in first.stats:
        if stat.pass_at[3] is not None:
            low, high = stat.ci[3]
            assert low - 1e-9 <= stat.pass_at[3] <= high + 1e-9


def test_summary_markdown_has_a_row_per_group_and_model():
    records = make_records()
    text = render_summary_markdown(records, (1, 3), make_spec())
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    groups = {(r.functionality, r.component, r.framework, r.key.retrieval, r.key.model) for r in records}
    assert len(lines) == 2 + len(groups)  # header, rule, one row each
    assert "T=0.2 · DocPrompt" in lines[0]
    assert render_summary_markdown([], (1, 3)) == "_no samples recorded_"


def test_parse_formats():
    assert parse_formats("md, tex,md") == ("md", "tex")
    with pytest.raises(BadOptionError, match="did you mean 'html'"):
        parse_formats("htm")


def test_label_orders_cover_every_enum_value():
    from benchmark.types import Component, Framework, Functionality

    assert set(FUNCTIONALITY_ORDER) == {f.value for f in Functionality}
    assert set(FRAMEWORK_ORDER) == {f.value for f in Framework}
    assert set(COMPONENT_ORDER) == {c.value for c in Component}


def test_failure_digest_counts_the_codes_of_samples_that_did_not_pass():
    from collections import Counter

    from reports import failure_digest

    records = make_records()
    failed = Counter(r.verdict.code for r in records if not r.verdict.passed)
    line = failure_digest(records, top=2)
    (first, n1), (second, n2) = failed.most_common(2)
    assert line.startswith(f"Not passed: {sum(failed.values())} of {len(records)} samples ({first} {n1}, {second} {n2}")
    assert line.endswith(f", {len(failed) - 2} more codes).")
    assert failure_digest([r for r in records if r.verdict.passed]) == "Every sample passed."

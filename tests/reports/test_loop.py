"""The adaptation loop's reports on hand-computed examples: pass@1 after round r, verdicts per round, the Pareto
front, the cost table, well-formed edit shares, loop axes in cells and comparisons, and cost fallback for schema 1."""

from __future__ import annotations

import pytest

from benchmark.costs import Price
from benchmark.metrics import cells, pareto_front, pass_rate_by_round
from benchmark.types import FailureCategory, Status, Verdict
from reports import (
    build_content,
    compare_runs,
    load_run,
    render_comparison_markdown,
    render_report_md,
    write_report,
)
from reports._counts import record_cost
from reports._loop import (
    cost_rows,
    edit_rows,
    has_edits,
    round_failure_table,
    round_table,
)
from reports._markdown import cost_cells, render_costs_md, render_rounds_md
from reports._plots import cost_scale
from reports._tracking import metric_name

from .factory import (
    LOOP_TASKS,
    TASKS,
    loop_key,
    make_attempt,
    make_loop_record,
    make_loop_records,
    make_loop_spec,
    make_record,
    make_spec,
    write_run,
)

T1, T2 = LOOP_TASKS[0], LOOP_TASKS[1]


def _sample(task, model, index, outcomes, **loop):
    """A record whose attempts are judged `outcomes` in order (categories; 'ok' passes), all by `model`'s chain."""
    chain = model.split(">")
    attempts = [make_attempt(i + 1, chain[min(i // loop.get("rounds", 1), len(chain) - 1)], c)
                for i, c in enumerate(outcomes)]
    return make_loop_record(task, loop_key(task[0], model, index, **loop), attempts)


@pytest.fixture
def rounds_records():
    """Model 'a' with rounds = 3: passes in round 2, in round 1, never, in round 3."""
    return [_sample(T1, "a", 0, ["syntax_error", "ok"], rounds=3),
            _sample(T1, "a", 1, ["ok"], rounds=3),
            _sample(T1, "a", 2, ["runtime_error", "runtime_error", "check_failed"], rounds=3),
            _sample(T2, "a", 0, ["import_error", "check_failed", "ok"], rounds=3)]


def test_pass_at_1_after_round_r_by_hand(rounds_records):
    assert pass_rate_by_round(rounds_records, 3) == [0.25, 0.5, 0.75]
    assert pass_rate_by_round(rounds_records, 4) == [0.25, 0.5, 0.75, 0.75]  # stopped samples keep their outcome
    table = round_table(rounds_records)
    assert table.rounds == 3 and table.axes == ("model",)
    assert [(r.group, r.samples, r.pass_by_round) for r in table.rows] == [(("a",), 4, (0.25, 0.5, 0.75))]
    assert "| a | 4 | 25.0 | 50.0 | 75.0 |" in render_rounds_md(table)


def test_verdict_categories_per_round_by_hand(rounds_records):
    counts = round_failure_table(rounds_records)
    assert counts.row_axes == ("model", "round")
    rows = {row: dict(counter) for row, counter in counts.rows}
    assert rows == {("a", 1): {"ok": 1, "syntax_error": 1, "runtime_error": 1, "import_error": 1},
                    ("a", 2): {"ok": 1, "runtime_error": 1, "check_failed": 1},
                    ("a", 3): {"ok": 1, "check_failed": 1}}
    assert counts.columns == ("ok", "syntax_error", "import_error", "runtime_error", "check_failed")


def test_pareto_front_by_hand_with_ties_and_dominated_points():
    points = [(1.0, 0.5),   # 0: dominated by 3 (cheaper, as accurate)
              (2.0, 0.7),   # 1: front
              (2.0, 0.6),   # 2: dominated by 1 (same cost, less accurate)
              (0.5, 0.5),   # 3: front
              (3.0, 0.7),   # 4: dominated by 1 (same accuracy, dearer)
              (4.0, 0.9),   # 5: front
              (4.0, 0.9),   # 6: the same point again: neither dominates the other, both stay
              (0.0, 0.1),   # 7: front (free)
              (5.0, 0.8)]   # 8: dominated by 5
    assert pareto_front(points) == [7, 3, 1, 5, 6]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 0.0)]) == [0]


def test_cost_table_by_hand():
    """A cascade small>big, 2 rounds each: costs per attempt are 0.001 (small) and 0.01 (big)."""
    def sample(task, index, outcomes):
        models = ["small", "small", "big", "big"]
        attempts = [make_attempt(i + 1, models[i], c, level=i // 2, api_usd=0.001 if models[i] == "small" else 0.01)
                    for i, c in enumerate(outcomes)]
        return make_loop_record(task, loop_key(task[0], "small>big", index, rounds=2), attempts)

    records = [sample(T1, 0, ["runtime_error", "syntax_error", "ok"]),                     # 0.012, big
               sample(T1, 1, ["ok"]),                                                      # 0.001, small
               sample(T1, 2, ["runtime_error", "runtime_error", "check_failed", "check_failed"]),  # 0.022, big
               sample(T2, 0, ["runtime_error", "ok"])]                                     # 0.002, small
    (row,) = cost_rows(records, prices={})
    assert (row.samples, row.passed, row.tasks, row.solved_tasks, row.attempts) == (4, 3, 2, 2, 10)
    assert row.total_usd == pytest.approx(0.037)
    assert row.success_rate == 0.75 and row.mean_attempts == 2.5
    assert row.mean_usd == pytest.approx(0.00925)
    assert row.usd_per_pass == pytest.approx(0.037 / 3)
    assert row.usd_per_solved_task == pytest.approx(0.0185)
    assert row.final_models == (("small", 2), ("big", 2))
    assert cost_cells(row) == ["4", "75.0", "0.037000", "0.009250", "0.012333", "2/2", "0.018500", "2.50",
                               "small 50%, big 50%"]
    nothing = cost_rows([sample(T1, 3, ["runtime_error"] * 4)], prices={})[0]
    assert nothing.usd_per_pass is None and nothing.usd_per_solved_task is None
    assert cost_cells(nothing)[4] == "–" and cost_cells(nothing)[6] == "–"


def test_local_compute_cost_shows_in_six_decimals():
    record = make_loop_record(T1, loop_key(T1[0], "local", 0), [make_attempt(1, "local", "ok", compute_s=9.0)])
    (row,) = cost_rows([record], prices={})
    assert row.total_usd == pytest.approx(9.0 * 0.10 / 3600)  # a quarter of a tenth of a cent
    assert "| local | 1 | 100.0 | 0.000250 | 0.000250 | 0.000250 | 1/1 | 0.000250 | 1.00 | – |" in \
        render_costs_md([row], ("model",))


def test_schema_2_cost_comes_from_the_record_schema_1_from_the_price_table():
    prices = {"gpt-3.5-turbo": Price(0.5, 1.5)}
    priced, unpriced = (make_record(TASKS[3], loop_key(TASKS[3][0], m, 0, rounds=1, edit_format="whole"), True)
                        for m in ("gpt-3.5-turbo", "wizardcoder_15b"))
    usage = priced.completion.usage
    assert priced.schema_version == 1 and not priced.attempts
    assert record_cost(priced, prices) == pytest.approx((usage.prompt_tokens * 0.5 + usage.completion_tokens * 1.5) / 1e6)
    assert record_cost(unpriced, prices) is None
    recorded = make_loop_record(T1, loop_key(T1[0], "gpt-3.5-turbo", 0), [make_attempt(1, "gpt-3.5-turbo", api_usd=0.25)])
    assert record_cost(recorded, prices) == 0.25  # what the run recorded, not a re-pricing
    row = cost_rows([unpriced, make_record(TASKS[3], loop_key(TASKS[3][0], "wizardcoder_15b", 1, rounds=1,
                                                                        edit_format="whole"), False)], prices)[0]
    assert row.total_usd is None and row.mean_usd is None and cost_cells(row)[2:5] == ["", "", ""]


def test_well_formed_share_per_attempt_model():
    def attempt(i, model, kind, well_formed):
        category = "ok" if i == 4 else "runtime_error" if well_formed else "edit_failed"
        return make_attempt(i, model, category, kind=kind,
                            well_formed=well_formed, level=0 if model == "small" else 1)

    cascade = make_loop_record(T1, loop_key(T1[0], "small>big", 0), [
        attempt(1, "small", "search_replace", True), attempt(2, "small", "edit.malformed", False),
        attempt(3, "big", "edit.no_match", False), attempt(4, "big", "search_replace", True)])
    alone = make_loop_record(T1, loop_key(T1[0], "big", 0), [
        make_attempt(1, "big", "harness_error", kind="generation_error"),  # a backend failure: no edit judged
        make_attempt(2, "big", "ok", kind="search_replace", well_formed=True)])
    whole = make_loop_record(T1, loop_key(T1[0], "w", 0, edit_format="whole", merge_elided=True), [
        make_attempt(1, "w", "ok", kind="merged")])
    rows = {r.group: r for r in edit_rows([cascade, alone, whole])}
    assert set(rows) == {("small", "search-replace"), ("big", "search-replace"), ("w", "whole")}
    small, big, w = rows["small", "search-replace"], rows["big", "search-replace"], rows["w", "whole"]
    assert (small.attempts, small.edits, small.well_formed, small.malformed, small.no_match) == (2, 2, 1, 1, 0)
    assert small.well_formed_share == 0.5
    assert (big.attempts, big.edits, big.well_formed, big.no_match, big.not_edits) == (4, 3, 2, 1, 1)
    assert big.well_formed_share == pytest.approx(2 / 3)
    assert (w.edits, w.merged, w.well_formed_share) == (0, 1, None)
    assert has_edits([whole]) and not has_edits(make_loop_records()[:0])


def test_cells_never_merge_samples_that_differ_in_a_loop_axis():
    one_shot = [_sample(T1, "a", i, ["ok"] if i == 0 else ["runtime_error"], rounds=1) for i in range(3)]
    repaired = [_sample(T1, "a", i, ["runtime_error", "ok"], rounds=2) for i in range(3)]
    grouped = {c.group["rounds"]: c.pass_at[1] for c in cells(one_shot + repaired, (1,))}
    assert grouped == {1: pytest.approx(1 / 3), 2: 1.0}
    for axis, value in (("feedback", "none"), ("edit_format", "udiff"), ("merge_elided", True),
                        ("cascade_feedback", False)):
        other = [_sample(T1, "a", 0, ["ok"], **{axis: value})]
        assert len(cells(one_shot[:1] + other, (1,))) == 2, axis


def test_pass_at_k_tables_show_a_loop_axis_only_where_it_varies(tmp_path):
    records = make_loop_records()
    spec = make_loop_spec()
    content = build_content(load_run(write_run(tmp_path / "loop", records, spec)))
    assert content.tables[0].row_axes == ("component", "framework", "model")
    more = records + [r.model_copy(update={"key": r.key.model_copy(update={"rounds": 1})}) for r in records]
    content = build_content(load_run(write_run(tmp_path / "mixed", more, spec)))
    assert content.tables[0].row_axes == ("component", "framework", "model", "rounds")
    assert content.loop.axes == ("model", "rounds")
    assert len(content.loop.costs) == 6
    text = render_report_md(content)
    assert "| Model | Rounds | samples | after round 1 |" in text


def test_loop_report_has_rounds_edits_cost_and_the_plot(tmp_path):
    run_dir = write_run(tmp_path / "loop-run", make_loop_records(), make_loop_spec())
    written = {p.name: p for p in write_report(run_dir, ("md", "csv", "json", "tex", "png"), out_dir=tmp_path / "out")}
    text = written["report.md"].read_text()
    for heading in ("## Rounds", "### Pass@1 after round r", "### Verdict categories of the attempts per round",
                    "## Edits", "## Cost against success"):
        assert f"\n{heading}\n" in text
    assert "![Accuracy against cost, with the Pareto front](plots/cost_accuracy.png)" in text
    assert written["cost_accuracy.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "small&gt;big | 6 | 0.0 | 33.3 | 100.0 | 100.0 |" in text  # the cascade: big rescues in round 3
    costs = written["costs.csv"].read_text().splitlines()
    assert costs[0].startswith("model,samples,passed,success_rate") and costs[-1].endswith(",small:2;big:4")
    assert "\\label{tab:cost}" in written["tables.tex"].read_text()
    assert '"max_rounds": 4' in written["loop.json"].read_text()


def test_one_shot_reports_leave_out_rounds_and_edits(golden_run):
    text = render_report_md(build_content(load_run(golden_run)))
    assert "## Rounds" not in text and "## Edits" not in text and "## Cost against success" in text


def test_budget_verdict_is_the_final_one():
    attempts = [make_attempt(1, "a", "runtime_error")]
    budget = Verdict(status=Status.failed, category=FailureCategory.budget, code="budget_exhausted", reason="spent")
    record = make_loop_record(T1, loop_key(T1[0], "a", 0), attempts, verdict=budget)
    (row,) = cost_rows([record], prices={})
    assert row.passed == 0 and record.verdict.category is FailureCategory.budget


def test_cost_axis_scale():
    assert cost_scale([0.001, 0.002, 0.05]) == "linear"  # 50x
    assert cost_scale([0.0001, 0.02]) == "log"  # 200x
    assert cost_scale([0.0, 0.0001, 0.02]) == "symlog"  # a free model stays on the axis
    assert cost_scale([0.0, 0.0]) == "linear" and cost_scale([]) == "linear"


def test_compare_pairs_on_loop_axes_and_across_them_when_asked(tmp_path):
    one_shot = [_sample(t, "a", i, ["runtime_error"] if i else ["ok"], rounds=1) for t in LOOP_TASKS for i in range(3)]
    repaired = [_sample(t, "a", i, ["runtime_error", "ok"], rounds=2) for t in LOOP_TASKS for i in range(3)]
    spec = make_spec("a")
    run_a, run_b = write_run(tmp_path / "a", one_shot, spec), write_run(tmp_path / "b", repaired, make_spec("b"))
    separate = compare_runs(run_a, run_b, k=1)
    assert separate.cells == [] and len(separate.only_a) == len(separate.only_b) == 3
    assert {g["rounds"] for g in separate.only_a} == {1} and {g["rounds"] for g in separate.only_b} == {2}
    assert "rounds=2" in render_comparison_markdown(separate)
    paired = compare_runs(run_a, run_b, k=1, across=("rounds",))
    assert len(paired.cells) == 3 and paired.overall.n_tasks == 3
    assert paired.overall.a == pytest.approx(1 / 3) and paired.overall.b == 1.0
    assert "Cells paired across Rounds (A: 1; B: 2)." in render_comparison_markdown(paired)
    from benchmark.errors import BadOptionError

    with pytest.raises(BadOptionError, match="choose from"):
        compare_runs(run_a, run_b, across=("round",))


def test_metric_names_keep_loop_cells_apart():
    base = {"functionality": "experiment_tracking", "component": "mlflow", "source_component": None,
            "framework": "keras", "model": "a>b", "temperature": 0.0, "setting": "zero-shot", "retrieval": "none",
            "rounds": 1, "feedback": "verdict", "edit_format": "whole", "merge_elided": False, "cascade_feedback": True}
    assert metric_name(1, base) == "pass_at_1/experiment_tracking/mlflow/keras/a_b/t0/zero-shot/none"
    assert metric_name(1, base | {"rounds": 3, "edit_format": "udiff"}).endswith("/none/rounds-3/edit_format-udiff")


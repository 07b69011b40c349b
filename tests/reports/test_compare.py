from __future__ import annotations

import pytest

from reports import compare_markdown, compare_runs, paired_permutation_test

from .factory import make_records, make_spec, write_run


@pytest.fixture(scope="module")
def better_run(tmp_path_factory):
    """The same matrix with every pass probability raised by 0.5: B should beat A overall."""
    return write_run(tmp_path_factory.mktemp("runs") / "better-run", make_records("better-run", shift=0.5),
                     make_spec("better-run"))


def test_same_run_has_no_difference(golden_run):
    comparison = compare_runs(golden_run, golden_run)
    assert comparison.cells and all(c.delta in (0, None) for c in comparison.cells)
    assert all(c.p_value in (1.0, None) for c in comparison.cells)
    assert comparison.overall.p_value == 1.0 and not comparison.only_a and not comparison.only_b


def test_better_run_is_significantly_better_overall(golden_run, better_run):
    comparison = compare_runs(golden_run, better_run)
    assert comparison.k == 3
    assert comparison.overall.delta > 0.2
    assert comparison.overall.n_tasks == 14
    assert comparison.overall.p_value < 0.01
    short = [c for c in comparison.cells if c.a is None]
    assert len(short) == 1 and short[0].p_value is None  # the n < k cell is not tested


def test_cells_only_in_one_run_are_listed(golden_run, tmp_path):
    fewer = [r for r in make_records() if r.key.model != "gpt-3.5-turbo"]
    other = write_run(tmp_path / "fewer", fewer, make_spec("fewer"))
    comparison = compare_runs(golden_run, other)
    assert comparison.only_a and not comparison.only_b
    assert all(g["model"] == "gpt-3.5-turbo" for g in comparison.only_a)


def test_permutation_test_is_exact_for_small_samples():
    # all 3 tasks improve by 1: only the all-positive and all-negative sign patterns reach |sum| = 3 -> p = 2/8
    assert paired_permutation_test([0, 0, 0], [1, 1, 1]) == pytest.approx(0.25)
    assert paired_permutation_test([0.5, 0.2], [0.5, 0.2]) == 1.0
    many = paired_permutation_test([0.0] * 30, [1.0] * 30)  # Monte Carlo branch, seeded
    assert many < 0.001 and many == paired_permutation_test([0.0] * 30, [1.0] * 30)


def test_markdown_rendering(golden_run, better_run):
    text = compare_markdown(golden_run, better_run)
    assert text.startswith("## Comparison: better-run (B) against golden-run (A), Pass@3")
    assert "Overall over 14 paired tasks" in text
    assert "| Δ (pp) |" in text and "permutation test" in text

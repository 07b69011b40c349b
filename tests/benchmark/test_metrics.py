from math import comb

import pytest

from benchmark.metrics import pass_at_k


def closed_form(n, c, k):
    return 1 - comb(n - c, k) / comb(n, k)


@pytest.mark.parametrize("n,c,k,expected", [
    (3, 0, 1, 0.0), (3, 0, 3, 0.0), (3, 1, 1, 1 / 3), (3, 1, 3, 1.0), (3, 3, 3, 1.0), (3, 2, 1, 2 / 3),
    (5, 1, 3, 1 - comb(4, 3) / comb(5, 3)), (10, 2, 5, 1 - comb(8, 5) / comb(10, 5)), (1, 1, 1, 1.0), (1, 0, 1, 0.0),
    (20, 3, 10, closed_form(20, 3, 10)),
])
def test_pass_at_k_matches_closed_form(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_n_equal_k_is_any_pass():
    assert pass_at_k(3, 1, 3) == 1.0 and pass_at_k(3, 0, 3) == 0.0


def test_not_reported_where_n_below_k():
    assert pass_at_k(2, 2, 3) is None


@pytest.mark.parametrize("n,c,k", [(3, 4, 1), (3, -1, 1), (3, 1, 0)])
def test_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)

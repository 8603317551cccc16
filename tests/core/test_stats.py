"""core.stats.mcnemar_test: do two runs really differ on the same test set?"""

import numpy as np
import pytest

from core.stats import mcnemar_test


def paired(both, only_a, only_b, neither):
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither, bool)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither, bool)
    return a, b


def test_identical_runs_have_nothing_to_test():
    a, _ = paired(800, 0, 0, 200)
    r = mcnemar_test(a, a.copy())
    assert (r.n, r.only_a_right, r.only_b_right) == (1000, 0, 0)
    assert not r.significant()
    sentence = r.sentence("Run A", "Run B")
    assert "exactly the same mistakes" in sentence and "no difference" in sentence and "p =" not in sentence


def test_large_one_sided_disagreement_is_significant():
    r = mcnemar_test(*paired(800, 60, 10, 130))
    assert (r.only_a_right, r.only_b_right, r.exact) == (60, 10, False)
    assert r.statistic == pytest.approx((abs(60 - 10) - 1) ** 2 / 70)  # chi-square with continuity correction
    assert r.p_value < 1e-6 and r.significant()
    sentence = r.sentence("Arch 1", "Arch 2")
    assert "Arch 1 alone is right on 60" in sentence and "Arch 2 alone on 10" in sentence
    assert "Arch 1 is really better" in sentence
    b_better = mcnemar_test(*paired(800, 10, 60, 130))
    assert "Arch 2 is really better" in b_better.sentence("Arch 1", "Arch 2")


def test_balanced_disagreement_is_not_significant():
    r = mcnemar_test(*paired(800, 31, 29, 140))
    assert r.p_value > 0.5 and not r.significant()
    assert "not shown to differ" in r.sentence("A", "B")


def test_few_disagreements_use_the_exact_test():
    r = mcnemar_test(*paired(90, 8, 0, 2))
    assert r.exact and r.p_value == pytest.approx(2 * 0.5 ** 8)  # two-sided binomial
    assert r.significant()
    assert not mcnemar_test(*paired(90, 3, 1, 6)).significant()


def test_different_test_sets_are_refused():
    with pytest.raises(ValueError, match="different sets"):
        mcnemar_test(np.ones(10, bool), np.ones(9, bool))

"""core.metrics.stats.mcnemar_test: do two runs really differ on the same test set?"""

import numpy as np
import pytest

from core.metrics.stats import mcnemar_test


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
    assert "Arch 1 is really better" in sentence and "p < 0.0001, under the usual 5% threshold" in sentence
    b_better = mcnemar_test(*paired(800, 10, 60, 130))
    assert "Arch 2 is really better" in b_better.sentence("Arch 1", "Arch 2")


def test_balanced_disagreement_is_not_significant():
    r = mcnemar_test(*paired(800, 31, 29, 140))
    assert r.p_value > 0.5 and not r.significant()
    assert "not shown to differ" in r.sentence("A", "B") and ", above the usual 5% threshold" in r.sentence("A", "B")


def test_few_disagreements_use_the_exact_test():
    r = mcnemar_test(*paired(90, 8, 0, 2))
    assert r.exact and r.p_value == pytest.approx(2 * 0.5 ** 8)  # two-sided binomial
    assert r.significant()
    assert not mcnemar_test(*paired(90, 3, 1, 6)).significant()


def test_different_test_sets_are_refused():
    with pytest.raises(ValueError, match="different sets"):
        mcnemar_test(np.ones(10, bool), np.ones(9, bool))


def test_a_seed_summary_has_the_mean_the_spread_and_a_t_interval():
    from core.metrics.stats import seed_summary

    s = seed_summary([0.80, 0.82, 0.84])
    assert (s.n, round(s.mean, 6), round(s.sd, 6)) == (3, 0.82, 0.02)
    # t(0.975, 2) = 4.303: half-width 4.303 * 0.02 / sqrt(3) = 0.0497
    assert s.low == pytest.approx(0.82 - 0.04969, abs=1e-4) and s.high == pytest.approx(0.82 + 0.04969, abs=1e-4)
    assert (s.minimum, s.maximum) == (0.80, 0.84)
    with pytest.raises(ValueError, match="two seeds"):
        seed_summary([0.8])


def test_welchs_test_tells_a_real_gap_from_seed_to_seed_spread():
    from core.metrics.stats import seed_summary, welch_test

    tight_low, tight_high = [0.800, 0.801, 0.799, 0.800], [0.850, 0.851, 0.849, 0.850]
    result = welch_test(tight_low, tight_high)
    assert result.significant() and result.p_value < 1e-4
    sentence = result.sentence("A", seed_summary(tight_low), "B", seed_summary(tight_high))
    assert "p < 0.0001" in sentence and "B is really better" in sentence
    noisy_a, noisy_b = [0.80, 0.86, 0.78, 0.84], [0.82, 0.79, 0.85, 0.83]
    assert not welch_test(noisy_a, noisy_b).significant()
    assert "not shown to differ" in welch_test(noisy_a, noisy_b).sentence("A", seed_summary(noisy_a), "B", seed_summary(noisy_b))

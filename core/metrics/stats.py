"""The statistics the report used (a Wald interval) and the one it lacked (do two runs really differ?)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import formatting as fmt


def wald_interval(errors: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Normal-approximation (Wald) interval of an error rate, as in the report's (0.1024, 0.1145)."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        raise ValueError("the interval needs at least one test example")
    low, high = proportion_confint(errors, n, alpha=1 - confidence, method="normal")
    return float(max(0.0, low)), float(min(1.0, high))


@dataclass(frozen=True)
class McNemarResult:
    n: int
    only_a_right: int  # test images run A gets right and run B gets wrong
    only_b_right: int
    statistic: float
    p_value: float
    exact: bool

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def sentence(self, name_a: str, name_b: str, alpha: float = 0.05) -> str:
        disagree = self.only_a_right + self.only_b_right
        head = (f"On the {self.n:,} test images, {name_a} alone is right on {self.only_a_right:,} and "
                f"{name_b} alone on {self.only_b_right:,}. ")
        if disagree == 0:
            return head + "They make exactly the same mistakes: there is no difference to test."
        better = name_a if self.only_a_right > self.only_b_right else name_b
        if self.significant(alpha):
            return head + (f"McNemar's test gives {fmt.p_value(self.p_value)}, under the usual {alpha:.0%} threshold: if the "
                           f"runs were equally good, a difference this large would rarely arise by chance, so {better} is "
                           "really better on this test set.")
        return head + (f"McNemar's test gives {fmt.p_value(self.p_value)}, above the usual {alpha:.0%} threshold: a difference "
                       "this size is common by chance alone, so these runs are not shown to differ.")


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """McNemar's test on paired per-example correctness (same test set, same order)."""
    from statsmodels.stats.contingency_tables import mcnemar

    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"the runs were tested on different sets ({correct_a.size} vs {correct_b.size} examples)")
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    both = int(np.sum(correct_a & correct_b))
    neither = int(np.sum(~correct_a & ~correct_b))
    exact = only_a + only_b < 25  # the usual rule: the chi-square approximation needs enough disagreements
    result = mcnemar([[both, only_a], [only_b, neither]], exact=exact, correction=True)
    return McNemarResult(correct_a.size, only_a, only_b, float(result.statistic), float(result.pvalue), exact)


@dataclass(frozen=True)
class SeedSummary:
    """Test accuracies of one setting trained with several seeds."""

    n: int
    mean: float
    sd: float  # sample standard deviation: how far one seed's result typically lands from the mean
    low: float  # 95 % t-interval of the mean
    high: float
    minimum: float
    maximum: float


def seed_summary(values) -> SeedSummary:
    """Mean, spread and the 95 % t-interval of the mean of per-seed results (at least two)."""
    from scipy import stats

    x = np.asarray(values, float)
    if x.size < 2:
        raise ValueError("a spread needs at least two seeds")
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1)) * sd / np.sqrt(x.size)
    return SeedSummary(int(x.size), mean, sd, mean - half, mean + half, float(x.min()), float(x.max()))


@dataclass(frozen=True)
class WelchResult:
    t: float
    df: float
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def sentence(self, name_a: str, a: SeedSummary, name_b: str, b: SeedSummary, alpha: float = 0.05) -> str:
        head = (f"{name_a}: {a.mean:.1%} on average over {a.n} seeds (spread {a.sd:.1%}); {name_b}: {b.mean:.1%} over "
                f"{b.n} seeds (spread {b.sd:.1%}). Welch's t-test gives {fmt.p_value(self.p_value)}, ")
        if self.significant(alpha):
            better = name_a if a.mean > b.mean else name_b
            return head + (f"under the usual {alpha:.0%} threshold: a gap this large would rarely come from seed-to-seed "
                           f"chance, so {better} is really better, beyond the luck of the seed.")
        return head + (f"above the usual {alpha:.0%} threshold: the gap is within what the seeds alone make; these "
                       "settings are not shown to differ.")


def welch_test(a, b) -> WelchResult:
    """Welch's t-test of two groups of per-seed results (it does not assume equal spreads)."""
    from scipy import stats

    result = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
    return WelchResult(float(result.statistic), float(result.df), float(result.pvalue))

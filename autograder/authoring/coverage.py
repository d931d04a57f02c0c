"""How often an honest seed leaves an envelope: a conservative tail model of the reference runs.

A rate of 1 in 10,000 cannot be seen in the few thousand seeds a CPU trains in an hour (0 alarms
in n seeds only bounds the rate by 3/n at 95 %), so each side of each epoch is modelled past its
observed tail: the k most extreme runs (5 %) above a threshold, their excesses taken as
exponential. Test accuracies are bounded (0-100 %, and a run that stalls sits at chance), so
their true tails are lighter than exponential and the model over-states the rate; to state a
bound rather than a guess, the excess scale and the tail's share are both taken at their one-sided
95 % upper limits. Standard library only (the grader has no scipy).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

TAIL_SHARE = 0.05
"""The share of runs, per side, whose excesses the exponential is fitted to."""
MIN_TAIL = 10
"""Fewer exceedances than this fit nothing worth stating."""
CONFIDENCE = 0.95
RESOLUTION = 0.1
"""Accuracies are read to 0.1 % (1,000 test images): the smallest excess scale worth modelling."""


def binomial_upper(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence limit of a rate seen k times in n (Clopper-Pearson): 0 of n gives
    about 3/n at 95 %."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0

    def at_most_k(p: float) -> float:  # P(X <= k) for X ~ Binomial(n, p)
        if p <= 0.0:
            return 1.0
        if p >= 1.0:
            return 0.0
        logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * math.log(p) + (n - i) * math.log1p(-p) for i in range(k + 1)]
        top = max(logs)
        return math.exp(top) * sum(math.exp(v - top) for v in logs)

    lo, hi = k / n, 1.0
    for _ in range(100):  # bisection: P(X <= k) falls as p grows
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at_most_k(mid) > 1 - confidence else (lo, mid)
    return hi


def chi2_quantile(p: float, dof: int) -> float:
    """The p-quantile of chi-squared with `dof` degrees of freedom (Wilson-Hilferty: within 1 %
    for the 20+ degrees of freedom used here)."""
    z = NormalDist().inv_cdf(p)
    c = 2 / (9 * dof)
    return dof * max(1e-9, 1 - c + z * math.sqrt(c)) ** 3


@dataclass(frozen=True)
class Tail:
    """One side of one epoch: past `threshold` (in the tail's direction) lie `exceed` of `n` runs;
    their excesses have mean `scale`. `scale_hi`, `share_hi`: the one-sided upper limits used."""

    side: str
    threshold: float
    exceed: int
    n: int
    scale: float
    scale_hi: float
    share_hi: float
    shape: float
    """Moment estimate of the generalised Pareto shape of the excesses (diagnostic): at or below 0
    the exponential over-states the tail, as intended; clearly above 0 it would under-state it."""

    def beyond(self, bound: float) -> float:
        """How far `bound` lies past the threshold, in the tail's direction (negative: nearer)."""
        return bound - self.threshold if self.side == "upper" else self.threshold - bound

    def rate(self, bound: float) -> float:
        """Upper bound on the chance that an honest run lies past `bound` (modelled; only meaningful
        at or past the threshold: nearer, `side_rate` asks the data)."""
        return min(1.0, self.share_hi * math.exp(-max(0.0, self.beyond(bound)) / self.scale_hi))

    def bound(self, rate: float) -> float:
        """The bound past which honest runs lie with at most `rate` (the model's quantile)."""
        distance = self.scale_hi * math.log(self.share_hi / rate) if rate < self.share_hi else 0.0
        return self.threshold + distance if self.side == "upper" else self.threshold - distance

    def summary(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def fit_tail(values: list[float], side: str) -> Tail:
    """The exponential tail of `values` on `side` ("lower" or "upper")."""
    sign = 1.0 if side == "upper" else -1.0
    ordered = sorted((sign * v for v in values), reverse=True)
    n = len(ordered)
    k = min(n - 1, max(MIN_TAIL, round(TAIL_SHARE * n)))
    if k < 1:
        raise ValueError(f"{n} run(s): a tail needs at least {MIN_TAIL + 1}")
    threshold = ordered[k]
    excesses = [v - threshold for v in ordered[:k]]
    mean = max(RESOLUTION, sum(excesses) / k)
    var = sum((e - mean) ** 2 for e in excesses) / max(1, k - 1)
    shape = 0.5 * (1 - mean * mean / var) if var > 0 else -1.0
    # The sum of k exponential excesses is Gamma(k, scale): 2 * sum / scale ~ chi-squared(2k).
    scale_hi = 2 * k * mean / chi2_quantile(1 - CONFIDENCE, 2 * k)
    return Tail(side, sign * threshold, k, n, mean, scale_hi, binomial_upper(k, n), shape)


def empirical_rate(values: list[float], bound: float, side: str) -> tuple[int, float]:
    """(runs past `bound`, the 95 % upper limit of that rate): what the runs themselves show."""
    past = sum(1 for v in values if (v > bound if side == "upper" else v < bound))
    return past, binomial_upper(past, len(values))


def side_rate(values: list[float], bound: float, side: str) -> float:
    """The stated rate for one side: the model at or past the tail's threshold; nearer, the data's
    own upper limit (a bound inside the observed tail needs no extrapolation)."""
    tail = fit_tail(values, side)
    if tail.beyond(bound) >= 0:
        return tail.rate(bound)
    return max(tail.share_hi, empirical_rate(values, bound, side)[1])

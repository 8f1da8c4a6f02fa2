"""Uncertainty for eval numbers: intervals on accuracies, paired tests between two models on the same cases, and
mean ± sd across several runs of one recipe.

Which method applies is decided by the scores themselves (`is_binary`): when every score is 0 or 1 (BFCL,
functions, search_qa, compliance, reasoning: a case is right or not), a Wilson interval and an exact McNemar test;
otherwise (IFEval's share of a prompt's instructions followed, or per-case means over several runs) a percentile
bootstrap interval and a paired bootstrap test. Bootstraps use a fixed seed, so a report is reproducible to the digit.

Accuracies come in percent, as everywhere in the eval report; the functions here take and return proportions
unless their name says percent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile
ALPHA = 0.05  # "significant" means p < ALPHA
BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 0


def is_binary(*score_lists: Sequence[float]) -> bool:
    """Every score of every list is exactly 0 or 1."""
    return all(s in (0.0, 1.0) for scores in score_lists for s in scores)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _resample_means(values: np.ndarray, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    return values[idx].mean(axis=1)


def bootstrap_ci(scores: Sequence[float], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean score; (0, 1) when there are no scores."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return 0.0, 1.0
    means = _resample_means(values, samples, seed)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def interval(scores: Sequence[float]) -> tuple[tuple[float, float], str]:
    """The 95 % interval of the mean score and the method's name ("wilson" or "bootstrap")."""
    if is_binary(scores):
        return wilson(int(sum(scores)), len(scores)), "wilson"
    return bootstrap_ci(scores), "bootstrap"


def accuracy(scores: Sequence[float]) -> dict[str, Any]:
    """{"n", "accuracy", "ci", "ci_method"}: the mean score and its 95 % interval, in percent (2 decimals)."""
    n = len(scores)
    (lo, hi), method = interval(scores)
    return {"n": n, "accuracy": round(100 * sum(scores) / n, 2) if n else 0.0,
            "ci": [round(100 * lo, 2), round(100 * hi, 2)], "ci_method": method}


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b cases only model A got right, c only model B. Under the null each
    discordant case goes either way with probability 1/2, so the p-value is a two-sided binomial test of b in b + c."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> float:
    """Two-sided paired bootstrap p-value for mean(a) == mean(b), a[i] and b[i] being the same case: the per-case
    differences are resampled, and p is the share of resampled mean differences at least as far from the observed
    one as the observed one is from 0 (the shift method), with the usual +1 so that p is never 0."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return 1.0
    observed = d.mean()
    if np.allclose(d, 0.0):
        return 1.0
    means = _resample_means(d, samples, seed)
    extreme = np.count_nonzero(np.abs(means - observed) >= abs(observed) - 1e-12)
    return float((1 + extreme) / (samples + 1))


def compare(model: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Model vs baseline on the same cases (scores in the same order): the difference in percent points, the paired
    test used and its p-value, and whether p < ALPHA."""
    if len(model) != len(baseline):
        raise ValueError(f"paired scores differ in length: {len(model)} vs {len(baseline)}")
    n = len(model)
    delta = 100 * (sum(model) - sum(baseline)) / n if n else 0.0
    if is_binary(model, baseline):
        only_model = sum(1 for m, b in zip(model, baseline) if m > b)
        only_base = sum(1 for m, b in zip(model, baseline) if b > m)
        p, test = mcnemar_exact(only_model, only_base), "mcnemar"
    else:
        p, test = paired_bootstrap(model, baseline), "paired_bootstrap"
    return {"n": n, "delta": round(delta, 2), "p": round(p, 4), "test": test, "significant": p < ALPHA}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    xs = [float(v) for v in values]
    if not xs:
        return 0.0, 0.0
    mean = sum(xs) / len(xs)
    if len(xs) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))

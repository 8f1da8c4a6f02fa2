"""eval/stats.py against known values: Wilson intervals, exact McNemar, bootstrap intervals and tests, mean ± sd."""

import math

import pytest

from smolthink.eval import stats


@pytest.mark.parametrize("k, n, lo, hi", [
    (5, 10, 0.236593, 0.763407),  # textbook values (Wilson 1927; Newcombe 1998, table I)
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (81, 263, 0.255289, 0.366210),  # Newcombe 1998, table I (e): 0.2553 to 0.3662
])
def test_wilson_known_values(k, n, lo, hi):
    got = stats.wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-5)


def test_wilson_empty_is_uninformative():
    assert stats.wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("b, c, p", [
    (1, 9, 22 / 1024),  # 2 * P(X <= 1), X ~ Bin(10, 1/2)
    (0, 5, 2 / 32),
    (3, 3, 1.0),
    (0, 0, 1.0),
    (10, 2, 2 * sum(math.comb(12, i) for i in range(3)) / 2**12),
])
def test_mcnemar_exact_known_values(b, c, p):
    assert stats.mcnemar_exact(b, c) == pytest.approx(p)
    assert stats.mcnemar_exact(c, b) == pytest.approx(p)  # symmetric


def test_mcnemar_matches_scipy_binomtest():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(4, 11), (7, 8), (0, 13), (20, 5)]:
        assert stats.mcnemar_exact(b, c) == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue)


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_n():
    small = [0.0, 0.5, 1.0, 0.25] * 5
    large = small * 20
    lo, hi = stats.bootstrap_ci(small)
    assert lo < sum(small) / len(small) < hi
    lo2, hi2 = stats.bootstrap_ci(large)
    assert lo2 < sum(large) / len(large) < hi2 and hi2 - lo2 < (hi - lo) / 2
    assert stats.bootstrap_ci([0.5] * 8) == (0.5, 0.5)
    assert stats.bootstrap_ci(small) == (lo, hi)  # fixed seed: reproducible


def test_bootstrap_ci_close_to_the_normal_interval():
    # 200 scores of mean 0.5, sd 0.5: the normal interval is 0.5 ± 1.96 * 0.5 / sqrt(200) = ± 0.0693
    scores = [0.0, 1.0] * 100
    lo, hi = stats.bootstrap_ci(scores + [0.5])  # one partial score: not binary
    assert lo == pytest.approx(0.5 - 0.0693, abs=0.01) and hi == pytest.approx(0.5 + 0.0693, abs=0.01)


def test_accuracy_picks_the_interval_by_the_scores():
    binary = stats.accuracy([1.0, 0.0, 1.0, 1.0])
    assert binary["n"] == 4 and binary["accuracy"] == 75.0 and binary["ci_method"] == "wilson"
    assert binary["ci"] == [round(100 * x, 2) for x in stats.wilson(3, 4)]
    partial = stats.accuracy([1.0, 0.5, 0.0, 1.0])
    assert partial["ci_method"] == "bootstrap" and partial["ci"][0] < 62.5 < partial["ci"][1]
    assert stats.accuracy([]) == {"n": 0, "accuracy": 0.0, "ci": [0.0, 100.0], "ci_method": "wilson"}


def test_paired_bootstrap():
    a = [0.5, 1.0, 0.25, 0.75] * 10
    assert stats.paired_bootstrap(a, a) == 1.0
    better = [min(1.0, x + 0.25) for x in a]
    assert stats.paired_bootstrap(better, a) < 0.001
    noisy_b = [x + (0.1 if i % 2 else -0.1) for i, x in enumerate(a)]  # differences average to 0
    assert stats.paired_bootstrap(noisy_b, a) > 0.5


def test_compare_uses_mcnemar_for_binary_and_bootstrap_for_partial_scores():
    model = [1.0] * 9 + [0.0] * 11
    base = [0.0] * 9 + [1.0] * 1 + [0.0] * 10  # model alone right on 9, baseline alone on 1
    got = stats.compare(model, base)
    assert got["test"] == "mcnemar" and got["delta"] == 40.0 and got["n"] == 20
    assert got["p"] == pytest.approx(22 / 1024, abs=1e-4) and got["significant"]
    same = stats.compare(model, model)
    assert same["p"] == 1.0 and not same["significant"] and same["delta"] == 0.0
    partial = stats.compare([0.5] * 20, [0.0] * 20)
    assert partial["test"] == "paired_bootstrap" and partial["significant"]
    with pytest.raises(ValueError, match="length"):
        stats.compare([1.0], [1.0, 0.0])


def test_mean_sd():
    assert stats.mean_sd([1, 2, 3, 4]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert stats.mean_sd([7]) == (7.0, 0.0)

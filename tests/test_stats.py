"""Statistics against hand-computed cases and synthetic data with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalgen.stats import ks_statistic, length_summary, mcnemar_exact, paired_bootstrap


def binomial_two_sided(b: int, c: int) -> float:
    """Reference formula written independently: 2 · Σ_{k ≤ min} C(n, k) / 2^n, capped at 1."""
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n)


def test_mcnemar_hand_computed() -> None:
    # b=1, c=9: 2 · (C(10,0) + C(10,1)) / 2^10 = 2 · 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375, abs=1e-15)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(7, 7) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 1) == 1.0


@pytest.mark.parametrize(("b", "c"), [(3, 17), (40, 60), (120, 80), (0, 30), (250, 251)])
def test_mcnemar_matches_the_binomial_formula(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(binomial_two_sided(b, c), rel=1e-12)


def test_mcnemar_large_counts_stay_finite_and_tiny() -> None:
    assert 0.0 <= mcnemar_exact(100, 5000) < 1e-300  # no overflow, no NaN
    assert mcnemar_exact(5000, 5000) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def synthetic_pairs(n: int, p_base: float, p_new: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < p_base).astype(float), (rng.random(n) < p_new).astype(float)


def test_bootstrap_interval_covers_the_true_delta_with_sane_width() -> None:
    base, new = synthetic_pairs(1000, 0.10, 0.25, seed=1)
    result = paired_bootstrap(base, new, seed=0)
    true_delta = 0.15
    assert result.low[0] <= true_delta <= result.high[0]
    assert result.low[0] > 0  # a 15-point rise on 1000 pairs is clearly non-zero
    # Independent Bernoullis: sd of the mean difference ≈ sqrt((.1·.9 + .25·.75) / 1000) ≈ 0.0167.
    width = result.high[0] - result.low[0]
    assert 0.04 < width < 0.09
    assert result.delta[0] == pytest.approx(new.mean() - base.mean())
    assert result.n[0] == 1000


def test_bootstrap_coverage_over_many_synthetic_runs() -> None:
    """The 95% interval should hold the true delta in roughly 95% of repeated experiments."""
    hits = 0
    for seed in range(60):
        base, new = synthetic_pairs(400, 0.3, 0.35, seed=100 + seed)
        r = paired_bootstrap(base, new, n_resamples=1000, seed=seed)
        hits += r.low[0] <= 0.05 <= r.high[0]
    assert hits >= 51  # 95% of 60 is 57; leave room for chance


def test_bootstrap_is_deterministic_with_the_seed_and_varies_without() -> None:
    base, new = synthetic_pairs(300, 0.2, 0.3, seed=3)
    a = paired_bootstrap(base, new, seed=7)
    b = paired_bootstrap(base, new, seed=7)
    c = paired_bootstrap(base, new, seed=8)
    assert (a.low[0], a.high[0]) == (b.low[0], b.high[0])
    assert (a.low[0], a.high[0]) != (c.low[0], c.high[0])


def test_bootstrap_many_metrics_share_resamples_and_skip_nan() -> None:
    base1, new1 = synthetic_pairs(500, 0.1, 0.3, seed=4)
    # Metric 2 is metric 1 exactly: sharing resamples, its interval must be identical.
    base = np.vstack([base1, base1, base1])
    new = np.vstack([new1, new1, new1])
    # Metric 3 lacks half its pairs.
    base[2, ::2] = np.nan
    r = paired_bootstrap(base, new, seed=0)
    assert (r.low[0], r.high[0]) == (r.low[1], r.high[1])
    assert r.n.tolist() == [500, 500, 250]
    valid = ~np.isnan(base[2])
    assert r.delta[2] == pytest.approx(new1[valid].mean() - base1[valid].mean())
    assert r.base[2] == pytest.approx(base1[valid].mean())


def test_bootstrap_identical_runs_give_a_zero_interval() -> None:
    base, _ = synthetic_pairs(200, 0.3, 0.3, seed=5)
    r = paired_bootstrap(base, base.copy())
    assert (r.delta[0], r.low[0], r.high[0]) == (0.0, 0.0, 0.0)


def test_cluster_bootstrap_is_wider_for_correlated_samples() -> None:
    """Ten identical samples per probe carry the information of one: resampling pairs as if
    independent understates the uncertainty; resampling whole probes does not."""
    base_p, new_p = synthetic_pairs(100, 0.2, 0.3, seed=6)
    base, new = np.repeat(base_p, 10), np.repeat(new_p, 10)
    clusters = np.repeat(np.arange(100), 10)
    naive = paired_bootstrap(base, new, seed=0)
    clustered = paired_bootstrap(base, new, clusters=clusters, seed=0)
    per_probe = paired_bootstrap(base_p, new_p, seed=0)
    naive_w = naive.high[0] - naive.low[0]
    clustered_w = clustered.high[0] - clustered.low[0]
    assert clustered_w > 2 * naive_w
    assert clustered_w == pytest.approx(per_probe.high[0] - per_probe.low[0], rel=0.25)


def test_bootstrap_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(np.zeros(3), np.zeros(4))


def test_length_summary_and_ks() -> None:
    assert length_summary([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == {"mean": 5.5, "median": 5.5, "p90": pytest.approx(9.1)}
    assert length_summary([]) == {"mean": 0.0, "median": 0.0, "p90": 0.0}
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, 2, 3], [10, 11]) == 1.0
    # ECDFs of {1,2,3,4} and {3,4,5,6}: at x=2 they are 0.5 and 0.
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
    assert ks_statistic([], [1]) == 0.0

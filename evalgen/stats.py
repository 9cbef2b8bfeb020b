"""Paired statistics for before/after comparisons: exact McNemar, paired bootstrap, length shift.

numpy only: a KS statistic and a binomial tail are a few lines each, not worth a scipy dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BootstrapResult",
    "ks_statistic",
    "length_summary",
    "mcnemar_exact",
    "paired_bootstrap",
]

# Resamples × units held in memory at once; bounds memory to ~40 MB whatever the run size.
_CHUNK_CELLS = 5_000_000


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (ok→bad) and c (bad→ok).

    Under no change each discordant pair flips either way with probability 1/2, so
    p = 2 · P(Binomial(b + c, 1/2) ≤ min(b, c)), capped at 1; 1.0 when there are no discordant pairs.
    Integer arithmetic keeps it exact (no normal approximation) and fast for thousands of flips.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    term = total = 1  # C(n, 0)
    for i in range(1, k + 1):
        term = term * (n - i + 1) // i
        total += term
    # 2 · total / 2**n, with int/int true division rounding correctly even for huge n.
    return min(1.0, total / 2 ** (n - 1))


@dataclass(frozen=True)
class BootstrapResult:
    """Per metric (one entry per row of the input): means over the valid pairs and the interval."""

    base: npt.NDArray[np.float64]
    new: npt.NDArray[np.float64]
    delta: npt.NDArray[np.float64]
    """new - base over the pairs where both values exist."""
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    n: npt.NDArray[np.int64]
    """Pairs with both values present."""


def paired_bootstrap(
    base: npt.ArrayLike,
    new: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Percentile bootstrap interval for mean(new) - mean(base) on paired data, for many metrics.

    `base` and `new` are (n,) or (metrics, n) arrays aligned pair by pair; NaN marks a value that a
    metric lacks for that pair (the pair is left out of that metric only). One set of resampled
    indices serves every metric, so intervals of different metrics are computed on the same
    resamples. `clusters` (n,) labels pairs that are not independent, e.g. several samples of one
    probe: whole clusters are then resampled together.
    """
    b = np.atleast_2d(np.asarray(base, dtype=np.float64))
    a = np.atleast_2d(np.asarray(new, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"base and new must have the same shape, got {b.shape} and {a.shape}")
    valid = ~(np.isnan(a) | np.isnan(b))
    diff = np.where(valid, a - b, 0.0)
    weight = valid.astype(np.float64)
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_mean = np.where(valid, b, 0.0).sum(axis=1) / n_valid
        new_mean = np.where(valid, a, 0.0).sum(axis=1) / n_valid
        delta = diff.sum(axis=1) / n_valid

    # Collapse pairs into resampling units (a cluster, or each pair alone): sums and valid counts.
    if clusters is None:
        unit_diff, unit_weight = diff, weight
    else:
        _, unit = np.unique(np.asarray(clusters), return_inverse=True)
        n_units = int(unit.max()) + 1 if unit.size else 0
        unit_diff = np.zeros((diff.shape[0], n_units))
        unit_weight = np.zeros((diff.shape[0], n_units))
        # Transposed views: add each pair's column into its unit's column.
        np.add.at(unit_diff.T, unit, diff.T)
        np.add.at(unit_weight.T, unit, weight.T)
    n_units = unit_diff.shape[1]

    rng = np.random.default_rng(seed)
    boot = np.empty((n_resamples, diff.shape[0]))
    if n_units == 0:
        boot.fill(np.nan)
    chunk = max(1, _CHUNK_CELLS // max(n_units, 1))
    for start in range(0, n_resamples if n_units else 0, chunk):
        rows = min(chunk, n_resamples - start)
        idx = rng.integers(0, n_units, size=(rows, n_units))
        # How often each unit was drawn in each resample; then every metric is two mat-muls.
        counts = np.bincount((idx + n_units * np.arange(rows)[:, None]).ravel(), minlength=rows * n_units)
        counts = counts.reshape(rows, n_units).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[start : start + rows] = (counts @ unit_diff.T) / (counts @ unit_weight.T)

    alpha = (1.0 - confidence) / 2.0
    low = np.full(diff.shape[0], np.nan)
    high = np.full(diff.shape[0], np.nan)
    for j in range(diff.shape[0]):
        col = boot[:, j][~np.isnan(boot[:, j])]
        if col.size:
            low[j], high[j] = np.quantile(col, [alpha, 1.0 - alpha])
    return BootstrapResult(base_mean, new_mean, delta, low, high, n_valid.astype(np.int64))


def length_summary(lengths: npt.ArrayLike) -> dict[str, float]:
    """Mean, median and 90th percentile of output lengths (tokens); zeros for an empty list."""
    x = np.asarray(lengths, dtype=np.float64)
    if x.size == 0:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0}
    return {"mean": float(x.mean()), "median": float(np.median(x)), "p90": float(np.quantile(x, 0.9))}


def ks_statistic(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    x = np.sort(np.asarray(a, dtype=np.float64))
    y = np.sort(np.asarray(b, dtype=np.float64))
    if x.size == 0 or y.size == 0:
        return 0.0
    points = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, points, side="right") / x.size
    cdf_y = np.searchsorted(y, points, side="right") / y.size
    return float(np.max(np.abs(cdf_x - cdf_y)))

"""Training-run checks on a trainer_state.json `log_history` (see evalgen.trainer_state): the learning
rate falling to 0 early, loss exactly 0, NaN loss, the three kinds of loss spike, divergence without
a spike, and gradient-norm explosions. Every threshold is a documented field of `TrainingConfig`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evalgen.doctor.findings import DoctorFinding, make
from evalgen.trainer_state import Series, TrainerState, read_trainer_state

__all__ = ["Spike", "TrainingConfig", "check_training", "check_trainer_state", "find_spikes"]


@dataclass(frozen=True)
class TrainingConfig:
    """Thresholds of the training checks (defaults in brackets)."""

    lr_zero_before: float = 0.9
    """`lr_zero_early` when the learning rate stays 0 from a step before this share of max_steps [0.9]."""
    spike_window: int = 10
    """Logged points before a point that make its baseline (their median) [10]."""
    spike_rise: float = 0.5
    """A spike: a loss at least (1 + this) × the baseline and above every point of the window [0.5]."""
    recovered_within: float = 0.05
    """Recovered: back to at most (1 + this) × the baseline [0.05]."""
    fast_points: int = 5
    """Recovered within this many logged points: `fast_recovery`; later: `slow_recovery` [5]."""
    divergence_rise: float = 0.3
    """`divergence_without_spike`: the mean of the last `smooth` points is at least (1 + this) × the lowest
    such mean, with no spike after the lowest point [0.3]."""
    smooth: int = 5
    """Points in the moving mean the divergence check compares [5]."""
    grad_norm_factor: float = 10.0
    """`grad_norm_explosion`: a gradient norm at least this × the median of the `spike_window` before it [10]."""
    min_points: int = 8
    """Fewer finite loss points than this: no spike or divergence judgement [8]."""


@dataclass(frozen=True)
class Spike:
    """One loss spike: where it peaked and how it ended."""

    start: int
    """Step of the first point above the threshold."""
    peak: int
    """Step of the highest point."""
    peak_loss: float
    baseline: float
    """Median loss of the window before the spike."""
    recovered_at: int | None
    """Step where the loss was back near the baseline (None: never)."""
    kind: str
    """`fast_recovery`, `slow_recovery` or `no_recovery`."""


def find_spikes(loss: Series, cfg: TrainingConfig = TrainingConfig()) -> list[Spike]:
    """The loss spikes of a (finite) loss series, each with its recovery type."""
    steps, values = loss.steps, loss.values
    spikes: list[Spike] = []
    i = cfg.spike_window
    while i < len(values):
        window = values[i - cfg.spike_window:i]
        base = statistics.median(window)
        if base > 0 and values[i] >= base * (1 + cfg.spike_rise) and values[i] > max(window):
            # The spike runs while the loss stays above the threshold; then look for the recovery.
            j = i
            while j + 1 < len(values) and values[j + 1] >= base * (1 + cfg.spike_rise):
                j += 1
            peak = max(range(i, j + 1), key=lambda k: values[k])
            back = next((k for k in range(peak + 1, len(values)) if values[k] <= base * (1 + cfg.recovered_within)),
                        None)
            if back is None:
                kind = "no_recovery"
            elif back - peak <= cfg.fast_points:
                kind = "fast_recovery"
            else:
                kind = "slow_recovery"
            spikes.append(Spike(steps[i], steps[peak], values[peak], base, steps[back] if back is not None else None,
                                kind))
            i = (back if back is not None else len(values)) + 1
            continue
        i += 1
    return spikes


_SPIKE_SEVERITY = {"fast_recovery": "info", "slow_recovery": "warning", "no_recovery": "error"}


def _lr_checks(state: TrainerState, cfg: TrainingConfig) -> Iterable[DoctorFinding]:
    lr = state.learning_rate
    if not lr:
        return
    peak = max(lr.values)
    if peak <= 0:
        return
    planned = state.max_steps or (lr.steps[-1] if lr.steps else 0)
    # The first zero after the peak from which the rate stays zero to the end of the log.
    first_peak = lr.values.index(peak)
    zero_from = None
    for k in range(len(lr.values) - 1, first_peak, -1):
        if lr.values[k] > 0:
            break
        zero_from = k
    if zero_from is None:
        return
    step = lr.steps[zero_from]
    if planned and step < cfg.lr_zero_before * planned:
        yield make("lr_zero_early", state.path,
                   {"zero_from_step": step, "max_steps": planned, "peak_lr": peak,
                    "steps_at_zero": lr.steps[-1] - step + 1},
                   f"The learning rate is 0 from step {step} of {planned} (peak {peak:g})")


def _loss_checks(state: TrainerState, cfg: TrainingConfig) -> Iterable[DoctorFinding]:
    loss = state.loss
    zero = [s for s, v in loss if v == 0.0]
    if zero:
        yield make("loss_zero", state.path, {"steps": zero[:20], "n_steps": len(zero), "of": len(loss)},
                   f"The training loss is exactly 0 at {len(zero)} of {len(loss)} logged steps (first: {zero[0]})")
    bad = [(s, v) for s, v in loss if not math.isfinite(v)]
    bad_grad = [(s, v) for s, v in state.grad_norm if not math.isfinite(v)]
    if bad or bad_grad:
        first = min(s for s, _ in bad + bad_grad)
        yield make("loss_nan", state.path,
                   {"loss_steps": [s for s, _ in bad][:20], "grad_norm_steps": [s for s, _ in bad_grad][:20],
                    "first_step": first},
                   f"The loss or gradient norm is NaN/inf from step {first} ({len(bad)} loss, {len(bad_grad)} "
                   "grad-norm points)")
    finite = loss.finite()
    if len(finite) < cfg.min_points:
        return
    spikes = find_spikes(finite, cfg)
    for spike in spikes:
        yield make("loss_spike", state.path,
                   {"type": spike.kind, "start_step": spike.start, "peak_step": spike.peak,
                    "peak_loss": round(spike.peak_loss, 4), "baseline_loss": round(spike.baseline, 4),
                    "recovered_at_step": spike.recovered_at},
                   f"Loss spike ({spike.kind}) at step {spike.peak}: {spike.baseline:.3g} → {spike.peak_loss:.3g}"
                   + (f", back by step {spike.recovered_at}" if spike.recovered_at is not None else ", never back"),
                   severity=_SPIKE_SEVERITY[spike.kind])  # type: ignore[arg-type]
    yield from _divergence(state, finite, spikes, cfg)


def _divergence(state: TrainerState, finite: Series, spikes: list[Spike], cfg: TrainingConfig
                ) -> Iterable[DoctorFinding]:
    v, n = finite.values, cfg.smooth
    means = [sum(v[k:k + n]) / n for k in range(len(v) - n + 1)]
    low = min(range(len(means)), key=lambda k: means[k])
    last = means[-1]
    if means[low] <= 0 or last < means[low] * (1 + cfg.divergence_rise):
        return
    low_step = finite.steps[low]
    if any(s.start >= low_step for s in spikes):
        return  # the rise came with a spike: reported as loss_spike
    yield make("divergence_without_spike", state.path,
               {"lowest_mean_loss": round(means[low], 4), "lowest_at_step": low_step,
                "final_mean_loss": round(last, 4), "final_step": finite.steps[-1]},
               f"The loss rose from {means[low]:.3g} (step {low_step}) to {last:.3g} (step {finite.steps[-1]}) "
               "without a spike")


def _grad_checks(state: TrainerState, cfg: TrainingConfig) -> Iterable[DoctorFinding]:
    g = state.grad_norm.finite()
    hits = []
    for i in range(cfg.spike_window, len(g)):
        base = statistics.median(g.values[i - cfg.spike_window:i])
        if base > 0 and g.values[i] >= cfg.grad_norm_factor * base:
            hits.append({"step": g.steps[i], "grad_norm": round(g.values[i], 4), "median_before": round(base, 4)})
    if hits:
        top = max(hits, key=lambda h: h["grad_norm"] / h["median_before"])
        yield make("grad_norm_explosion", state.path, {"steps": hits[:10], "n_steps": len(hits)},
                   f"The gradient norm jumped to {top['grad_norm']:g} ({top['grad_norm'] / top['median_before']:.0f}× "
                   f"its median) at step {top['step']}")


def check_trainer_state(state: TrainerState, cfg: TrainingConfig = TrainingConfig()) -> list[DoctorFinding]:
    """Every training check on a read trainer_state.json."""
    return [*_lr_checks(state, cfg), *_loss_checks(state, cfg), *_grad_checks(state, cfg)]


def check_training(path: str | Path, cfg: TrainingConfig = TrainingConfig()) -> list[DoctorFinding]:
    """Read a trainer_state.json (or a training folder holding one) and check it."""
    return check_trainer_state(read_trainer_state(path), cfg)

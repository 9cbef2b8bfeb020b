"""Regression gates: turn a Comparison into pass/fail verdicts a pipeline can act on.

Defaults are meant to be lived with: a detector fails only when its rate rises by more than 2
points *and* the exact McNemar test says the flips are unlikely to be chance (p < 0.05), so a
handful of noisy flips on a small suite does not block a release. Override in `[gates]` of
evalgen.toml; `GateConfig` documents each key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from evalgen.errors import ConfigError

if TYPE_CHECKING:
    from evalgen.compare import Comparison, Metric

__all__ = ["GATE_KEYS", "GateConfig", "GateResult", "evaluate_gates", "gate_config"]


@dataclass(frozen=True)
class GateConfig:
    """The `[gates]` section. Rates and accuracies are fractions: 0.02 means 2 points."""

    detector_max_increase: float = 0.02
    """A detector gate fails when its rate (all suites) rises by more than this with p < alpha."""
    task_max_drop: float = 0.02
    """The task_accuracy gate fails when old-task accuracy drops by more than this with p < alpha."""
    alpha: float = 0.05
    """Significance level for the exact McNemar test on the flips."""
    identity_suite: str = "identity"
    """The suite whose probes ask the model who it is."""
    identity_max_leaks: int = 0
    """The identity_suite gate fails when more new-run records of that suite leak than this."""
    stop_prob_ratio: float = 0.5
    stop_prob_floor: float = 0.2
    """The stop_prob gate fails when mean stop prob new < ratio × base and new < floor, over the
    informative pairs (see stop_prob_informative)."""
    stop_prob_informative: float = 0.5
    """A pair counts for the stop_prob gate only where the base's stop probability is at least this: where
    the base itself would end its turn there (≥ 0.5 makes the end token its likeliest next token)."""
    length_collapse: bool = False
    """Turn on the length gate: fails when the median output length new < length_ratio × base."""
    length_ratio: float = 0.5
    ignore: tuple[str, ...] = ()
    """Gate names to report but never fail on, e.g. ["language_drift"]."""
    bootstrap_resamples: int = 2000
    seed: int = 0
    """Seed of the paired bootstrap, so intervals are reproducible run to run."""


GATE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(GateConfig))


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    reason: str
    """The figures behind the verdict, readable on its own in a CI log."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "reason": self.reason}


def gate_config(section: Mapping[str, Any] | None) -> GateConfig:
    """Validate the `[gates]` section of evalgen.toml (a dict; None or {} gives the defaults)."""
    values: dict[str, Any] = {}
    defaults = GateConfig()
    for key, value in (section or {}).items():
        if key not in GATE_KEYS:
            hint = difflib.get_close_matches(key, GATE_KEYS, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"[gates] unknown key {key!r}{maybe}; valid keys: {', '.join(GATE_KEYS)}")
        values[key] = _check(key, value, getattr(defaults, key))
    if "alpha" in values and not 0 < values["alpha"] <= 1:
        raise ConfigError(f"[gates] alpha must be in (0, 1], got {values['alpha']}")
    if "bootstrap_resamples" in values and values["bootstrap_resamples"] < 100:
        raise ConfigError("[gates] bootstrap_resamples must be at least 100 for a usable 95% interval")
    return replace(defaults, **values)


def _check(key: str, value: Any, default: Any) -> Any:
    """Coerce a TOML value to the type of the default, or raise ConfigError saying what is expected."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        expected = "a non-negative integer"
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        expected = "a non-negative number"
    elif isinstance(default, str):
        if isinstance(value, str) and value:
            return value
        expected = "a non-empty string"
    else:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        expected = "a list of gate names"
    raise ConfigError(f"[gates] {key} must be {expected}, got {value!r}")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f} pts"


def _find(metrics: list[Metric], name: str, kind: str) -> Metric | None:
    return next((m for m in metrics if m.name == name and m.kind == kind and m.suite == "all"), None)


def _flip_figures(m: Metric) -> str:
    p = "n/a" if m.p_value is None else f"{m.p_value:.3g}"
    return (
        f"{_pct(m.base)} → {_pct(m.new)} ({_pts(m.delta)}, 95% CI {_pts(m.ci_low)} to {_pts(m.ci_high)}), "
        f"McNemar p={p}, {m.new_failures} new failures, {m.fixes} fixes, n={m.n}"
    )


def evaluate_gates(comparison: Comparison, config: GateConfig) -> list[GateResult]:
    """Every gate's verdict, in a stable order: detectors, identity_suite, task_accuracy, stop_prob,
    then length when turned on. Gates without data pass with a reason that starts "skipped"."""
    results: list[GateResult] = []
    eps = 1e-12  # so "more than 2 points" is not tripped by 0.02 in binary floating point

    for m in comparison.metrics:
        if m.kind != "detector" or m.suite != "all":
            continue
        significant = m.p_value is not None and m.p_value < config.alpha
        failed = m.delta > config.detector_max_increase + eps and significant
        rule = f"fails above {_pts(config.detector_max_increase)} with p < {config.alpha}"
        results.append(GateResult(m.name, not failed, f"{m.name} rate {_flip_figures(m)}; {rule}"))

    ident = comparison.identity
    if ident.new_records == 0:
        results.append(
            GateResult("identity_suite", True, f"skipped: no {config.identity_suite!r} suite in the new run")
        )
    else:
        failed = ident.new_leaks > config.identity_max_leaks
        base = f"base {ident.base_leaks} of {ident.base_records}" if ident.base_records else "base: suite absent"
        results.append(
            GateResult(
                "identity_suite",
                not failed,
                f"{ident.new_leaks} of {ident.new_records} {config.identity_suite!r} records leak a foreign "
                f"identity in the new run ({base}); max allowed {config.identity_max_leaks}",
            )
        )

    task = _find(comparison.metrics, "task_accuracy", "task")
    if task is None:
        results.append(GateResult("task_accuracy", True, "skipped: no scored task probes in common"))
    else:
        significant = task.p_value is not None and task.p_value < config.alpha
        failed = -task.delta > config.task_max_drop + eps and significant
        rule = f"fails on a drop of more than {100 * config.task_max_drop:.1f} pts with p < {config.alpha}"
        results.append(GateResult("task_accuracy", not failed, f"accuracy {_flip_figures(task)}; {rule}"))

    stop = _find(comparison.metrics, "stop_prob", "teacher_forced")
    pairs = comparison.stop_pairs
    if stop is None:
        why = (f"no pair where the base's stop probability is informative (≥ {config.stop_prob_informative}) "
               f"among {len(pairs)}" if pairs else "no paired answers")
        results.append(GateResult("stop_prob", True, f"skipped: {why}; to measure it, run the new checkpoint with "
                                  "--baseline BASE_RUN (it is then scored on the base's own answers)"))
    else:
        failed = stop.new < config.stop_prob_ratio * stop.base and stop.new < config.stop_prob_floor
        results.append(
            GateResult(
                "stop_prob",
                not failed,
                f"mean stop probability after {comparison.stop_source} {stop.base:.3f} → {stop.new:.3f} "
                f"(n={stop.n} of {len(pairs)} pairs: those where the base's is ≥ {config.stop_prob_informative}); "
                f"fails below {config.stop_prob_ratio}× base and below {config.stop_prob_floor}",
            )
        )

    if config.length_collapse:
        before, after = comparison.length.base["median"], comparison.length.new["median"]
        failed = after < config.length_ratio * before
        results.append(
            GateResult(
                "length",
                not failed,
                f"median output length {before:g} → {after:g} tokens (KS {comparison.length.ks:.3f}); "
                f"fails below {config.length_ratio}× base",
            )
        )

    return [
        replace(g, passed=True, reason=f"ignored by [gates] ignore; {g.reason}")
        if g.name in config.ignore and not g.passed
        else g
        for g in results
    ]

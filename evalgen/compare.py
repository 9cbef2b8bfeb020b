"""Compare two run folders (before and after an SFT round) and apply the regression gates.

`compare_runs(base, new, config)` pairs records by (suite, probe id, sample) on the keys both runs
have, and reports per detector, per suite and overall: the rates, the paired difference with a
bootstrap interval, the exact McNemar p-value of the flips, and the flips themselves. Old-task
accuracy is re-scored from the generations with the scorers of this evalgen, so both sides are
judged by the same code and thresholds. `run_compare` is the CLI's single call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalgen.detectors import DETECTORS as _REGISTRY
from evalgen.errors import RunFolderError
from evalgen.gates import GateConfig, GateResult, evaluate_gates, gate_config
from evalgen.records import GenerationRecord, RunMeta, TeacherForcedRow
from evalgen.runfolder import SCORES, TEACHER_FORCED
from evalgen.runfolder import load_run as read_run_folder
from evalgen.scorers import ScorerOptions, scorer_options, task_correct
from evalgen.stats import ks_statistic, length_summary, mcnemar_exact, paired_bootstrap

__all__ = [
    "DETECTORS",
    "Comparison",
    "Flip",
    "IdentityCount",
    "LengthShift",
    "Metric",
    "RunData",
    "StopPair",
    "compare_runs",
    "load_run",
    "run_compare",
]

Key = tuple[str, str, int]

DETECTORS: tuple[str, ...] = tuple(_REGISTRY)
"""The registry's detectors (evalgen.detectors.DETECTORS), in report order; others found in
scores.jsonl follow sorted."""

# --- reading a run folder -----------------------------------------------------------------------


@dataclass
class RunData:
    """What the comparison needs from one run folder (read by `evalgen.runfolder.load_run`)."""

    path: Path
    run: dict[str, Any]
    """run.json as written (RunMeta.to_dict())."""
    records: dict[Key, GenerationRecord]
    flags: dict[Key, dict[str, bool]]
    correct: dict[Key, bool | None]
    teacher_forced: dict[tuple[str, str], dict[str, float]] | None
    warnings: list[str] = field(default_factory=list)
    meta: RunMeta | None = None
    tf_rows: list[TeacherForcedRow] = field(default_factory=list)


def load_run(path: str | Path, options: ScorerOptions | None = None) -> RunData:
    """Read a run folder (through `evalgen.runfolder.load_run`) into what the comparison needs.

    Task correctness is recomputed from the generations with `options`; a record without a scorer
    keeps whatever scores.jsonl says. A run never scored is an error naming `evalgen rescore`."""
    run = read_run_folder(path)
    if not run.scored:
        raise RunFolderError(f"{run.path / SCORES}: not found; score the run first with `evalgen rescore {run.path}`")
    warnings = list(run.warnings)
    records = run.records_by_key()
    scores = run.scores_by_key()
    errors = sum(r.stop_reason == "error" for r in records.values())
    if errors:
        warnings.append(f"{run.path}: {errors} generations failed in the backend (stop_reason 'error')")
    flags = {key: line.flags for key, line in scores.items()}
    correct: dict[Key, bool | None] = {}
    for key, record in records.items():
        line = scores.get(key)
        correct[key] = task_correct(record, options) if record.scorer else (line.task_correct if line else None)
    tf: dict[tuple[str, str], dict[str, float]] | None = None
    if (run.path / TEACHER_FORCED).is_file():
        tf = {}
        for row in run.teacher_forced:
            if row.kind == "reference" and row.ref_logprob_mean is not None and row.stop_prob is not None:
                tf[(row.suite, row.probe_id)] = {"ref_logprob": row.ref_logprob_mean, "stop_prob": row.stop_prob}
    return RunData(run.path, run.meta.to_dict(), records, flags, correct, tf, warnings, run.meta, run.teacher_forced)


# --- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One row of the comparison: a metric on one suite (or "all"), before and after."""

    name: str
    kind: str
    """"detector" (a flag rate), "task" (accuracy) or "teacher_forced" (a mean)."""
    suite: str
    base: float
    new: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float | None
    """Exact McNemar on the flips; None for teacher-forced means."""
    n: int
    new_failures: int
    """Pairs that were fine in the base run and bad in the new one (ok → flagged, right → wrong)."""
    fixes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "suite": self.suite,
            "base": self.base,
            "new": self.new,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "n": self.n,
            "new_failures": self.new_failures,
            "fixes": self.fixes,
        }


@dataclass(frozen=True)
class Flip:
    suite: str
    probe_id: str
    sample: int
    detectors: tuple[str, ...]
    """The detectors that flipped (and "task" for an answer that flipped)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "probe_id": self.probe_id,
            "sample": self.sample,
            "detectors": list(self.detectors),
        }


@dataclass(frozen=True)
class LengthShift:
    base: dict[str, float]
    new: dict[str, float]
    ks: float
    """Two-sample KS statistic of n_output_tokens on the common pairs (0 same, 1 disjoint)."""

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "new": self.new, "ks": self.ks}


@dataclass(frozen=True)
class IdentityCount:
    """Records of the identity suite and how many leak a foreign identity, in each whole run."""

    suite: str
    base_records: int
    base_leaks: int
    new_records: int
    new_leaks: int


@dataclass(frozen=True)
class StopPair:
    """One answer teacher-forced through both models: the stop probability right after it."""

    suite: str
    probe_id: str
    sample: int
    base: float
    new: float
    informative: bool
    """Whether the base's value is high enough to gate on (GateConfig.stop_prob_informative)."""

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "probe_id": self.probe_id, "sample": self.sample, "base": self.base,
                "new": self.new, "informative": self.informative}


@dataclass
class Comparison:
    """Everything `comparison.json` holds; `to_dict()` is its exact shape."""

    base_path: str
    base_run: dict[str, Any]
    new_path: str
    new_run: dict[str, Any]
    n_common: int
    n_dropped_base: int
    n_dropped_new: int
    warnings: list[str]
    metrics: list[Metric]
    length: LengthShift
    identity: IdentityCount
    new_failures: list[Flip]
    fixes: list[Flip]
    gates: list[GateResult] = field(default_factory=list)
    stop_pairs: list[StopPair] = field(default_factory=list)
    """Per answer, the stop probability after it in both runs (what the stop_prob metric averages)."""
    stop_source: str = ""
    """What the stop pairs were measured on, in words."""

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def metric(self, name: str, suite: str = "all") -> Metric | None:
        """The row for a metric on a suite, or None when the comparison has none."""
        return next((m for m in self.metrics if m.name == name and m.suite == suite), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": {"path": self.base_path, "run": self.base_run},
            "new": {"path": self.new_path, "run": self.new_run},
            "n_common": self.n_common,
            "n_dropped_base": self.n_dropped_base,
            "n_dropped_new": self.n_dropped_new,
            "warnings": list(self.warnings),
            "metrics": [m.to_dict() for m in self.metrics],
            "length": self.length.to_dict(),
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
            "stop_pairs": {"measured_on": self.stop_source, "pairs": [p.to_dict() for p in self.stop_pairs]},
            "flips": {
                "new_failures": [f.to_dict() for f in self.new_failures],
                "fixes": [f.to_dict() for f in self.fixes],
            },
        }

    def write_json(self, path: str | Path) -> Path:
        """Write `to_dict()` as JSON (strict: no NaN); RunFolderError if the file can't be written."""
        path = Path(path)
        try:
            path.write_text(
                json.dumps(self.to_dict(), ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot write ({exc}); check the folder exists and is writable") from exc
        return path

    def teacher_forced_figures(self) -> dict[str, dict[str, Any]]:
        """"suite/probe_id/sample" → the stop figures of that answer, for the report's cases."""
        return {f"{p.suite}/{p.probe_id}/{p.sample}": {
            "stop prob, base": round(p.base, 4), "stop prob, new": round(p.new, 4),
            "measured after": self.stop_source, "counts for the gate": p.informative,
        } for p in self.stop_pairs}

    def table(self, max_flips: int = 10) -> str:
        """A plain-text summary for the terminal: verdicts, metrics, worst flips."""
        from evalgen.compare_output import format_table

        return format_table(self, max_flips=max_flips)

    def to_markdown(self, max_flips: int = 20) -> str:
        """A Markdown summary for a CI step summary or a PR comment."""
        from evalgen.compare_output import format_markdown

        return format_markdown(self, max_flips=max_flips)


def _differences(label: str, base: Any, new: Any) -> list[str]:
    if base == new:
        return []
    if isinstance(base, dict) and isinstance(new, dict):
        parts = [
            f"{k} {base.get(k)!r} → {new.get(k)!r}"
            for k in sorted(base.keys() | new.keys())
            if base.get(k) != new.get(k)
        ]
        return [f"{label} differ: " + "; ".join(parts)]
    return [f"{label} differ: {base!r} → {new!r}"]


def _run_warnings(base: RunData, new: RunData) -> list[str]:
    """Everything that makes the two runs less than like for like, in words."""
    out: list[str] = []
    for side, data in (("base", base), ("new", new)):
        status = data.run.get("status")
        if status != "complete":
            out.append(f"{side} run status is {status!r}, not 'complete': it may miss records ({data.path})")
    b, n = base.run, new.run
    out += _differences("generation settings", b.get("settings"), n.get("settings"))
    out += _differences("templates", b.get("template"), n.get("template"))
    out += _differences("backends", b.get("backend"), n.get("backend"))
    out += _differences("identity settings", b.get("identity"), n.get("identity"))
    b_version = base.meta.evalgen_version if base.meta else None
    n_version = new.meta.evalgen_version if new.meta else None
    if b_version != n_version:
        out.append(
            f"runs written by different evalgen versions ({b_version} vs {n_version}): re-score both with "
            f"`evalgen rescore RUN` so the detectors match"
        )
    b_print = (b.get("checkpoint") or {}).get("fingerprint")
    if b_print and b_print == (n.get("checkpoint") or {}).get("fingerprint"):
        out.append(f"both runs used the same weights (fingerprint {b_print}): nothing was trained in between")
    return out


def _detector_names(base: RunData, new: RunData) -> list[str]:
    found = {name for d in (base, new) for f in d.flags.values() for name in f}
    return [d for d in DETECTORS if d in found] + sorted(found - set(DETECTORS))


def _nan_or(value: bool | None) -> float:
    return math.nan if value is None else float(value)


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def _pair_metrics(
    names: list[tuple[str, str]],
    base_values: np.ndarray,
    new_values: np.ndarray,
    suite: str,
    clusters: np.ndarray | None,
    config: GateConfig,
    flips: bool,
) -> list[Metric]:
    """Rows for one group of pairs. Values are 1 for bad (flagged / wrong), 0 for fine, NaN absent;
    for teacher-forced metrics they are the raw means and `flips` is False."""
    boot = paired_bootstrap(
        base_values, new_values, clusters=clusters, n_resamples=config.bootstrap_resamples, seed=config.seed
    )
    rows = []
    for j, (name, kind) in enumerate(names):
        if boot.n[j] == 0:
            continue
        p_value: float | None = None
        new_failures = fixes = 0
        if flips:
            b, a = base_values[j], new_values[j]
            new_failures, fixes = int(np.sum((b == 0) & (a == 1))), int(np.sum((b == 1) & (a == 0)))
            p_value = mcnemar_exact(new_failures, fixes)
        sign = -1.0 if kind == "task" else 1.0  # task values are "wrong" indicators; report accuracy
        base_mean, new_mean = float(boot.base[j]), float(boot.new[j])
        low, high = _finite(boot.low[j]), _finite(boot.high[j])
        if kind == "task":
            base_mean, new_mean, low, high = 1 - base_mean, 1 - new_mean, -high, -low
        rows.append(
            Metric(
                name=name,
                kind=kind,
                suite=suite,
                base=base_mean,
                new=new_mean,
                delta=sign * float(boot.delta[j]),
                ci_low=low,
                ci_high=high,
                p_value=p_value,
                n=int(boot.n[j]),
                new_failures=new_failures,
                fixes=fixes,
            )
        )
    return rows


def _groups(keys: list[Any]) -> list[tuple[str, np.ndarray]]:
    """("all", every index) then one (suite, indices) per suite, suites sorted."""
    suites = np.array([k[0] for k in keys], dtype=object)
    out = [("all", np.arange(len(keys)))]
    out += [(s, np.flatnonzero(suites == s)) for s in sorted(set(suites.tolist()))]
    return out


def compare_runs(base_dir: str | Path, new_dir: str | Path, config: Mapping[str, Any] | None = None) -> Comparison:
    """Compare two run folders; `config` is the parsed evalgen.toml (its [gates] and [scorers]).

    Raises RunFolderError for a missing or corrupt folder or when the runs share no records, and
    ConfigError for a bad [gates] or [scorers] entry.
    """
    config = config or {}
    gates_cfg = gate_config(config.get("gates"))
    options = scorer_options(config.get("scorers"))
    base, new = load_run(base_dir, options), load_run(new_dir, options)

    warnings = _run_warnings(base, new) + base.warnings + new.warnings
    common = sorted(base.records.keys() & new.records.keys())
    if not common:
        raise RunFolderError(
            f"{base.path} and {new.path} share no (suite, probe, sample) records; compare runs of the same suites"
        )
    n_dropped_base = len(base.records) - len(common)
    n_dropped_new = len(new.records) - len(common)
    if n_dropped_base or n_dropped_new:
        warnings.append(
            f"compared the {len(common)} records both runs have; dropped {n_dropped_base} only in base, "
            f"{n_dropped_new} only in new"
        )

    # Matrices of "bad" indicators: one row per metric, one column per common pair.
    detectors = _detector_names(base, new)
    names = [(d, "detector") for d in detectors] + [("task_accuracy", "task")]

    def bad_matrix(data: RunData) -> np.ndarray:
        rows = [[_nan_or(data.flags.get(k, {}).get(d)) for k in common] for d in detectors]
        correct = [data.correct.get(k) for k in common]
        rows.append([_nan_or(None if c is None else not c) for c in correct])
        return np.array(rows, dtype=np.float64).reshape(len(names), len(common))

    base_bad, new_bad = bad_matrix(base), bad_matrix(new)
    probe_of: dict[tuple[str, str], int] = {}
    clusters = np.array([probe_of.setdefault((k[0], k[1]), len(probe_of)) for k in common])
    metrics: list[Metric] = []
    for suite, idx in _groups(common):
        metrics += _pair_metrics(names, base_bad[:, idx], new_bad[:, idx], suite, clusters[idx], gates_cfg, True)

    tf_metrics, stop_pairs, stop_source = _teacher_forced_metrics(base, new, gates_cfg, warnings)
    metrics += tf_metrics

    base_len = [base.records[k].n_output_tokens for k in common]
    new_len = [new.records[k].n_output_tokens for k in common]
    length = LengthShift(length_summary(base_len), length_summary(new_len), ks_statistic(base_len, new_len))

    new_failures, fixes = _flips(common, [*detectors, "task"], base_bad, new_bad)
    comparison = Comparison(
        base_path=str(base.path),
        base_run=base.run,
        new_path=str(new.path),
        new_run=new.run,
        n_common=len(common),
        n_dropped_base=n_dropped_base,
        n_dropped_new=n_dropped_new,
        warnings=warnings,
        metrics=metrics,
        length=length,
        identity=_identity_count(base, new, gates_cfg.identity_suite),
        new_failures=new_failures,
        fixes=fixes,
        stop_pairs=stop_pairs,
        stop_source=stop_source,
    )
    comparison.gates = evaluate_gates(comparison, gates_cfg)
    unknown = sorted(set(gates_cfg.ignore) - {g.name for g in comparison.gates})
    if unknown:
        comparison.warnings.append(
            f"[gates] ignore names no gate: {', '.join(unknown)}; gates here: "
            + ", ".join(g.name for g in comparison.gates)
        )
    return comparison


def _stop_pairs(base: RunData, new: RunData, warnings: list[str]) -> tuple[list[tuple[Key, float, float]], str]:
    """(key, base, new) stop probabilities after the same answers: the base's own natural endings that the
    new run was teacher-forced on (`--baseline`), else whole references."""
    own = {r.key: r.stop_prob for r in base.tf_rows if r.kind == "own" and r.stop_prob is not None}
    forced = [r for r in new.tf_rows if r.kind == "baseline" and r.stop_prob is not None]
    base_name = base.meta.name if base.meta else None
    foreign = {r.answer_from for r in forced if r.answer_from and base_name and r.answer_from != base_name}
    if foreign:
        warnings.append(f"the new run was teacher-forced on the answers of {', '.join(sorted(foreign))}, not of "
                        f"{base_name}; stop probabilities paired on references only")
    else:
        pairs = [(r.key, own[r.key], r.stop_prob) for r in forced if r.key in own and r.stop_prob is not None]
        if pairs:
            return sorted(pairs), "the base's own answers that ended naturally"
    refs_b = {r.key: r.stop_prob for r in base.tf_rows if r.kind == "reference" and r.stop_prob is not None}
    refs_n = {r.key: r.stop_prob for r in new.tf_rows if r.kind == "reference" and r.stop_prob is not None}
    return sorted((k, refs_b[k], refs_n[k]) for k in refs_b.keys() & refs_n.keys()), "whole-answer references"


def _teacher_forced_metrics(
    base: RunData, new: RunData, config: GateConfig, warnings: list[str]
) -> tuple[list[Metric], list[StopPair], str]:
    """ref_logprob on the references both runs scored; stop_prob on the informative stop pairs."""
    if base.teacher_forced is None or new.teacher_forced is None:
        if (base.teacher_forced is None) != (new.teacher_forced is None):
            side = "base" if new.teacher_forced is None else "new"
            warnings.append(f"teacher_forced.jsonl only in the {side} run; teacher-forced figures skipped")
        return [], [], ""
    out: list[Metric] = []
    keys = sorted(base.teacher_forced.keys() & new.teacher_forced.keys())
    if keys:
        b = np.array([[base.teacher_forced[k]["ref_logprob"] for k in keys]])
        a = np.array([[new.teacher_forced[k]["ref_logprob"] for k in keys]])
        for suite, idx in _groups(keys):
            out += _pair_metrics([("ref_logprob", "teacher_forced")], b[:, idx], a[:, idx], suite, None, config, False)
    found, source = _stop_pairs(base, new, warnings)
    pairs = [StopPair(k[0], k[1], k[2], b_val, n_val, b_val >= config.stop_prob_informative)
             for k, b_val, n_val in found]
    gated = [p for p in pairs if p.informative]
    if gated:
        gated_keys = [(p.suite, p.probe_id, p.sample) for p in gated]
        b = np.array([[p.base for p in gated]])
        a = np.array([[p.new for p in gated]])
        for suite, idx in _groups(gated_keys):
            out += _pair_metrics([("stop_prob", "teacher_forced")], b[:, idx], a[:, idx], suite, None, config, False)
    return out, pairs, source


def _flips(
    keys: list[Key], labels: list[str], base_bad: np.ndarray, new_bad: np.ndarray
) -> tuple[list[Flip], list[Flip]]:
    """Per pair, which metrics went fine → bad and bad → fine; most detectors first."""
    worse = (base_bad == 0) & (new_bad == 1)
    better = (base_bad == 1) & (new_bad == 0)
    out: tuple[list[Flip], list[Flip]] = ([], [])
    for col, key in enumerate(keys):
        for mask, dest in ((worse, out[0]), (better, out[1])):
            hit = tuple(labels[j] for j in np.flatnonzero(mask[:, col]))
            if hit:
                dest.append(Flip(key[0], key[1], key[2], hit))
    for flips in out:
        flips.sort(key=lambda f: (-len(f.detectors), f.suite, f.probe_id, f.sample))
    return out


def _identity_count(base: RunData, new: RunData, suite: str) -> IdentityCount:
    def count(data: RunData) -> tuple[int, int]:
        keys = [k for k in data.records if k[0] == suite]
        return len(keys), sum(bool(data.flags.get(k, {}).get("identity_leak")) for k in keys)

    (b_n, b_leaks), (n_n, n_leaks) = count(base), count(new)
    return IdentityCount(suite, b_n, b_leaks, n_n, n_leaks)


def run_compare(
    base_dir: str | Path,
    new_dir: str | Path,
    config: Mapping[str, Any] | None = None,
    json_path: str | Path | None = None,
    markdown_path: str | Path | None = None,
) -> Comparison:
    """What `evalgen compare` does, printing nothing: compare, write `comparison.json` into the NEW
    run folder, and the optional JSON / Markdown copies. Print `comparison.table()` and exit with
    0 if `comparison.passed` else 1; EvalgenError means a usage error (exit 2)."""
    comparison = compare_runs(base_dir, new_dir, config)
    comparison.write_json(Path(new_dir) / "comparison.json")
    if json_path is not None:
        comparison.write_json(json_path)
    if markdown_path is not None:
        path = Path(markdown_path)
        try:
            path.write_text(comparison.to_markdown(), encoding="utf-8")
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot write ({exc}); check the folder exists and is writable") from exc
    return comparison

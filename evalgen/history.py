"""Trends over the steps of a training run, or over SFT rounds: `evalgen history`.

`build_history(paths)` reads run folders (one per step or round) and gives, for each: every
detector's flag rate, old-task accuracy, mean stop probability and mean output length, each with a
95% interval; the gates of `evalgen compare` applied against the base; the first step that fails a
gate; and the best step by `BEST_RULE`. `History.to_dict()` is the stable JSON shape:

    {"version": 1,
     "base": {"run": "…", "step": 500 | null},
     "steps": [{"step": 500, "label": "step-000500", "run": "…", "report": "…/report.html" | null,
                "n": 120, "rates": {"repetition": 0.01, …}, "intervals": {"repetition": [lo, hi], …},
                "task_accuracy": 0.93, "task_accuracy_interval": [lo, hi],
                "stop_prob": 0.8 | null, "stop_prob_interval": [lo, hi] | null,
                "mean_output_tokens": 41.2, "mean_output_tokens_interval": [lo, hi],
                "gates_failed": [], "newest": false}, …],
     "thresholds": {"repetition": 0.03, …, "task_accuracy": 0.91, "stop_prob": 0.2},
     "first_failing_step": 1500 | null, "best_step": 1000 | null, "best_rule": "…",
     "newest_failed": true | false}

Intervals are Wilson score intervals for rates and accuracies, mean ± 1.96 standard errors for
stop probability and length. Numbers are rounded to 4 decimals; a metric without data is null.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.compare_output import md_text
from evalgen.errors import RunFolderError

__all__ = [
    "BEST_RULE",
    "HISTORY_VERSION",
    "History",
    "StepPoint",
    "build_history",
    "find_step_runs",
    "step_of",
    "wilson",
]

HISTORY_VERSION = 1
STEP_FOLDER = re.compile(r"^step-(\d+)$")
BASELINE_FOLDER = "baseline"
Z95 = 1.959963984540054

BEST_RULE = (
    "among steps that fail no gate against the base: the highest task accuracy; ties broken by the lowest "
    "mean detector rate, then by the latest step"
)
"""How `best_step` is chosen (also written into the JSON as `best_rule`)."""


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """95% Wilson score interval of the proportion k/n; None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + Z95 * Z95 / n
    centre = (p + Z95 * Z95 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float]) -> tuple[float, tuple[float, float]] | None:
    """(mean, mean ± 1.96 standard errors) of the finite values; None when there are none."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, (m, m)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    half = Z95 * sd / math.sqrt(len(xs))
    return m, (m - half, m + half)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def _ri(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [_r(pair[0]), _r(pair[1])]


@dataclass
class StepPoint:
    """One step (or round) of the history: its figures and its verdict against the base."""

    step: int
    """The optimizer step (from `step-N` / `checkpoint-N` folder names), or the round's position (1, 2, …)."""
    label: str
    """The run folder's name."""
    run: Path
    n: int
    """Generation records in the run."""
    rates: dict[str, float] = field(default_factory=dict)
    """Detector → share of the records it applies to that it flagged."""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    task_accuracy: float | None = None
    task_accuracy_interval: tuple[float, float] | None = None
    stop_prob: float | None = None
    """Mean teacher-forced probability of ending the turn after the reference answer."""
    stop_prob_interval: tuple[float, float] | None = None
    mean_output_tokens: float | None = None
    mean_output_tokens_interval: tuple[float, float] | None = None
    gates_failed: list[str] = field(default_factory=list)
    """Gates of `evalgen compare` that fail for this step against the base (empty for the base itself)."""
    gate_reasons: dict[str, str] = field(default_factory=dict)
    report: Path | None = None
    """The step's case report (report.html), when it exists."""

    def to_dict(self, newest: bool = False) -> dict[str, Any]:
        return {
            "step": self.step,
            "label": self.label,
            "run": str(self.run),
            "report": str(self.report) if self.report else None,
            "n": self.n,
            "rates": {k: _r(v) for k, v in self.rates.items()},
            "intervals": {k: _ri(v) for k, v in self.intervals.items()},
            "task_accuracy": _r(self.task_accuracy),
            "task_accuracy_interval": _ri(self.task_accuracy_interval),
            "stop_prob": _r(self.stop_prob),
            "stop_prob_interval": _ri(self.stop_prob_interval),
            "mean_output_tokens": _r(self.mean_output_tokens),
            "mean_output_tokens_interval": _ri(self.mean_output_tokens_interval),
            "gates_failed": list(self.gates_failed),
            "gate_reasons": dict(self.gate_reasons),
            "newest": newest,
        }


@dataclass
class History:
    """The steps in order, the base they were gated against, and the verdicts."""

    steps: list[StepPoint]
    base: StepPoint
    thresholds: dict[str, float]
    """Where each metric's gate sits, from the base's value and [gates]: a detector rate above
    base + detector_max_increase, a task accuracy below base - task_max_drop, a stop probability below
    min(stop_prob_ratio × base, stop_prob_floor) fail (the detector and task gates also need p < alpha)."""
    base_is_step: bool = True
    """False when the base is a separate baseline run (then it is not one of `steps`)."""
    training: dict[str, dict[str, list[Any]]] | None = None
    """trainer_state.json series: name → {"steps": [...], "values": [...]} (loss, learning_rate, grad_norm)."""
    training_source: str | None = None
    training_findings: list[dict[str, Any]] = field(default_factory=list)
    """`evalgen doctor`'s training-log findings (loss spike, loss exactly 0, NaN, learning rate at 0, …):
    code, severity, message, fix and `step`, the step where the evidence starts (null when none)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def first_failing_step(self) -> int | None:
        return next((p.step for p in self.steps if p.gates_failed), None)

    @property
    def newest_failed(self) -> bool:
        return bool(self.steps and self.steps[-1].gates_failed)

    @property
    def best_step(self) -> int | None:
        passing = [p for p in self.steps if not p.gates_failed]
        if not passing:
            return None

        def key(p: StepPoint) -> tuple[float, float, int]:
            acc = p.task_accuracy if p.task_accuracy is not None else -1.0
            mean_rate = sum(p.rates.values()) / len(p.rates) if p.rates else 0.0
            return (acc, -mean_rate, p.step)

        return max(passing, key=key).step

    def to_dict(self) -> dict[str, Any]:
        last = len(self.steps) - 1
        return {
            "version": HISTORY_VERSION,
            "base": {"run": str(self.base.run), "step": self.base.step if self.base_is_step else None,
                     **({} if self.base_is_step else {"figures": self.base.to_dict()})},
            "steps": [p.to_dict(newest=i == last) for i, p in enumerate(self.steps)],
            "thresholds": {k: _r(v) for k, v in self.thresholds.items()},
            "first_failing_step": self.first_failing_step,
            "best_step": self.best_step,
            "best_rule": BEST_RULE,
            "newest_failed": self.newest_failed,
            "training": self.training,
            "training_source": self.training_source,
            "training_findings": list(self.training_findings),
            "warnings": list(self.warnings),
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2, allow_nan=False) + "\n",
                            encoding="utf-8")
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot write ({exc}); check the folder exists and is writable") from exc
        return path

    def detectors(self) -> list[str]:
        names: dict[str, None] = {}
        for p in [self.base, *self.steps]:
            names.update(dict.fromkeys(p.rates))
        return list(names)

    def to_markdown(self) -> str:
        """A table per step (rates in %, task accuracy, stop probability, mean tokens, failed gates)."""
        detectors = self.detectors()
        head = ["step", "run", *detectors, "task acc", "stop prob", "mean tokens", "gates failed"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for p in self.steps:
            cells = [str(p.step), md_text(p.label)]
            cells += [_pct(p.rates.get(d)) for d in detectors]
            cells += [_pct(p.task_accuracy), _num(p.stop_prob, 3), _num(p.mean_output_tokens, 1),
                      md_text(", ".join(p.gates_failed)) or "none"]
            lines.append("| " + " | ".join(cells) + " |")
        base = "the first step" if self.base_is_step else f"the baseline run {md_text(str(self.base.run))}"
        lines += [
            "",
            f"Gates are applied against {base}.",
            f"First failing step: **{self.first_failing_step if self.first_failing_step is not None else 'none'}**.",
            f"Best step: **{self.best_step if self.best_step is not None else 'none'}** ({BEST_RULE}).",
        ]
        if self.newest_failed:
            newest = self.steps[-1]
            lines.append(f"The newest step ({newest.step}) fails: {md_text(', '.join(newest.gates_failed))}.")
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """A plain-text table for the terminal."""
        from evalgen.compare_output import grid

        detectors = self.detectors()
        header = ["step", *detectors, "task acc", "stop prob", "tokens", "gates"]
        rows = []
        for p in self.steps:
            rows.append([str(p.step), *(_pct(p.rates.get(d)) for d in detectors), _pct(p.task_accuracy),
                         _num(p.stop_prob, 3), _num(p.mean_output_tokens, 1), "FAIL" if p.gates_failed else "pass"])
        failures = [f"step {p.step} fails: {', '.join(p.gates_failed)}" for p in self.steps if p.gates_failed]
        first, best = self.first_failing_step, self.best_step
        tail = [f"first failing step: {first if first is not None else 'none'}",
                f"best step: {best if best is not None else 'none'} ({BEST_RULE})"]
        return "\n".join([*grid(header, rows, indent="", left=1), "", *failures, *tail]) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# --- finding the runs -------------------------------------------------------------------------------


def step_of(folder: Path) -> int | None:
    """The step number in a `step-N` or `checkpoint-N` folder name, else None."""
    match = STEP_FOLDER.match(folder.name) or re.match(r"^checkpoint-(\d+)$", folder.name)
    return int(match.group(1)) if match else None


def is_run_folder(folder: Path) -> bool:
    return (folder / "run.json").is_file() and (folder / "generations.jsonl").is_file()


def find_step_runs(paths: Iterable[str | Path]) -> tuple[list[tuple[int, Path]], Path | None]:
    """The (step, run folder) pairs named by `paths`, in step order, and the baseline run found beside them.

    A path is a run folder (a round), or a folder of `step-N/` run folders as `evalgen run OUTPUT_DIR/`
    writes them (with `baseline/` when a baseline was run). Rounds without a step number are numbered
    by their position among the arguments (1, 2, …)."""
    found: list[tuple[int | None, Path]] = []
    baseline: Path | None = None
    for raw in paths:
        path = Path(raw)
        if is_run_folder(path):
            found.append((step_of(path), path))
            continue
        if not path.is_dir():
            raise RunFolderError(f"{path}: not found; pass run folders or a folder of step-N/ run folders")
        steps = sorted((step_of(p), p) for p in path.iterdir() if STEP_FOLDER.match(p.name) and is_run_folder(p))
        if not steps:
            raise RunFolderError(f"{path}: neither a run folder (run.json, generations.jsonl) nor a folder of "
                                 "step-N/ run folders; pass what `evalgen run` wrote")
        found.extend(steps)
        if is_run_folder(path / BASELINE_FOLDER) and baseline is None:
            baseline = path / BASELINE_FOLDER
    if all(step is not None for step, _ in found):
        ordered = sorted(((int(s), p) for s, p in found), key=lambda sp: sp[0])  # type: ignore[arg-type]
    else:  # rounds: the order given
        ordered = [(i, p) for i, (_, p) in enumerate(found, start=1)]
    steps_seen = [s for s, _ in ordered]
    if len(set(steps_seen)) != len(steps_seen):
        dupes = sorted({s for s in steps_seen if steps_seen.count(s) > 1})
        raise RunFolderError(f"step {dupes[0]} is named twice among the runs given; pass each step once")
    return ordered, baseline


# --- the figures ------------------------------------------------------------------------------------


def step_point(step: int, folder: Path) -> StepPoint:
    """The figures of one run folder (no verdicts yet)."""
    from evalgen.compare import load_run

    data = load_run(folder)
    records = list(data.records.values())
    point = StepPoint(step=step, label=folder.name, run=folder, n=len(records))
    counts: dict[str, list[int]] = {}
    for key in data.records:
        for name, flagged in data.flags.get(key, {}).items():
            c = counts.setdefault(name, [0, 0])
            c[0] += bool(flagged)
            c[1] += 1
    for name, (k, n) in counts.items():
        point.rates[name] = k / n
        point.intervals[name] = wilson(k, n)  # type: ignore[assignment]
    judged = [v for v in data.correct.values() if v is not None]
    if judged:
        point.task_accuracy = sum(judged) / len(judged)
        point.task_accuracy_interval = wilson(sum(judged), len(judged))
    if data.teacher_forced:
        stop = mean_interval([row["stop_prob"] for row in data.teacher_forced.values()])
        if stop is not None:
            point.stop_prob, point.stop_prob_interval = stop
    lengths = mean_interval([r.n_output_tokens for r in records])
    if lengths is not None:
        point.mean_output_tokens, point.mean_output_tokens_interval = lengths
    report = folder / "report.html"
    point.report = report if report.is_file() else None
    return point


def thresholds(base: StepPoint, config: Mapping[str, Any]) -> dict[str, float]:
    from evalgen.gates import gate_config

    gates = gate_config(config.get("gates"))
    out = {name: rate + gates.detector_max_increase for name, rate in base.rates.items()}
    if base.task_accuracy is not None:
        out["task_accuracy"] = base.task_accuracy - gates.task_max_drop
    if base.stop_prob is not None:
        out["stop_prob"] = min(gates.stop_prob_ratio * base.stop_prob, gates.stop_prob_floor)
    return out


def build_history(
    paths: Sequence[str | Path],
    config: Mapping[str, Any] | None = None,
    baseline: str | Path | None = None,
    trainer_state: str | Path | None = None,
) -> History:
    """Read the runs named by `paths` (run folders, or folders of step-N/ runs) and gate each against
    the base: `baseline` (a run folder) when given, else a `baseline/` run beside the steps, else the
    first step. `trainer_state`: a trainer_state.json (or a folder holding one, e.g. the training
    OUTPUT_DIR) whose loss, learning rate and grad norm are added on the same step axis."""
    from evalgen.compare import compare_runs

    config = dict(config or {})
    runs, found_baseline = find_step_runs(paths)
    base_dir = Path(baseline) if baseline is not None else found_baseline
    points = [step_point(step, folder) for step, folder in runs]
    if base_dir is not None:
        if not is_run_folder(base_dir):
            raise RunFolderError(f"{base_dir}: not a run folder (no run.json or generations.jsonl); pass "
                                 "the baseline's run folder")
        base, base_is_step = step_point(0, base_dir), False
    else:
        base, base_is_step = points[0], True
    history = History(points, base, thresholds(base, config), base_is_step)
    for point in points:
        if base_is_step and point is base:
            continue
        comparison = compare_runs(base.run, point.run, config)
        for gate in comparison.failed_gates:
            point.gates_failed.append(gate.name)
            point.gate_reasons[gate.name] = gate.reason
        history.warnings += [f"step {point.step}: {w}" for w in comparison.warnings]
    if trainer_state is not None:
        add_training_curves(history, Path(trainer_state))
    return history


TRAINING_SERIES = ("loss", "learning_rate", "grad_norm")
FINDING_STEP_KEYS = ("zero_from_step", "first_step", "start_step", "peak_step", "step")
"""Evidence keys of a doctor training finding that name the step where it begins, in order of preference."""


def add_training_curves(history: History, source: Path) -> None:
    """Attach loss, learning rate and grad norm from a trainer_state.json (the file, or the newest one in a
    training OUTPUT_DIR: its own, else the highest checkpoint-N/'s). Absent file: nothing is added."""
    from evalgen.trainer_state import find_trainer_state, read_trainer_state

    path = find_trainer_state(source)
    if path is None:
        return
    state = read_trainer_state(path)
    series: dict[str, dict[str, list[Any]]] = {}
    for name in TRAINING_SERIES:
        s = getattr(state, name)
        # Non-finite values (a blown-up loss) are kept as null: JSON has no NaN.
        series[name] = {"steps": list(s.steps), "values": [v if math.isfinite(v) else None for v in s.values]}
    if any(v["values"] for v in series.values()):
        history.training = series
        history.training_source = str(path)
    from evalgen.doctor.training import check_trainer_state

    for finding in check_trainer_state(state):
        evidence = finding.evidence
        steps = evidence.get("steps") or []
        step = next((evidence[k] for k in FINDING_STEP_KEYS if isinstance(evidence.get(k), int)),
                    steps[0] if steps and isinstance(steps[0], int) else None)
        history.training_findings.append({"code": finding.code, "severity": finding.severity, "step": step,
                                          "message": finding.message, "fix": finding.fix})


TRAINING_RUN_JSON = "training_run.json"
"""Written by `evalgen run OUTPUT_DIR/` into its --out: {"source": OUTPUT_DIR}, so that `evalgen history OUT`
finds the trainer_state.json again."""


def recorded_source(paths: Sequence[str | Path]) -> str | None:
    """The training output_dir recorded by `evalgen run` in one of `paths`, when it still exists."""
    for raw in paths:
        marker = Path(raw) / TRAINING_RUN_JSON
        try:
            source = json.loads(marker.read_text(encoding="utf-8")).get("source")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(source, str) and Path(source).exists():
            return source
    return None


def trend_default(history: History) -> Path:
    """trend.html in the folder that holds the runs (their common parent)."""
    import os

    parents = sorted({str(p.run.resolve().parent) for p in history.steps})
    return Path(os.path.commonpath(parents) if parents else ".") / "trend.html"

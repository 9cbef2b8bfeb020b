"""Run folders as pandas DataFrames, and `evalgen export`.

- `run_frame(run)`: one row per generation record: its keys (suite, probe_id, sample), how it ended
  (stop_reason, stop_detail, n_output_tokens, latency_s), the text (output), each detector's flag
  (`flag_<detector>`, None where the record has no finding of it) and finding score (`score_<detector>`),
  the task result (task_correct, None for probes without a reference) and, when the run has them,
  the teacher-forced figures of the record's probe (ref_logprob, stop_prob).
- `history_frame(paths)`: one row per step × metric (step, label, run, metric, kind, value, low,
  high, gates_failed), from `evalgen.history.build_history`.
- `export_run(run, path, fmt)`: the run frame as csv, jsonl or parquet (parquet needs pyarrow).

pandas is imported when a frame is built, not when evalgen is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgen.errors import ConfigError, RunFolderError

if TYPE_CHECKING:
    import pandas as pd

    from evalgen.runfolder import Run

__all__ = ["EXPORT_FORMATS", "export_run", "history_frame", "run_frame"]

EXPORT_FORMATS = ("csv", "jsonl", "parquet")
RECORD_COLUMNS = ("suite", "probe_id", "sample", "lang", "stop_reason", "stop_detail", "n_output_tokens",
                  "latency_s", "scorer", "output")


def run_frame(run: Run | str | Path) -> pd.DataFrame:
    """One row per generation record of `run` (a `Run` from `evalgen.load_run`, or its folder); see the
    module docstring for the columns. `evalgen.load_run(path).to_pandas()` calls this."""
    import pandas as pd

    from evalgen.runfolder import Run, load_run
    from evalgen.scorers import task_correct

    data = run if isinstance(run, Run) else load_run(run)
    if not data.scored:
        raise RunFolderError(f"{data.path / 'scores.jsonl'}: not found; score the run first with "
                             f"`evalgen rescore {data.path}`")
    scores = data.scores_by_key()
    detectors: dict[str, None] = {}
    for score in scores.values():
        detectors.update(dict.fromkeys(score.findings))
    teacher = {(r.suite, r.probe_id): r for r in data.teacher_forced if r.kind == "reference"}
    rows = []
    for record in data.records:
        row: dict[str, Any] = {"run": data.name}
        row.update({c: getattr(record, c) for c in RECORD_COLUMNS})
        line = scores.get(record.key)
        for name in detectors:
            finding = line.findings.get(name) if line is not None else None
            row[f"flag_{name}"] = bool(finding.flagged) if finding is not None else None
            row[f"score_{name}"] = float(finding.score) if finding is not None else None
        # as the comparison counts it: re-judged with this evalgen's scorers, else as scores.jsonl says
        row["task_correct"] = task_correct(record) if record.scorer else (line.task_correct if line else None)
        if teacher:
            tf = teacher.get((record.suite, record.probe_id))
            row["ref_logprob"] = tf.ref_logprob_mean if tf is not None else None
            row["stop_prob"] = tf.stop_prob if tf is not None else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["run", *RECORD_COLUMNS, "task_correct"])
    for name in detectors:  # True/False/None stays a nullable boolean, not object or float
        frame[f"flag_{name}"] = frame[f"flag_{name}"].astype("boolean")
    frame["task_correct"] = frame["task_correct"].astype("boolean")
    return frame


def history_frame(paths: Sequence[str | Path] | str | Path, config: Mapping[str, Any] | None = None,
                  baseline: str | Path | None = None) -> pd.DataFrame:
    """One row per step × metric of the runs named by `paths` (run folders, or folders of step-N/ runs)."""
    import pandas as pd

    from evalgen.history import build_history

    if isinstance(paths, str | Path):
        paths = [paths]
    history = build_history(list(paths), config, baseline=baseline)
    rows = []
    for point in history.steps:
        failed = ",".join(point.gates_failed)
        common = {"step": point.step, "label": point.label, "run": str(point.run), "gates_failed": failed}
        for name, rate in point.rates.items():
            low, high = point.intervals.get(name, (None, None))
            rows.append({**common, "metric": name, "kind": "detector_rate", "value": rate, "low": low, "high": high})
        for metric, kind in (("task_accuracy", "task"), ("stop_prob", "teacher_forced"),
                             ("mean_output_tokens", "length")):
            value = getattr(point, metric)
            if value is None:
                continue
            low, high = getattr(point, metric + "_interval") or (None, None)
            rows.append({**common, "metric": metric, "kind": kind, "value": value, "low": low, "high": high})
    columns = ["step", "label", "run", "metric", "kind", "value", "low", "high", "gates_failed"]
    return pd.DataFrame(rows, columns=columns)


def export_run(run: str | Path, out: str | Path | None = None, fmt: str = "csv") -> Path:
    """Write the run frame of `run` as `fmt` to `out` (default: RUN/records.<fmt>); returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install 'evalgen[parquet]' (or use --format "
                              "csv or jsonl)") from None
    frame = run_frame(run)
    path = Path(out) if out is not None else Path(run) / f"records.{fmt}"
    try:
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot write ({exc}); check the folder exists and is writable") from exc
    return path

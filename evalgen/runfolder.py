"""The run folder: `run.json` (what was run, how, versions, timings, counts), `generations.jsonl` (one
record per probe × sample, appended as batches finish so that an interrupted run loses nothing),
`scores.jsonl` and `teacher_forced.jsonl`. Their shapes are the types in `evalgen.records`.

`RunFolder` writes one; `load_run(folder)` is the one reader (compare, report, resume, rescore and
notebooks use it): every line is validated, and a bad one is an error naming file:line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgen.errors import RunFolderError
from evalgen.records import (
    RUN_FORMAT_VERSION,
    GenerationRecord,
    RunMeta,
    ScoreLine,
    TeacherForcedRow,
    finite,
    json_line,
    jsonl_lines,
)

__all__ = [
    "GENERATIONS",
    "RUN_FORMAT_VERSION",
    "RUN_JSON",
    "SCORES",
    "TEACHER_FORCED",
    "Run",
    "RunFolder",
    "default_run_dir",
    "iter_jsonl",
    "load_run",
    "read_generations",
    "read_meta",
]

GENERATIONS = "generations.jsonl"
RUN_JSON = "run.json"
SCORES = "scores.jsonl"
TEACHER_FORCED = "teacher_forced.jsonl"
LOCK = ".lock"

Key = tuple[str, str, int]


def default_run_dir(checkpoint: str | Path, root: str | Path = "reports") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{Path(checkpoint).resolve().name}-{stamp}"


def iter_jsonl(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per line of a run-folder JSONL file. A cut-off last line (an interrupted
    write) is skipped with a warning; any other bad line is an error naming file and line."""
    try:
        lines = jsonl_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: cannot read ({exc}); re-create it with evalgen") from exc
    last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            if i == last:
                warnings.append(f"{path}:{i}: last line is cut off (interrupted write?); skipped")
                continue
            raise RunFolderError(f"{path}:{i}: not valid JSON ({exc}); fix or delete that line") from exc
        if not isinstance(obj, dict):
            raise RunFolderError(f"{path}:{i}: expected a JSON object per line, found {type(obj).__name__}")
        yield i, obj


def read_meta(path: Path) -> RunMeta:
    """`run.json`, validated; RunFolderError naming the file and the bad field."""
    if not path.is_file():
        raise RunFolderError(f"{path}: not found; is {path.parent} a run folder written by `evalgen run`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc}); restore it or re-run into a new --out") from None
    try:
        return RunMeta.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise RunFolderError(f"{path}: {exc}; restore the file evalgen wrote or re-run into a new --out") from None


def read_generations(path: Path, warnings: list[str] | None = None) -> list[GenerationRecord]:
    """Every record of a generations file, in file order; a bad line is an error naming file:line (a cut-off
    last line is skipped, with a warning when `warnings` is given)."""
    records = []
    for i, obj in iter_jsonl(path, [] if warnings is None else warnings):
        try:
            records.append(GenerationRecord.from_dict(obj))
        except (TypeError, ValueError) as exc:
            raise RunFolderError(f"{path}:{i}: not a valid generation record ({exc}); re-run `evalgen run "
                                 "--resume` after deleting that line") from None
    return records


def _read_rows(path: Path, kind: Any, warnings: list[str], fix: str) -> list[Any]:
    rows = []
    for i, obj in iter_jsonl(path, warnings):
        try:
            rows.append(kind.from_dict(obj))
        except (TypeError, ValueError, KeyError) as exc:
            raise RunFolderError(f"{path}:{i}: {exc}; {fix}") from None
    return rows


@dataclass
class Run:
    """One run folder as read back: the typed contents of its files."""

    path: Path
    meta: RunMeta
    """run.json."""
    records: list[GenerationRecord]
    """generations.jsonl, one per (suite, probe, sample): a key written twice keeps the last write."""
    scores: list[ScoreLine]
    """scores.jsonl (empty when the run was never scored: see `scored`)."""
    teacher_forced: list[TeacherForcedRow]
    """teacher_forced.jsonl (empty when absent)."""
    scored: bool = True
    """Whether scores.jsonl exists."""
    warnings: list[str] = field(default_factory=list)
    """What was skipped or looks wrong, in words (cut-off last lines, repeated keys, unscored records)."""

    @property
    def name(self) -> str:
        return self.meta.name or self.path.name

    def records_by_key(self) -> dict[Key, GenerationRecord]:
        return {r.key: r for r in self.records}

    def scores_by_key(self) -> dict[Key, ScoreLine]:
        return {s.key: s for s in self.scores}

    def to_pandas(self) -> Any:
        """One row per record: keys, stop reason, output, `flag_<detector>`, `score_<detector>`, task_correct
        (and the teacher-forced figures); a pandas DataFrame, see `evalgen.frames.run_frame`."""
        from evalgen.frames import run_frame

        return run_frame(self)


def load_run(folder: str | Path) -> Run:
    """Read and validate every file of a run folder; RunFolderError (file:line and the fix) on a bad one."""
    path = Path(folder)
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a folder; pass a run folder written by `evalgen run` or `evalgen score`")
    meta = read_meta(path / RUN_JSON)
    warnings: list[str] = []
    gen_path = path / GENERATIONS
    if not gen_path.is_file():
        raise RunFolderError(f"{gen_path}: not found; the run never generated; re-run `evalgen run --resume`")
    by_key: dict[Key, GenerationRecord] = {}
    duplicates = 0
    for record in read_generations(gen_path, warnings):
        duplicates += record.key in by_key
        by_key[record.key] = record
    if duplicates:
        warnings.append(f"{gen_path}: {duplicates} repeated (suite, probe, sample) keys; kept the last of each")
    scores_path, tf_path = path / SCORES, path / TEACHER_FORCED
    rescore = f"re-score with `evalgen rescore {path}`"
    scores = _read_rows(scores_path, ScoreLine, warnings, rescore) if scores_path.is_file() else []
    if not scores_path.is_file():
        warnings.append(f"{scores_path}: not found; no detector results ({rescore})")
    else:
        unscored = len(by_key.keys() - {s.key for s in scores})
        if unscored:
            warnings.append(f"{scores_path}: {unscored} generations have no score line; {rescore}")
    teacher_forced = (_read_rows(tf_path, TeacherForcedRow, warnings, "delete the file or re-run into a new --out")
                      if tf_path.is_file() else [])
    return Run(path, meta, list(by_key.values()), scores, teacher_forced, scores_path.is_file(), warnings)


class RunFolder:
    """Writes one run folder; with `resume`, picks up the records an earlier run finished."""

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path = Path(path)
        self.generations_path = self.path / GENERATIONS
        self.run_json_path = self.path / RUN_JSON
        existing = self.generations_path.is_file() and self.generations_path.stat().st_size > 0
        if existing and not resume:
            raise RunFolderError(
                f"{self.path}: already holds generations; pass --resume to continue it, or --out NEW_DIR"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{self.path}: cannot create the run folder ({exc.strerror or exc}); "
                                 "pass --out DIR on a writable disk") from None
        self._lock = self._acquire_lock()
        self.done: dict[tuple[str, str, int], GenerationRecord] = {}
        if existing:
            self.done = {r.key: r for r in self.recover()}

    @classmethod
    def lock_only(cls, path: str | Path) -> RunFolder:
        """The folder locked, for a writer that rewrites its files whole (rescore): no resume logic."""
        folder = cls.__new__(cls)
        folder.path = Path(path)
        folder.generations_path = folder.path / GENERATIONS
        folder.run_json_path = folder.path / RUN_JSON
        folder.done = {}
        folder._lock = folder._acquire_lock()
        return folder

    def _acquire_lock(self) -> Any:
        """Hold `.lock` (an OS lock, freed when this process ends however it ends) so that a second writer
        stops at once, naming the holder; within one process a folder may be reopened (resume in a test)."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; a second writer is not detected
            return None
        path = self.path / LOCK
        try:
            handle = path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot create the lock file ({exc.strerror or exc}); "
                                 "pass --out DIR on a writable disk") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            if holder == str(os.getpid()):
                return None
            raise RunFolderError(f"{self.path}: another evalgen (pid {holder}) is writing this run folder; wait for "
                                 "it to finish (or stop it), or pass another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def close(self) -> None:
        """Release the folder's lock (also released when the process ends)."""
        if self._lock is not None:
            (self.path / LOCK).unlink(missing_ok=True)  # still held here: no other writer is between
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recover(self) -> list[GenerationRecord]:
        """Records an earlier run finished. A line cut by a kill mid-write is dropped (that record is
        generated again), and so are records whose batch failed, so that a resume retries them. A last
        line that is whole but lacks its newline gets one, so the next append starts a line of its own."""
        text = self.generations_path.read_text(encoding="utf-8")
        lines = jsonl_lines(text)
        records: list[GenerationRecord] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(GenerationRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                if number == len(lines):  # the write that was interrupted: redo that record
                    break
                raise RunFolderError(f"{self.generations_path}:{number}: corrupt record ({exc}); delete that "
                                     "line and resume again") from None
        # Failed records are done but not finished: drop them so that --resume retries them.
        kept = [r for r in records if r.stop_reason != "error"]
        if len(kept) != len(lines) or not text.endswith("\n"):
            self.rewrite(kept)
        return kept

    def rewrite(self, records: Iterable[GenerationRecord]) -> None:
        tmp = self.generations_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json_line(record.to_dict()) + "\n")
        os.replace(tmp, self.generations_path)

    def previous_meta(self) -> RunMeta | None:
        """The run.json an earlier run left, validated (None when there is none)."""
        return read_meta(self.run_json_path) if self.run_json_path.is_file() else None

    def append(self, records: Iterable[GenerationRecord]) -> None:
        # One write per batch, flushed: a crash loses at most the batch in flight.
        text = "".join(json_line(r.to_dict()) + "\n" for r in records)
        try:
            with self.generations_path.open("a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
        except OSError as exc:  # a full or vanished disk: say where, and that what is written is kept
            raise RunFolderError(f"{self.generations_path}: cannot write ({exc.strerror or exc}); free some space, "
                                 "then run the same command with --resume: finished records are kept") from None

    def write_meta(self, meta: RunMeta | dict[str, Any]) -> None:
        """Write run.json atomically; a dict is checked against the RunMeta contract first."""
        data = meta.to_dict() if isinstance(meta, RunMeta) else {"format_version": RUN_FORMAT_VERSION, **meta}
        data["updated"] = now_iso()
        RunMeta.from_dict(data)  # the writer keeps the contract the readers check
        tmp = self.run_json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(finite(data), ensure_ascii=False, indent=2, allow_nan=False, default=str) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.run_json_path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""The run folder: `run.json` (what was run, how, versions, timings, counts) and `generations.jsonl`
(one record per probe × sample, appended as batches finish so that an interrupted run loses nothing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgen.errors import RunFolderError
from evalgen.records import GenerationRecord, jsonl_lines

__all__ = ["RUN_FORMAT_VERSION", "RunFolder", "default_run_dir", "iter_jsonl", "read_generations"]

RUN_FORMAT_VERSION = 1
GENERATIONS = "generations.jsonl"
RUN_JSON = "run.json"


def default_run_dir(checkpoint: str | Path, root: str | Path = "reports") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{Path(checkpoint).resolve().name}-{stamp}"


def iter_jsonl(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per line of a run-folder JSONL file, for readers (compare, report). A cut-off
    last line (an interrupted write) is skipped with a warning; any other bad line is an error naming
    file and line."""
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
            raise RunFolderError(f"{path}:{i}: expected a JSON object per line")
        yield i, obj


def read_generations(path: Path) -> list[GenerationRecord]:
    """Read a generations file; a corrupt line is an error naming file:line."""
    records = []
    for number, line in enumerate(jsonl_lines(path.read_text(encoding="utf-8")), start=1):
        if not line.strip():
            continue
        try:
            records.append(GenerationRecord.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{path}:{number}: not a valid generation record ({exc})") from None
    return records


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
        self.path.mkdir(parents=True, exist_ok=True)
        self.done: dict[tuple[str, str, int], GenerationRecord] = {}
        if existing:
            self.done = {r.key: r for r in self.recover()}

    def recover(self) -> list[GenerationRecord]:
        """Records an earlier run finished. A line cut by a kill mid-write is dropped (that record is
        generated again), and so are records whose batch failed, so that a resume retries them."""
        lines = jsonl_lines(self.generations_path.read_text(encoding="utf-8"))
        records: list[GenerationRecord] = []
        for number, line in enumerate(lines, start=1):
            try:
                records.append(GenerationRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                if number == len(lines):  # the write that was interrupted: redo that record
                    break
                raise RunFolderError(f"{self.generations_path}:{number}: corrupt record ({exc})") from None
        # Failed records are done but not finished: drop them so that --resume retries them.
        kept = [r for r in records if r.stop_reason != "error"]
        if len(kept) != len(lines):
            self.rewrite(kept)
        return kept

    def rewrite(self, records: Iterable[GenerationRecord]) -> None:
        tmp = self.generations_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        os.replace(tmp, self.generations_path)

    def previous_meta(self) -> dict[str, Any] | None:
        if not self.run_json_path.is_file():
            return None
        try:
            return dict(json.loads(self.run_json_path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{self.run_json_path}: corrupt ({exc}); delete it or use another --out") from None

    def append(self, records: Iterable[GenerationRecord]) -> None:
        # One write per batch, flushed: a crash loses at most the batch in flight.
        text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
        with self.generations_path.open("a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()

    def write_meta(self, meta: dict[str, Any]) -> None:
        meta = {"format_version": RUN_FORMAT_VERSION, **meta, "updated": now_iso()}
        tmp = self.run_json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.run_json_path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""Score a finished set of generations into a run folder: detectors, task scorers, `scores.jsonl`.

Shared by `evalgen run` (after generating) and `evalgen score` (generations made elsewhere), so both
write the same file from the same settings recorded in `run.json`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, overload

from evalgen.detectors import DetectorConfig, DetectorContext
from evalgen.records import GenerationRecord
from evalgen.score_stream import CHUNK, in_memory, score_stream
from evalgen.scorers import scorer_options
from evalgen.scoring import ScoreLine

__all__ = ["SCORES_FILE", "ScoreAhead", "detector_context", "score_into"]

SCORES_FILE = "scores.jsonl"
AHEAD_FILE = ".scores-ahead.jsonl"
"""Where `ScoreAhead` writes the lines of the records it scores; moved or merged into `SCORES_FILE`."""
BACKLOG_FILE = ".scores-backlog.jsonl"
"""Where `ScoreAhead.finish` scores the records it was not given (a resumed run's) before merging."""


def detector_context(meta: dict[str, Any], config: dict[str, Any]) -> DetectorContext:
    """The detectors' view of a run: its template's markers, the configured identity, thresholds."""
    template = meta.get("template") or {}
    identity = meta.get("identity") or {}
    return DetectorContext(
        turn_markers=tuple(template.get("turn_markers", ())),
        end_tokens=tuple(template.get("end_tokens", ())),
        identity=identity.get("name"),
        identity_org=identity.get("org"),
        config=DetectorConfig.from_mapping(config),
    )


def score_into(
    folder: Path,
    records: Sequence[GenerationRecord],
    meta: dict[str, Any],
    config: dict[str, Any],
    jobs: int | None = None,
    chunk: int = CHUNK,
    scores_name: str = SCORES_FILE,
) -> list[ScoreLine]:
    """Run every detector and the task scorers (over `jobs` processes, None: all cores; see
    `score_stream`); write `folder/scores.jsonl` (or `scores_name`); return the lines."""
    options = scorer_options(config.get("scorers"))
    tally = score_stream(in_memory(records, chunk), folder, detector_context(meta, config), options, jobs=jobs,
                         keep_lines=True, scores_name=scores_name)
    assert tally.lines is not None
    return tally.lines


Key = tuple[str, str, int]
"""A record's `key`: (suite, probe id, sample)."""


class ScoreAhead:
    """`score_into` on a thread while a served model answers, so the new records are scored by the last
    answer: detectors and task scorers are pure functions of one record, and a client waiting on a server
    has CPU to spare. It is given the keys of the records to come (`keys`, in the run's final order) and
    scores each as soon as it and every one before it have arrived, so one slow or retried request holds
    back the scoring of all after it until it comes. `finish` gives the lines `score_into` would give on
    the finished, sorted records: the records it was not given (a resumed run's) are scored there, over
    `jobs` processes, and merged in; all are scored there when the order came out otherwise. `abort`
    stops it at the next record (the run is ending without finishing: nothing written)."""

    CHUNK = 8
    """Records per chunk: a few, so each is scored soon after it arrives; one thread (a chunk costs a few
    ms; the server, not the scoring, sets the pace)."""

    def __init__(self, folder: Path, keys: Sequence[Key], have: Iterable[GenerationRecord], meta: dict[str, Any],
                 config: dict[str, Any]) -> None:
        self.folder, self.keys, self.meta, self.config = folder, list(keys), meta, config
        self.ready = {r.key: r for r in have}
        self.changed = threading.Condition()
        self.stopped = False
        self.aborted = False
        self.lines: list[ScoreLine] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._score, name="evalgen-score", daemon=True)
        self.thread.start()

    def add(self, records: Iterable[GenerationRecord]) -> None:
        with self.changed:
            self.ready.update((r.key, r) for r in records)
            self.changed.notify()

    def finish(self, records: Sequence[GenerationRecord], jobs: int | None = None) -> list[ScoreLine]:
        """The score lines of `records` (the run's, sorted), written to scores.jsonl: the thread's for the
        records it was given, the others scored here over `jobs` processes."""
        self.stop()
        if self.error is not None and not isinstance(self.error, _Stopped):
            raise self.error
        mine = set(self.keys)
        if self.lines is None or [r.key for r in records if r.key in mine] != self.keys:
            (self.folder / AHEAD_FILE).unlink(missing_ok=True)
            return score_into(self.folder, records, self.meta, self.config, jobs)
        backlog = [r for r in records if r.key not in mine]
        if not backlog:
            os.replace(self.folder / AHEAD_FILE, self.folder / SCORES_FILE)
            return self.lines
        try:
            old = score_into(self.folder, backlog, self.meta, self.config, jobs, scores_name=BACKLOG_FILE)
            return self._merge(records, mine, old)
        finally:
            for name in (AHEAD_FILE, BACKLOG_FILE):
                (self.folder / name).unlink(missing_ok=True)

    def _merge(self, records: Sequence[GenerationRecord], mine: set[Key], old: list[ScoreLine]) -> list[ScoreLine]:
        """scores.jsonl in the order of `records`, from the thread's lines and the backlog's (both in that
        order): the same bytes as scoring them all at once."""
        assert self.lines is not None
        new_raw, old_raw = (iter(_raw_lines(self.folder / name)) for name in (AHEAD_FILE, BACKLOG_FILE))
        new_lines, old_lines = iter(self.lines), iter(old)
        lines: list[ScoreLine] = []
        temp = self.folder / (SCORES_FILE + ".part")
        try:
            with temp.open("wb") as out:
                for record in records:
                    raw, line = (next(new_raw), next(new_lines)) if record.key in mine else (next(old_raw),
                                                                                             next(old_lines))
                    out.write(raw)
                    lines.append(line)
            os.replace(temp, self.folder / SCORES_FILE)
        finally:
            temp.unlink(missing_ok=True)
        return lines

    def stop(self) -> None:
        """No more records are coming: the thread scores those there, and a record still missing ends it
        (nothing written)."""
        with self.changed:
            self.stopped = True
            self.changed.notify()
        self.thread.join()

    def abort(self) -> None:
        """The run ends without finishing: the thread stops at the next record, scoring no more (nothing
        written)."""
        with self.changed:
            self.stopped = self.aborted = True
            self.changed.notify()
        self.thread.join()

    def _score(self) -> None:
        try:
            self.lines = score_into(self.folder, _Arriving(self), self.meta, self.config, jobs=1, chunk=self.CHUNK,
                                    scores_name=AHEAD_FILE)
        except BaseException as exc:  # noqa: BLE001 - handed to finish(), on the caller's thread
            self.error = exc

    def get(self, index: int) -> GenerationRecord:
        key = self.keys[index]  # IndexError past the end: the end of the iteration
        with self.changed:
            while not self.aborted and key not in self.ready:
                if self.stopped:
                    raise _Stopped(key)
                self.changed.wait()
            if self.aborted:
                raise _Stopped(key)
            return self.ready[key]


def _raw_lines(path: Path) -> list[bytes]:
    """A JSONL file's lines as bytes, each with its newline (split on b"\\n" only, as `score_stream`)."""
    data = path.read_bytes()
    return [line + b"\n" for line in data.split(b"\n")[:-1]] if data else []


class _Stopped(Exception):
    """A record that never arrived (the generation stopped early or failed)."""


class _Arriving(Sequence[GenerationRecord]):
    """The records ScoreAhead hands over, in order, each waited for."""

    def __init__(self, ahead: ScoreAhead) -> None:
        self.ahead = ahead

    def __len__(self) -> int:
        return len(self.ahead.keys)

    @overload
    def __getitem__(self, index: int) -> GenerationRecord: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[GenerationRecord]: ...
    def __getitem__(self, index: int | slice) -> GenerationRecord | Sequence[GenerationRecord]:
        if isinstance(index, slice):
            raise TypeError("records arrive one at a time: index them in order")
        return self.ahead.get(index)

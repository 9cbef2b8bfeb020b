"""Score a finished set of generations into a run folder: detectors, task scorers, `scores.jsonl`.

Shared by `evalgen run` (after generating) and `evalgen score` (generations made elsewhere), so both
write the same file from the same settings recorded in `run.json`.
"""

from __future__ import annotations

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
) -> list[ScoreLine]:
    """Run every detector and the task scorers (over `jobs` processes, None: all cores; see
    `score_stream`); write `folder/scores.jsonl`; return the lines."""
    options = scorer_options(config.get("scorers"))
    tally = score_stream(in_memory(records, chunk), folder, detector_context(meta, config), options, jobs=jobs,
                         keep_lines=True, scores_name=SCORES_FILE)
    assert tally.lines is not None
    return tally.lines


Key = tuple[str, str, int]
"""A record's `key`: (suite, probe id, sample)."""


class ScoreAhead:
    """`score_into` on a thread while a served model answers, so scores.jsonl is all but written by the
    last answer: detectors and task scorers are pure functions of one record, and a client waiting on a
    server has CPU to spare. The records go to it in the run's final order (`keys`), each as soon as it
    and every one before it have arrived; `finish` gives the lines `score_into` would give on the
    finished, sorted records (and scores them so when the order came out otherwise)."""

    CHUNK = 8
    """Records per chunk: a few, so each is scored soon after it arrives; one thread (a chunk costs a few
    ms; the server, not the scoring, sets the pace)."""

    def __init__(self, folder: Path, keys: Sequence[Key], have: Iterable[GenerationRecord], meta: dict[str, Any],
                 config: dict[str, Any]) -> None:
        self.folder, self.keys, self.meta, self.config = folder, list(keys), meta, config
        self.ready = {r.key: r for r in have}
        self.changed = threading.Condition()
        self.stopped = False
        self.lines: list[ScoreLine] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._score, name="evalgen-score", daemon=True)
        self.thread.start()

    def add(self, records: Iterable[GenerationRecord]) -> None:
        with self.changed:
            self.ready.update((r.key, r) for r in records)
            self.changed.notify()

    def finish(self, records: Sequence[GenerationRecord], jobs: int | None = None) -> list[ScoreLine]:
        """The score lines of `records` (the run's, sorted): the thread's when it scored exactly these."""
        self.stop()
        if self.error is not None and not isinstance(self.error, _Stopped):
            raise self.error
        if self.lines is None or [r.key for r in records] != self.keys:
            return score_into(self.folder, records, self.meta, self.config, jobs)
        return self.lines

    def stop(self) -> None:
        """No more records are coming: a record still missing ends the thread (nothing written)."""
        with self.changed:
            self.stopped = True
            self.changed.notify()
        self.thread.join()

    def _score(self) -> None:
        try:
            self.lines = score_into(self.folder, _Arriving(self), self.meta, self.config, jobs=1, chunk=self.CHUNK)
        except BaseException as exc:  # noqa: BLE001 - handed to finish(), on the caller's thread
            self.error = exc

    def get(self, index: int) -> GenerationRecord:
        key = self.keys[index]  # IndexError past the end: the end of the iteration
        with self.changed:
            while key not in self.ready:
                if self.stopped:
                    raise _Stopped(key)
                self.changed.wait()
            return self.ready[key]


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

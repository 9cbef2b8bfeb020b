"""Streamed scoring on all cores: records are read, scored and written in chunks, never all held.

One function, `score_stream`, scores for `evalgen run` (its finished records), `evalgen score` (an
outside JSONL file) and re-scoring a run folder (its `generations.jsonl`). Each chunk of records goes to a
worker process that parses it, runs every detector and the task scorer, writes the finished JSON lines to a
spill file of its own (in a hidden folder inside the output folder) and hands back only their lengths and a
tally of the chunk; the parent only hands out byte ranges of the file (a worker reads the whole lines that
begin in its range itself), copies the spill files into place in input order (in the kernel,
`os.copy_file_range`, where it can) and adds up the tallies, so it does next to nothing per record. The
lines are built by `evalgen._jsonl` (the bytes of `json.dumps`, from fragments). Memory and disk stay flat
in the number of records (a bounded window of chunks is in flight, each spill file is deleted once copied),
and the bytes written are the same for any `jobs`: one process runs exactly the code a worker runs, and
writes its lines directly.

    from evalgen.score_stream import score_stream
    tally = score_stream(external_file("gens.jsonl"), Path("run"), ctx, scorers, jobs=None)
    print(tally.table())
"""

from __future__ import annotations

import errno
import gc
import json
import multiprocessing
import os
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, Literal

from evalgen._jsonl import MISSING, loads, record_json, score_json
from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.errors import ProbeError, RunFolderError
from evalgen.records import STOP_REASONS, GenerationRecord, jsonl_lines
from evalgen.scorers import ScorerOptions, score_task
from evalgen.scoring import ScoreLine, _record_from_line, find_lone_surrogate

__all__ = ["CHUNK", "Source", "Tally", "default_jobs", "external_file", "generations_file", "in_memory",
           "score_stream"]

CHUNK = 200
"""Records per task handed to a worker: large enough that the hand-over costs little, small enough that
a window of `2 * jobs` chunks in flight stays a few MB."""

CHUNK_BYTES = 1 << 20
"""A file is handed over in byte ranges of this size (the lines that begin in one: ~550 real-output records),
so the parent never reads the file; a chunk is ~0.1 s of work on one core."""

TAIL_SPLIT = 8
"""The file's last `jobs` MiB go out in ranges this many times smaller, so that the workers run out of work
within ~10 ms of each other instead of one finishing a whole chunk while the others wait (the run ends with
the last)."""

MIN_PER_WORKER = 2 * CHUNK
"""Below this many records per extra worker, starting processes costs more than it saves: one process."""

Kind = Literal["external", "generations", "records"]


@dataclass
class Source:
    """Where records come from: a JSONL file (`path`, read as raw lines in chunks) or `items` in memory."""

    kind: Kind
    items: Sequence[GenerationRecord] | None = None
    path: Path | None = None
    size_hint: int | None = None
    """Records expected (None: unknown; a file's size in bytes counts as plenty)."""
    chunk: int = CHUNK
    """Records per chunk of `items`: fewer score each record sooner after it arrives (`evaluate.ScoreAhead`)."""

    def chunks(self, jobs: int = 1) -> Iterator[Any]:
        """What a worker scores at a time: a byte range (start, length) of a file, or a list of records;
        `jobs`: the workers that share them (over one, a file's last ranges are smaller: `TAIL_SPLIT`)."""
        if self.items is not None:
            return _chunks(self.items, self.chunk)
        assert self.path is not None
        size = self.path.stat().st_size
        return _ranges(size, size - jobs * CHUNK_BYTES if jobs > 1 else size)


def external_file(path: str | Path) -> Source:
    """An outside JSONL file of generations (see `scoring.records_from_external` for its fields)."""
    path = Path(path)
    if not path.is_file():
        raise ProbeError(f"{path}: file not found; pass a JSONL file of generations")
    return Source("external", None, path, size_hint=path.stat().st_size // 1000)


def generations_file(path: str | Path) -> Source:
    """A run folder's `generations.jsonl` (re-scoring: records as evalgen wrote them)."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path}: no generations file; pass a run folder made by `evalgen run` or `evalgen score`")
    return Source("generations", None, path, size_hint=path.stat().st_size // 1000)


def in_memory(records: Sequence[GenerationRecord], chunk: int = CHUNK) -> Source:
    """Records already in memory (what `evalgen run` just generated)."""
    return Source("records", records, size_hint=len(records), chunk=chunk)


@dataclass
class _SuiteTally:
    n: int = 0
    stops: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    flags: Counter[str] = field(default_factory=Counter)
    judged: int = 0
    correct: int = 0


@dataclass
class Tally:
    """What the summary table and run.json need, counted as lines go by (so nothing else is kept)."""

    suites: dict[str, _SuiteTally] = field(default_factory=dict)
    detectors: list[str] = field(default_factory=list)
    scored: bool = False
    lines: list[ScoreLine] | None = None
    """The score lines themselves, only when asked for (`keep_lines=True`: a run's records in memory)."""

    @property
    def records(self) -> int:
        return sum(s.n for s in self.suites.values())

    def add(self, suite: str, stop_reason: str, n_tokens: int, flags: dict[str, bool] | None,
            task_correct: bool | None) -> None:
        entry = self.suites.get(suite)
        if entry is None:
            entry = self.suites[suite] = _SuiteTally()
        entry.n += 1
        entry.stops[stop_reason] += 1
        entry.tokens += n_tokens
        if flags is not None:
            self.scored = True
            if not self.detectors:
                self.detectors = list(flags)
            for name, flagged in flags.items():
                entry.flags[name] += flagged
            if task_correct is not None:
                entry.judged += 1
                entry.correct += task_correct

    def add_groups(self, detectors: list[str], groups: dict[tuple[str, str, bool | None, tuple[bool, ...]], int],
                   tokens: dict[str, int]) -> None:
        """Add records counted by kind, (suite, stop reason, task_correct, each detector's flag) -> records, and
        their output tokens per suite: the same as adding them one by one, in the order they came (a chunk
        counts this way: one dict update per record)."""
        for (suite, stop_reason, task_correct, flags), n in groups.items():
            entry = self.suites.get(suite)
            if entry is None:
                entry = self.suites[suite] = _SuiteTally()
            entry.n += n
            entry.stops[stop_reason] += n
            self.scored = True
            if not self.detectors:
                self.detectors = list(detectors)
            for name, flagged in zip(detectors, flags, strict=True):
                entry.flags[name] += flagged * n
            if task_correct is not None:
                entry.judged += n
                entry.correct += task_correct * n
        for suite, n_tokens in tokens.items():
            self.suites[suite].tokens += n_tokens

    def merge(self, other: Tally) -> None:
        """Add a later part's counts (a worker's chunk): the same as adding its lines one by one here."""
        for suite, part in other.suites.items():
            entry = self.suites.get(suite)
            if entry is None:
                entry = self.suites[suite] = _SuiteTally()
            entry.n += part.n
            entry.stops.update(part.stops)
            entry.tokens += part.tokens
            entry.flags.update(part.flags)
            entry.judged += part.judged
            entry.correct += part.correct
        if other.scored:
            self.scored = True
            if not self.detectors:
                self.detectors = list(other.detectors)

    def counts(self) -> dict[str, Any]:
        """run.json's `counts`: records and how many ended for each stop reason (as `runner.count`)."""
        stops: Counter[str] = Counter()
        for entry in self.suites.values():
            stops.update(entry.stops)
        return {"records": self.records, "stop_reasons": dict(stops)}

    def table(self) -> str:
        """A short per-suite table: count, stop reasons, mean output length, flagged outputs per detector
        and old-task accuracy."""
        from evalgen.compare_output import grid

        reasons = [r for r in STOP_REASONS if any(s.stops.get(r) for s in self.suites.values())]
        header = ["suite", "n", *reasons, "mean tokens", *self.detectors, *(["task acc"] if self.scored else [])]
        rows = []
        for suite, s in sorted(self.suites.items()):
            row = [suite, str(s.n), *(str(s.stops.get(r, 0)) for r in reasons), f"{s.tokens / s.n:.1f}"]
            row += [str(s.flags.get(d, 0)) for d in self.detectors]
            if self.scored:
                row.append(f"{100 * s.correct / s.judged:.0f}%" if s.judged else "-")
            rows.append(row)
        return "\n".join(grid(header, rows, indent="", left=1))


Scored = tuple[bytes, bytes | None, Tally]
"""A scored chunk: its scores.jsonl lines, its generations.jsonl lines (outside files only) and its tally."""

Spilled = tuple[str, int, int, Tally]
"""A chunk a worker scored into a spill file: the file, the lengths of its scores.jsonl lines and of its
generations.jsonl lines (they follow them in the file) and its tally."""


class _Scorer:
    """Scores chunks: the same code in the parent (one process) and in every worker."""

    def __init__(self, kind: Kind, path: Path | None, ctx: DetectorContext, scorers: ScorerOptions) -> None:
        self.kind, self.path, self.ctx, self.scorers = kind, path, ctx, scorers
        self.detectors = list(DETECTORS.items())
        self.default_suite = path.stem if path is not None else ""
        self._file: BinaryIO | None = None

    def _error(self, number: int, what: str) -> Exception:
        where = f"{self.path}:{number}"
        if self.kind == "external":
            return ProbeError(f"{where}: {what}")
        return RunFolderError(f"{where}: {what}; fix or delete that line")

    def record(self, number: int, raw: bytes) -> GenerationRecord | None:
        """The record on line `number` (None for a blank line); an error naming file:line."""
        external = self.kind == "external"
        data = loads(raw, exact_integers=not external)
        if data is not MISSING:  # read by orjson, which refuses lone surrogates: none to look for
            if not external:
                return self._generation(number, data, None)
            try:
                record = _record_from_line(data, f"{self.path}:{number}", self.default_suite, surrogates_refused=True)
            except ProbeError:  # json reads it again: the same error, or a number past 2**64 that orjson made a float
                record = None
            if record is not None and type(data["id"]) is str:  # the one number it takes as it is: only as text
                return record
        text = self._text(number, raw)
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self._error(number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise self._error(number, "not valid JSON here (nested too deep)") from None
        if external:
            return _record_from_line(data, f"{self.path}:{number}", self.default_suite, text)
        return self._generation(number, data, text)

    def _text(self, number: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._error(number, f"not valid UTF-8 (byte {raw[exc.start]:#04x} at byte {exc.start + 1})") \
                from None

    def _generation(self, number: int, data: Any, text: str | None) -> GenerationRecord:
        """A run's record; `text`: the line json parsed it from (None: orjson, which refuses lone surrogates)."""
        lone_surrogate = find_lone_surrogate(data, text) if text is not None else ""
        if lone_surrogate:
            raise self._error(number, f"holds a lone surrogate ({lone_surrogate!r}), which is not valid UTF-8")
        try:
            return GenerationRecord.from_dict(data)
        except (TypeError, ValueError, AttributeError) as exc:
            raise RunFolderError(f"{self.path}:{number}: not a valid generation record ({exc})") from None

    def records(self, work: Any) -> Iterator[GenerationRecord]:
        if self.kind == "records":
            yield from work
            return
        begin, block = self._block(*work)
        lines = block.split(b"\n")
        if lines[-1] == b"":  # the block's final newline
            lines.pop()
        for index, raw in enumerate(lines):
            try:
                record = self.record(index + 1, raw)
            except (ProbeError, RunFolderError):  # again, to name the line: count the lines before the block
                record = self.record(self._line_number(begin) + index, raw)
            if record is not None:
                yield record

    def _open(self) -> BinaryIO:
        if self._file is None:
            assert self.path is not None
            self._file = self.path.open("rb")
        return self._file

    def _block(self, start: int, length: int) -> tuple[int, bytes]:
        """(offset, bytes) of the whole lines that begin in bytes `start`..`start + length` of the file: a line
        begins at 0 or after a newline (split on b"\n" only, as `records.jsonl_lines`: json.dumps leaves
        U+2028/U+2029 raw inside strings). The chunks' ranges tile the file, so every line is read once."""
        handle = self._open()
        lead = 1 if start else 0  # the byte before the range says whether a line begins at its first byte
        handle.seek(start - lead)
        block = handle.read(length + lead)
        if lead:
            cut = block.find(b"\n", 0, len(block) - 1) + 1
            if cut == 0:  # no line begins in the range (one long line runs through it)
                return start, b""
            start, block = start - 1 + cut, block[cut:]
        if block.endswith(b"\n"):
            return start, block
        parts = [block]  # the last line runs on past the range: read to its end
        while part := handle.read(1 << 16):
            cut = part.find(b"\n") + 1
            if cut:
                parts.append(part[:cut])
                break
            parts.append(part)
        return start, b"".join(parts)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _line_number(self, offset: int) -> int:
        """The number of the line that begins at byte `offset` (only for an error: reads the file up to it)."""
        handle, count, done = self._open(), 1, 0
        handle.seek(0)
        while done < offset:
            part = handle.read(min(1 << 20, offset - done))
            if not part:
                break
            count += part.count(b"\n")
            done += len(part)
        return count

    def chunk(self, work: Any) -> Scored:
        """Score one chunk (see `Source.chunks`) into its finished lines and its tally."""
        scores: list[str] = []
        generations: list[bytes] = []
        groups: dict[tuple[str, str, bool | None, tuple[bool, ...]], int] = {}
        tokens: dict[str, int] = {}
        ctx, scorers, detectors, external = self.ctx, self.scorers, self.detectors, self.kind == "external"
        for r in self.records(work):
            findings = {name: detect(r, ctx) for name, detect in detectors}
            task = score_task(r, scorers)
            correct = None if task is None else not task.flagged
            scores.append(score_json(r.probe_id, r.suite, r.sample, findings, task, correct))
            if external:
                generations.append(record_json(r))
            group = (r.suite, r.stop_reason, correct, tuple(map(_FLAGGED, findings.values())))
            groups[group] = groups.get(group, 0) + 1
            tokens[r.suite] = tokens.get(r.suite, 0) + r.n_output_tokens
        tally = Tally()
        tally.add_groups([name for name, _ in detectors], groups, tokens)
        joined = "\n".join(scores).encode("utf-8") + b"\n" if scores else b""
        return joined, b"\n".join(generations) + b"\n" if generations else (b"" if external else None), tally


_FLAGGED = attrgetter("flagged")

_WORKER: _Scorer | None = None
_SPILL = ""


def _worker_init(scorer: _Scorer, spill: str) -> None:
    global _WORKER, _SPILL
    _WORKER, _SPILL = scorer, spill
    gc.freeze()  # the imported modules never need scanning again


def _worker_chunk(number: int, work: Any) -> Spilled:
    """Score chunk `number` into its spill file (the parent copies it into place)."""
    assert _WORKER is not None
    scores, generations, tally = _WORKER.chunk(work)
    path = os.path.join(_SPILL, str(number))
    with open(path, "wb") as handle:
        handle.write(scores)
        if generations:
            handle.write(generations)
    return path, len(scores), len(generations or b""), tally


def _copy(source: int, target: BinaryIO, offset: int, length: int) -> None:
    """Append bytes `offset`..`offset + length` of the file `source` to `target` (unbuffered): in the kernel
    where it can, else through a buffer."""
    global _KERNEL_COPY
    while length and _KERNEL_COPY:
        try:
            done = os.copy_file_range(source, target.fileno(), length, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
            _KERNEL_COPY = False  # not between these file systems or on this kernel: read and write
            break
        if done == 0:
            raise OSError(errno.EIO, f"spill file shorter than {offset + length} bytes")
        offset, length = offset + done, length - done
    while length:
        data = os.pread(source, min(length, 1 << 20), offset)
        if not data:
            raise OSError(errno.EIO, f"spill file shorter than {offset + length} bytes")
        _write(target, data)
        offset, length = offset + len(data), length - len(data)


_KERNEL_COPY = hasattr(os, "copy_file_range")


def _write(target: BinaryIO, data: bytes) -> None:
    """All of `data` to an unbuffered file (whose `write` may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[target.write(view) or 0:]


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _ranges(size: int, fine_from: int) -> Iterator[tuple[int, int]]:
    """(start, length) byte ranges that tile `size` bytes: CHUNK_BYTES long, then from `fine_from` on
    `TAIL_SPLIT` times shorter."""
    start = 0
    while start < size:
        step = CHUNK_BYTES if start < fine_from else max(1, CHUNK_BYTES // TAIL_SPLIT)
        yield start, min(step, size - start)
        start += step


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _scored(scorer: _Scorer, chunks: Iterator[Any], jobs: int, spill: Path) -> Generator[Scored | Spilled]:
    """Scored chunks in input order: in this process (the lines), or over `jobs` workers with a bounded window
    (spill files in `spill`). The pool is shut down, its workers ended, before this returns or raises."""
    if jobs <= 1:
        yield from map(scorer.chunk, chunks)
        return
    # fork where there is one: a worker starts in milliseconds with the detectors already imported, and
    # never re-runs the caller's __main__ (spawn and forkserver do: a notebook cell or a script without an
    # `if __name__ == "__main__":` guard would break). Workers only run the pure-Python detectors, so the
    # parent's other threads (torch's, a progress bar's) are never needed in them.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                             initargs=(scorer, str(spill))) as pool:
        window: deque[Future[Spilled]] = deque()
        try:
            for number, chunk in enumerate(chunks):
                window.append(pool.submit(_worker_chunk, number, chunk))
                if len(window) >= 2 * jobs:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for pending in window:
                pending.cancel()


def score_stream(
    source: Source,
    folder: str | Path,
    ctx: DetectorContext,
    scorers: ScorerOptions | None = None,
    *,
    jobs: int | None = None,
    keep_lines: bool = False,
    scores_name: str = "scores.jsonl",
) -> Tally:
    """Score every record of `source` into `folder/scores.jsonl` (and, for an outside file, write the
    imported records to `folder/generations.jsonl`); return the tally (with the lines if `keep_lines`).

    `jobs`: worker processes (None: all cores; small inputs run in this process either way). Files are
    written beside their final names and moved into place only when every record is scored, so a bad line
    (an error naming file:line) or an interrupt leaves what was there before untouched.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scorer = _Scorer(source.kind, source.path, ctx, scorers or ScorerOptions())
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ProbeError(f"--jobs {jobs}: must be at least 1 (or leave it out for all cores)")
    if source.size_hint is not None:
        jobs = max(1, min(jobs, source.size_hint // MIN_PER_WORKER))
    targets = [folder / scores_name] + ([folder / "generations.jsonl"] if source.kind == "external" else [])
    temps = [t.with_name(t.name + ".part") for t in targets]
    tally = Tally(lines=[] if keep_lines else None)
    handles = [t.open("wb", buffering=0) for t in temps]
    spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=folder)) if jobs > 1 else folder
    scored = _scored(scorer, source.chunks(jobs), jobs, spill)
    try:
        scores_out = handles[0]
        generations_out = handles[1] if len(handles) > 1 else None
        for part in scored:
            if len(part) == 4:  # a worker's spill file: copied into place, then deleted
                path, scores_length, generations_length, counted = part
                fd = os.open(path, os.O_RDONLY)
                try:
                    _copy(fd, scores_out, 0, scores_length)
                    if generations_out is not None:
                        _copy(fd, generations_out, scores_length, generations_length)
                    scores = os.pread(fd, scores_length, 0) if tally.lines is not None else b""
                finally:
                    os.close(fd)
                os.unlink(path)
            else:
                scores, generations, counted = part
                _write(scores_out, scores)
                if generations_out is not None and generations is not None:
                    _write(generations_out, generations)
            tally.merge(counted)
            if tally.lines is not None:
                lines = jsonl_lines(scores.decode("utf-8"))
                tally.lines.extend(ScoreLine.from_dict(json.loads(line)) for line in lines)
        for handle in handles:
            handle.close()
        if source.kind == "external" and tally.records == 0:
            raise ProbeError(f"{source.path}: no generations in the file")
        for temp, target in zip(temps, targets, strict=True):
            os.replace(temp, target)
    finally:
        scored.close()  # an error or Ctrl-C: the pool's workers end before their spill files go
        scorer.close()
        if spill != folder:
            shutil.rmtree(spill, ignore_errors=True)
        for handle, temp in zip(handles, temps, strict=True):
            handle.close()
            temp.unlink(missing_ok=True)
    return tally

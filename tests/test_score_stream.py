"""Streamed scoring: the same bytes from one process and from a pool, the same lines as the plain
per-record computation, errors that name file:line and leave nothing half-written."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgen import _jsonl
from evalgen import score_stream as stream
from evalgen.cli import main
from evalgen.detectors import DetectorContext
from evalgen.errors import ProbeError, RunFolderError
from evalgen.evaluate import score_into
from evalgen.external import score_external
from evalgen.records import Finding, GenerationRecord, Span, json_line
from evalgen.runfolder import read_generations
from evalgen.runner import summarize
from evalgen.scorers import ScorerOptions, score_task
from evalgen.scoring import read_scores, records_from_external, score_records

sys.path.insert(0, str(Path(__file__).parent))
from corpus_io import iter_corpus  # noqa: E402

CTX = DetectorContext(turn_markers=("### Human:",), end_tokens=("</s>",), identity="Aurora", identity_org="Acme")


def corpus_file(path: Path, n: int) -> Path:
    """The first n real-corpus outputs as an outside JSONL file (what `evalgen score` reads), a few with a
    task scorer so that the task verdicts stream too."""
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(itertools.islice(iter_corpus(), n)):
            line = {"id": row["id"], "messages": row["messages"], "output": row["output"],
                    "finish_reason": row["finish_reason"], "lang": row["lang"], "suite": row["dataset"]}
            if i % 7 == 0:
                line.update(reference=row["output"][:20], scorer="contains")
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


def plain_lines(records: list, scorers: ScorerOptions) -> list[str]:
    """scores.jsonl as the per-record detectors and task scorer give it, one record at a time."""
    out = []
    for record, line in zip(records, score_records(records, CTX), strict=True):
        task = score_task(record, scorers)
        line.extra["task_correct"] = None if task is None else not task.flagged
        if task is not None:
            line.extra["task"] = task.to_dict()
        out.append(json.dumps(line.to_dict(), ensure_ascii=False))
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus_file(tmp_path_factory.mktemp("corpus") / "real.jsonl", 1200)


def test_pool_writes_the_same_bytes_as_one_process_and_as_the_plain_loop(source: Path, tmp_path: Path) -> None:
    scorers = ScorerOptions()
    one = stream.score_stream(stream.external_file(source), tmp_path / "one", CTX, scorers, jobs=1)
    pool = stream.score_stream(stream.external_file(source), tmp_path / "pool", CTX, scorers, jobs=3)
    for name in ("scores.jsonl", "generations.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes()
    records = records_from_external(source)
    assert (tmp_path / "pool" / "scores.jsonl").read_text(encoding="utf-8").split("\n")[:-1] == \
        plain_lines(records, scorers)
    # generations.jsonl reads back as the imported records, in order
    assert read_generations(tmp_path / "pool" / "generations.jsonl") == records
    scores = read_scores(tmp_path / "pool" / "scores.jsonl")
    assert one.table() == pool.table() == summarize(records, scores)
    assert pool.records == 1200 and any(s.flags for s in pool.suites.values())
    assert not list((tmp_path / "pool").glob("*.part"))


def test_rescoring_a_run_folder_and_records_in_memory_give_the_same_lines(source: Path, tmp_path: Path) -> None:
    score_external(source, tmp_path / "run", jobs=2)
    written = (tmp_path / "run" / "scores.jsonl").read_bytes()
    records = read_generations(tmp_path / "run" / "generations.jsonl")
    again = stream.score_stream(stream.generations_file(tmp_path / "run" / "generations.jsonl"), tmp_path / "re",
                                DetectorContext(), ScorerOptions(), jobs=2)
    assert (tmp_path / "re" / "scores.jsonl").read_bytes() == written
    assert again.counts()["records"] == len(records)
    meta = {"template": {}, "identity": {}}
    lines = score_into(tmp_path / "mem", records, meta, {}, jobs=2)
    assert (tmp_path / "mem" / "scores.jsonl").read_bytes() == written
    assert lines == read_scores(tmp_path / "run" / "scores.jsonl")


def test_a_bad_line_names_file_and_line_and_leaves_nothing_behind(source: Path, tmp_path: Path) -> None:
    lines = source.read_text(encoding="utf-8").split("\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:900] + ['{"id": "x", "prompt": "hi"}'] + lines[900:]), encoding="utf-8")
    with pytest.raises(ProbeError, match=rf"{bad}:901: missing or non-string field 'output'"):
        score_external(bad, tmp_path / "out", jobs=2)
    assert not (tmp_path / "out").exists()
    # an existing run's scores survive a failed re-score untouched
    score_external(source, tmp_path / "run", jobs=1)
    before = (tmp_path / "run" / "scores.jsonl").read_bytes()
    generations = tmp_path / "run" / "generations.jsonl"
    text = generations.read_text(encoding="utf-8").split("\n")
    generations.write_text("\n".join(text[:5] + ["{not json"] + text[5:]), encoding="utf-8")
    with pytest.raises(RunFolderError, match=rf"{generations}:6: not valid JSON"):
        stream.score_stream(stream.generations_file(generations), tmp_path / "run", CTX, jobs=2)
    assert (tmp_path / "run" / "scores.jsonl").read_bytes() == before
    assert not list((tmp_path / "run").glob("*.part"))  # nothing half-written left behind


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ProbeError, match="no generations in the file"):
        score_external(empty, tmp_path / "out")


def test_cli_score_with_jobs(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(source), "--out", str(tmp_path / "a"), "--jobs", "2"]) == 0
    table = capsys.readouterr().out
    assert "alpaca_eval" in table and "repetition" in table
    run = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))
    assert run["counts"]["records"] == 1200 and sum(s["n_probes"] for s in run["suites"].values()) == 1200
    assert main(["score", str(source), "--out", str(tmp_path / "b"), "--jobs", "0"]) == 2
    assert "--jobs 0: must be at least 1" in capsys.readouterr().err


def test_the_pool_runs_from_a_script_without_a_main_guard(source: Path, tmp_path: Path) -> None:
    """A notebook cell or a plain script (no `if __name__ == "__main__":`) may call the API: the workers
    must not re-run it."""
    import subprocess

    script = (f"from evalgen.external import score_external\n"
              f"print(score_external({str(source)!r}, {str(tmp_path / 'out')!r}, jobs=2).records)\n")
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1200"]
    assert len((tmp_path / "out" / "scores.jsonl").read_text(encoding="utf-8").split("\n")) == 1201


@pytest.fixture(params=["orjson", "stdlib"])
def json_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of writing the lines: with orjson (when installed) and with the standard library only."""
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(_jsonl, "orjson", None)
    return str(request.param)


def test_the_files_are_the_same_bytes_with_and_without_orjson(source: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("orjson")
    stream.score_stream(stream.external_file(source), tmp_path / "fast", CTX, jobs=1)
    monkeypatch.setattr(_jsonl, "orjson", None)
    stream.score_stream(stream.external_file(source), tmp_path / "plain", CTX, jobs=2)
    for name in ("scores.jsonl", "generations.jsonl"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


# Leaves a detector or an imported line may hold: text with every kind of escape (control characters,
# quotes, backslashes, U+2028, astral), numbers json writes its own way (NaN, 1e-05, huge integers).
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=80) | st.sampled_from(
    ["", "a\nb", 'q"uote\\', "\t\r\x00\x1f\x7f", "\u2028\u2029\x85", "中文…🙂", "x" * 100 + "\n"])
numbers = st.floats() | st.integers() | st.sampled_from([1e-05, 1e16, -0.0, 2**70])
leaves = texts | numbers | st.booleans() | st.none()
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=8)
findings = st.builds(Finding, detector=texts, flagged=st.booleans(), score=numbers, explanation=texts,
                     spans=st.lists(st.builds(Span, st.integers(0, 9), st.integers(0, 9), texts), max_size=2),
                     details=st.dictionaries(texts, values, max_size=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["repetition", "truncation", "x"]), findings, max_size=3),
       st.none() | findings, st.none() | st.booleans(), texts, st.integers())
def test_score_lines_are_what_json_dumps_writes(found: dict[str, Finding], task: Finding | None,
                                                correct: bool | None, probe_id: str, sample: int) -> None:
    line = {"id": probe_id, "suite": "s", "sample": sample, "flags": {k: f.flagged for k, f in found.items()},
            "findings": {k: f.to_dict() for k, f in found.items()}, "task_correct": correct}
    if task is not None:
        line["task"] = task.to_dict()
    assert _jsonl.score_json(probe_id, "s", sample, found, task, correct) == json_line(line)
    for finding in found.values():
        assert _jsonl.finding_json(finding) == json_line(finding.to_dict())


turns = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": texts})
                 | st.dictionaries(st.sampled_from(["content", "role", "name"]), values, max_size=3), max_size=3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts, texts, st.booleans(), st.none() | st.lists(st.integers(0, 2**70), max_size=4), values, turns,
       st.integers(-1, 3), st.lists(values, min_size=6, max_size=6))
def test_record_lines_are_what_json_dumps_writes(json_impl: str, output: str, prompt: str, same: bool,
                                                 ids: list[int] | None, lang: object, messages: list[dict[str, object]],
                                                 prompt_turn: int, others: list[object]) -> None:
    """Imported records (the prompt is one of the turns' contents, the output its raw output) and anything else a
    record may hold, in every field."""
    messages = messages or [{"role": "user", "content": prompt}]
    if 0 <= prompt_turn < len(messages) and isinstance(messages[prompt_turn].get("content"), str):
        prompt = messages[prompt_turn]["content"]  # type: ignore[assignment]
    record = GenerationRecord("p", "s", 0, messages, prompt, output,  # type: ignore[arg-type]
                              output if same else output + "</s>", ids, "eos", 0, 0.0, lang=lang)  # type: ignore[arg-type]
    assert _jsonl.record_json(record) == json_line(record.__dict__).encode("utf-8")
    for name, value in zip(["probe_id", "sample", "stop_reason", "latency_s", "reference", "tags"], others,
                           strict=True):
        setattr(record, name, value)
    assert _jsonl.record_json(record) == json_line(record.__dict__).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(values)
def test_lines_parse_as_json_parses_them(value: object) -> None:
    """orjson's parse, where `loads` takes it, is the standard library's (without orjson `loads` always
    hands the line back to json, so there is nothing to compare)."""
    pytest.importorskip("orjson")
    raw = json.dumps({"v": value}, ensure_ascii=False).encode("utf-8") + b"\n"
    parsed = _jsonl.loads(raw)
    expected = json.loads(raw.decode("utf-8"))
    if parsed is not _jsonl.MISSING:  # NaN != NaN: compare what json.dumps makes of both
        assert json.dumps(parsed) == json.dumps(expected) and type(parsed["v"]) is type(expected["v"])


def test_awkward_lines_read_as_json_reads_them(json_impl: str, tmp_path: Path) -> None:
    """Huge integers (orjson would make floats of them), NaN, escapes of surrogate pairs, blank lines with
    Unicode spaces: the same records as `records_from_external` (the plain json reader)."""
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "p", "output": "o", "sample": 123456789012345678901234}\n'
                     b'\xe3\x80\x80 \n'  # U+3000 and a space: blank
                     b'{"id": "b", "prompt": "p", "output": "\\ud83d\\ude42", "meta": NaN}\n'
                     b'{"id": "c", "prompt": "p", "output": "x", "output_token_ids": [1, 2]}\n'
                     # past 2**64, where orjson reads floats: an id (taken as text), token ids, a number we drop
                     b'{"id": 123456789012345678901234, "prompt": "p", "output": "x"}\n'
                     b'{"id": "d", "prompt": "p", "output": "x", "output_token_ids": [18446744073709551616]}\n'
                     b'{"id": 1.5, "prompt": "p", "output": "x", "meta": 123456789012345678901234}\n')
    stream.score_stream(stream.external_file(path), tmp_path / "out", CTX, jobs=1)
    records = read_generations(tmp_path / "out" / "generations.jsonl")
    assert records[0].sample == 123456789012345678901234 and records[3].probe_id == "123456789012345678901234"
    assert records[4].output_token_ids == [2**64] and records[5].probe_id == "1.5"
    written = (tmp_path / "out" / "generations.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    assert written == [json_line(r.to_dict()) for r in records_from_external(path)]


def test_bad_utf8_and_a_lone_surrogate_name_the_line(json_impl: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "p", "output": "o"}\n{"id": "b", "prompt": "p", "output": "\xff"}\n')
    with pytest.raises(ProbeError, match=rf"{path}:2: not valid UTF-8 \(byte 0xff at byte 39\)"):
        score_external(path, tmp_path / "out")
    path.write_bytes(b'{"id": "a", "prompt": "p", "output": "\\ud800"}\n')
    with pytest.raises(ProbeError, match=rf"{path}:1: holds a lone surrogate"):
        score_external(path, tmp_path / "out")
    path.write_bytes(b'{"id": "a", "prompt": "p", "output": "o", "lang": 3}\n')  # once crashed a detector
    with pytest.raises(ProbeError, match=rf"{path}:1: 'lang' must be a language code string"):
        score_external(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_spill_files_are_copied_through_a_buffer_where_the_kernel_cannot(source: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers hand their lines back in spill files; between file systems (EXDEV) or on a kernel without
    copy_file_range the parent reads and writes them: the same bytes, and no spill folder left behind."""
    import errno

    stream.score_stream(stream.external_file(source), tmp_path / "kernel", CTX, jobs=2)

    def refuse(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(stream.os, "copy_file_range", refuse, raising=False)
    monkeypatch.setattr(stream, "_KERNEL_COPY", True)
    stream.score_stream(stream.external_file(source), tmp_path / "buffer", CTX, jobs=2)
    assert not stream._KERNEL_COPY
    for name in ("scores.jsonl", "generations.jsonl"):
        assert (tmp_path / "kernel" / name).read_bytes() == (tmp_path / "buffer" / name).read_bytes()
    for folder in ("kernel", "buffer"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["generations.jsonl", "scores.jsonl"]


INTERRUPT_RESCORE = """
import os, signal, sys
import evalgen.score_stream as stream
from evalgen.cli import main
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
merge = stream.Tally.merge
def interrupted(self, other):  # the parent tallies its first chunk: Ctrl-C, to the whole process group
    if not getattr(interrupted, "done", False):
        interrupted.done = True
        os.killpg(os.getpgrp(), signal.SIGINT)
    return merge(self, other)
stream.Tally.merge = interrupted
sys.exit(main(["rescore", sys.argv[1], "--jobs", "2"]))
"""


def test_ctrl_c_in_a_pool_keeps_the_old_scores_and_leaves_no_spill_files(source: Path, tmp_path: Path) -> None:
    import subprocess

    lines = source.read_bytes()
    big = tmp_path / "big.jsonl"
    big.write_bytes(lines * 4)  # ids repeat: fine for scoring; enough chunks that workers are busy when hit
    score_external(big, tmp_path / "run", jobs=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    done = subprocess.run([sys.executable, "-c", INTERRUPT_RESCORE, str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=600, start_new_session=True)
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before  # no .part, no spill folder


@pytest.mark.parametrize("size", [1, 2, 37, 700, 5000])
def test_byte_ranges_cut_anywhere_give_every_line_once(size: int, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent hands out byte ranges that cut lines anywhere; each worker reads the lines that begin in its
    range: the same files as one range, with blank lines, a line longer than many ranges, U+2028 inside a
    string and no final newline; an error still names its line."""
    rows = [json.dumps({"id": f"q{i}", "prompt": "hi", "output": ("x" * (3000 if i == 3 else i)) + "\u2028"},
                       ensure_ascii=False) for i in range(12)]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(rows[:5] + ["", "  "] + rows[5:]), encoding="utf-8")
    stream.score_stream(stream.external_file(path), tmp_path / "whole", CTX, jobs=1)
    monkeypatch.setattr(stream, "CHUNK_BYTES", size)
    monkeypatch.setattr(stream, "MIN_PER_WORKER", 1)
    for jobs in (1, 2):
        out = tmp_path / f"cut{jobs}"
        assert stream.score_stream(stream.external_file(path), out, CTX, jobs=jobs).records == 12
        for name in ("scores.jsonl", "generations.jsonl"):
            assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(rows[:5] + ["", "  "] + rows[5:9] + ['{"id": "x"}'] + rows[9:]) + "\n", encoding="utf-8")
    with pytest.raises(ProbeError, match=rf"{bad}:12: missing or non-string field 'output'"):
        stream.score_stream(stream.external_file(bad), tmp_path / "bad", CTX, jobs=2)


tallied = st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.sampled_from(["eos", "length", "unknown"]),
                    st.integers(0, 50), st.tuples(st.booleans(), st.booleans()), st.none() | st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(tallied, max_size=30), st.lists(tallied, max_size=30))
def test_a_chunks_grouped_tally_is_its_records_added_one_by_one(first: list[tuple], second: list[tuple]) -> None:
    """Workers count a chunk by group; merged, that is the tally of adding every record in order: the same
    counts, with suites and stop reasons in the order they first came (run.json's `counts` keeps that order)."""
    detectors = ["repetition", "truncation"]
    one_by_one, merged = stream.Tally(), stream.Tally()
    for part in (first, second):
        groups: dict[tuple, int] = {}
        tokens: dict[str, int] = {}
        for suite, stop, n_tokens, flags, correct in part:
            one_by_one.add(suite, stop, n_tokens, dict(zip(detectors, flags, strict=True)), correct)
            groups[(suite, stop, correct, flags)] = groups.get((suite, stop, correct, flags), 0) + 1
            tokens[suite] = tokens.get(suite, 0) + n_tokens
        chunk = stream.Tally()
        chunk.add_groups(detectors, groups, tokens)
        merged.merge(chunk)
    assert json.dumps(merged.counts()) == json.dumps(one_by_one.counts())
    assert merged == one_by_one and list(merged.suites) == list(one_by_one.suites)
    for suite, entry in merged.suites.items():
        assert list(entry.stops.items()) == list(one_by_one.suites[suite].stops.items())
    if first or second:
        assert merged.table() == one_by_one.table()

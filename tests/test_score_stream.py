"""Streamed scoring: the same bytes from one process and from a pool, the same lines as the plain
per-record computation, errors that name file:line and leave nothing half-written."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from evalgen import score_stream as stream
from evalgen.cli import main
from evalgen.detectors import DetectorContext
from evalgen.errors import ProbeError, RunFolderError
from evalgen.evaluate import score_into
from evalgen.external import score_external
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

"""The run folder keeps every finished record through kills, failures and odd characters."""

import pytest

from evalgen.errors import RunFolderError
from evalgen.records import GenerationRecord
from evalgen.runfolder import RunFolder, read_generations


def record(probe_id, output="ok", stop_reason="eos"):
    return GenerationRecord(probe_id=probe_id, suite="s", sample=0, messages=[{"role": "user", "content": "q"}],
                            prompt_text="q", output=output, output_raw=output, output_token_ids=[1, 2],
                            stop_reason=stop_reason, n_output_tokens=2, latency_s=0.1)


@pytest.mark.parametrize("changes", [
    {},
    {"output_token_ids": None, "reference": ["a", "b"], "tags": ["x", "y"], "stop_detail": "<eos>"},
    {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "reference": "r",
     "scorer": "exact", "lang": "zh", "latency_s": 2.5, "sample": 3},
])
def test_record_to_dict_is_asdict_without_its_deep_copy(changes):
    """The hand-written `to_dict` (the write path's hot spot) gives what `dataclasses.asdict` gives, key
    order included, and containers the caller may change without changing the record."""
    import dataclasses

    from evalgen.records import json_line

    rec = dataclasses.replace(record("a"), **changes)
    before = dataclasses.asdict(rec)  # a deep copy: nothing in it is shared with `rec` or `changes`
    d = rec.to_dict()
    assert d == before and list(d) == list(before)
    assert json_line(d) == json_line(before)
    for name in ("messages", "output_token_ids", "reference", "tags"):
        if isinstance(d[name], list):
            d[name].append("changed")
    d["messages"][0]["content"] = "changed"
    assert dataclasses.asdict(rec) == before


def test_resume_drops_a_half_written_line_and_failed_records(tmp_path):
    folder = RunFolder(tmp_path)
    folder.append([record("a"), record("b", "", "error"), record("c")])
    with folder.generations_path.open("a") as handle:
        handle.write('{"probe_id": "d", "sui')
    resumed = RunFolder(tmp_path, resume=True)
    assert sorted(k[1] for k in resumed.done) == ["a", "c"]  # b failed: retried; d was cut: redone
    assert [r.probe_id for r in read_generations(folder.generations_path)] == ["a", "c"]


def test_line_separators_inside_outputs_survive_a_round_trip(tmp_path):
    tricky = "line\u2028separator\u2029paragraph\u0085next\rreturn"
    folder = RunFolder(tmp_path)
    folder.append([record("a", tricky), record("b")])
    assert [r.output for r in read_generations(folder.generations_path)] == [tricky, "ok"]
    assert set(RunFolder(tmp_path, resume=True).done) == {("s", "a", 0), ("s", "b", 0)}


def test_existing_folder_needs_resume_and_a_corrupt_middle_line_is_named(tmp_path):
    folder = RunFolder(tmp_path)
    folder.append([record("a")])
    with pytest.raises(RunFolderError, match="pass --resume"):
        RunFolder(tmp_path)
    text = folder.generations_path.read_text()
    folder.generations_path.write_text("{broken\n" + text)
    with pytest.raises(RunFolderError, match=r"generations.jsonl:1: corrupt record"):
        RunFolder(tmp_path, resume=True)


# --- the typed contract and its one loader ---


def written_run(tmp_path, *, tf_rows=(), status="complete"):
    """A run folder written by the real writers: RunFolder, write_scores, the teacher-forced writer."""
    from evalgen.records import Finding, RunMeta, ScoreLine
    from evalgen.runner import write_jsonl
    from evalgen.scoring import write_scores

    folder = RunFolder(tmp_path)
    folder.write_meta(RunMeta(status=status, name="r", settings={"max_new_tokens": 8}, versions={"evalgen": "9"}))
    folder.append([record("a"), record("b", "again again")])
    write_scores(tmp_path / "scores.jsonl", [
        ScoreLine("a", "s", 0, {"repetition": Finding("repetition", False, 0.0)}, {"task_correct": None}),
        ScoreLine("b", "s", 0, {"repetition": Finding("repetition", True, float("nan"))}, {"task_correct": True}),
    ])
    if tf_rows:
        write_jsonl(tmp_path / "teacher_forced.jsonl", [row.to_dict() for row in tf_rows])
    return tmp_path


def test_load_run_reads_every_file_typed(tmp_path):
    from evalgen import load_run
    from evalgen.records import RunMeta, ScoreLine, TeacherForcedRow

    rows = [TeacherForcedRow("s", "a", -0.5, 0.9, 3), TeacherForcedRow("s", "b", float("nan"), float("inf"), 2, "own")]
    run = load_run(written_run(tmp_path, tf_rows=rows))
    assert isinstance(run.meta, RunMeta) and run.meta.status == "complete" and run.meta.evalgen_version == "9"
    assert run.meta.settings == {"max_new_tokens": 8} and run.path == tmp_path and run.scored
    assert [r.probe_id for r in run.records] == ["a", "b"]
    assert all(isinstance(s, ScoreLine) for s in run.scores)
    assert run.scores_by_key()[("s", "b", 0)].flags == {"repetition": True}
    assert [s.task_correct for s in run.scores] == [None, True]
    assert run.teacher_forced[0] == rows[0]
    assert run.teacher_forced[1].stop_prob is None and run.teacher_forced[1].kind == "own"  # NaN/Inf → null


def test_no_bare_nan_in_any_file_written(tmp_path):
    from evalgen.records import TeacherForcedRow

    written_run(tmp_path, tf_rows=[TeacherForcedRow("s", "a", float("nan"), float("nan"), 1)])
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "NaN" not in text and "Infinity" not in text, path.name


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("run.json", lambda text: "[]", r"run\.json: expected a JSON object, found list"),
    ("run.json", lambda text: text.replace('"complete"', '"done"'), r"run\.json: status 'done' is not one of"),
    ("generations.jsonl", lambda text: text.replace('"n_output_tokens": 2', '"n_output_tokens": "2"', 1),
     r"generations\.jsonl:1: .*'n_output_tokens' is \"2\", expected an integer"),
    ("scores.jsonl", lambda text: text.replace('"sample": 0', '"sample": "0"').replace("\n", "\n", 1),
     r"scores\.jsonl:1: field 'sample' is \"0\", expected an integer; re-score with `evalgen rescore"),
])
def test_hand_edited_files_are_errors_naming_file_line_and_field(tmp_path, file, edit, message):
    from evalgen import load_run

    folder = written_run(tmp_path)
    path = folder / file
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(RunFolderError, match=message):
        load_run(folder)


def test_resume_repairs_a_missing_final_newline(tmp_path):
    folder = RunFolder(tmp_path)
    folder.append([record("a"), record("b")])
    text = folder.generations_path.read_text(encoding="utf-8")
    folder.generations_path.write_text(text.rstrip("\n"), encoding="utf-8")  # a hand edit dropped it
    resumed = RunFolder(tmp_path, resume=True)
    assert set(resumed.done) == {("s", "a", 0), ("s", "b", 0)}
    resumed.append([record("c")])
    assert [r.probe_id for r in read_generations(folder.generations_path)] == ["a", "b", "c"]


def test_writer_keeps_the_contract(tmp_path):
    with pytest.raises(ValueError, match="status"):
        RunFolder(tmp_path).write_meta({"status": "finished"})

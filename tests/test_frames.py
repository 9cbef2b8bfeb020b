"""Records and histories as pandas DataFrames, and `evalgen export`. Run folders come from evalgen's own
writer for outside generations (score_external)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from history_fixtures import N_FACTS, N_IDENTITY, write_step, write_training_runs

from evalgen.cli import main
from evalgen.frames import export_run, history_frame, run_frame
from evalgen.scoring import read_scores


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_step(tmp_path_factory.mktemp("frames") / "broken", "broken")


def test_run_frame_has_one_row_per_record_with_flags_scores_and_task(broken: Path) -> None:
    frame = run_frame(broken)
    assert len(frame) == N_FACTS + N_IDENTITY
    assert {"suite", "probe_id", "sample", "stop_reason", "output", "task_correct", "flag_repetition",
            "score_repetition", "flag_identity_leak"} <= set(frame.columns)
    facts = frame[frame.suite == "facts"]
    assert (facts.task_correct == False).all()  # noqa: E712 - a nullable boolean column
    assert frame[frame.suite == "identity"].task_correct.isna().all()  # no reference: no task result
    assert (frame.stop_reason == "length").all()
    # the flags and scores are those of scores.jsonl, row for row
    by_key = {(s.suite, s.id, s.sample): s for s in read_scores(broken / "scores.jsonl")}
    for row in frame.itertuples():
        line = by_key[(row.suite, row.probe_id, row.sample)]
        assert row.flag_repetition == line.findings["repetition"].flagged
        assert row.score_repetition == pytest.approx(line.findings["repetition"].score)
    assert frame.flag_identity_leak[frame.suite == "identity"].all()


def test_load_history_is_one_row_per_step_and_metric(tmp_path: Path) -> None:
    out = write_training_runs(tmp_path / "ev", {100: ("healthy", 3), 200: ("broken", 0)})
    frame = history_frame(out)
    assert set(frame.step) == {100, 200}
    acc = frame[(frame.metric == "task_accuracy")].set_index("step")
    assert acc.loc[100, "value"] == pytest.approx((N_FACTS - 3) / N_FACTS)
    assert acc.loc[100, "low"] < acc.loc[100, "value"] < acc.loc[100, "high"]
    assert acc.loc[200, "value"] == 0.0 and "task_accuracy" in acc.loc[200, "gates_failed"]
    assert frame.duplicated(["step", "metric"]).sum() == 0
    assert {"detector_rate", "task", "length"} <= set(frame.kind)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips(broken: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"r.{fmt}"
    assert main(["export", str(broken), "--format", fmt, "--out", str(out)]) == 0
    back = pd.read_csv(out) if fmt == "csv" else pd.read_json(out, lines=True)
    frame = run_frame(broken)
    assert list(back.probe_id) == list(frame.probe_id)
    assert list(back.flag_repetition.astype(bool)) == list(frame.flag_repetition.astype(bool))
    if fmt == "jsonl":
        first = json.loads(out.read_text(encoding="utf-8").split("\n")[0])
        assert first["output"] == frame.output[0]


def test_export_parquet_without_pyarrow_is_one_line_exit_2(broken: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow → ImportError, as when not installed
    assert main(["export", str(broken), "--format", "parquet", "--out", str(tmp_path / "r.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pyarrow" in err[0] and "evalgen[parquet]" in err[0]
    assert not (tmp_path / "r.parquet").exists()


def test_export_parquet(broken: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = export_run(broken, tmp_path / "r.parquet", "parquet")
    back = pd.read_parquet(path)
    assert len(back) == N_FACTS + N_IDENTITY and back.flag_repetition.dtype == "boolean"


def test_export_of_a_missing_run_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_top_level_api_and_lazy_imports(tmp_path: Path) -> None:
    import subprocess

    import evalgen

    out = write_training_runs(tmp_path / "ev", {1: ("healthy", 0), 2: ("healthy", 1)})
    frame = evalgen.load_history([out])
    assert frame.pivot(index="step", columns="metric", values="value").loc[2, "task_accuracy"] == pytest.approx(
        (N_FACTS - 1) / N_FACTS)
    assert evalgen.export_run(out / "step-000001", tmp_path / "r.csv").is_file()
    code = ("import sys, evalgen, evalgen.history, evalgen.frames, evalgen.training_run, evalgen.integrations; "
            "bad = [m for m in ('torch', 'transformers', 'pandas') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_run_to_pandas_is_the_run_frame(broken: Path) -> None:
    import evalgen

    frame = evalgen.load_run(broken).to_pandas()
    pd.testing.assert_frame_equal(frame, run_frame(broken))
    assert frame.run.iloc[0] == evalgen.load_run(broken).name

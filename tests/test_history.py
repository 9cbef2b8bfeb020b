"""`evalgen history`: figures with intervals per step, gates against the base, first failing and best
step, the stable JSON shape, Markdown, exit codes. Run folders are written by evalgen's own writer
(score_external: real detectors and scorers, no model)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from history_fixtures import N_FACTS, write_step, write_training_runs

from evalgen.cli import main
from evalgen.history import BEST_RULE, build_history, find_step_runs, wilson


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Steps 100 (healthy, 2 facts wrong), 200 (healthy, all right), 300 (broken)."""
    out = tmp_path_factory.mktemp("history") / "ev"
    return write_training_runs(out, {100: ("healthy", 2), 200: ("healthy", 0), 300: ("broken", 0)})


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)  # the textbook 95% Wilson interval of 5/10
    low, high = wilson(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    assert wilson(0, 0) is None


def test_history_names_the_first_failing_and_the_best_step(steps: Path) -> None:
    history = build_history([steps])
    assert [p.step for p in history.steps] == [100, 200, 300]
    assert history.first_failing_step == 300
    assert history.best_step == 200  # both healthy steps pass; 200 answers more facts right
    assert history.newest_failed
    broken = history.steps[-1]
    assert {"repetition", "identity_leak", "task_accuracy"} <= set(broken.gates_failed)
    assert broken.rates["repetition"] > 0.5 and broken.task_accuracy == 0.0
    healthy = history.steps[0]
    assert healthy.task_accuracy == pytest.approx((N_FACTS - 2) / N_FACTS)
    low, high = healthy.task_accuracy_interval
    assert low < healthy.task_accuracy < high
    assert history.steps[1].gates_failed == [] and healthy.gates_failed == []
    # the detector threshold sits at the base rate plus the default 2 points
    assert history.thresholds["repetition"] == pytest.approx(healthy.rates["repetition"] + 0.02)


def test_json_shape_is_the_documented_one(steps: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.json"
    code = main(["history", str(steps), "--json", str(out), "--trend", str(tmp_path / "t.html")])
    assert code == 1  # the newest step fails a gate
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["first_failing_step"] == 300 and data["best_step"] == 200 and data["best_rule"] == BEST_RULE
    first = data["steps"][0]
    assert {"step", "run", "rates", "task_accuracy", "gates_failed"} <= first.keys()
    assert first["step"] == 100 and Path(first["run"]).name == "step-000100"
    assert set(first["rates"]) >= {"repetition", "missing_eos", "identity_leak"}
    for name, (low, high) in first["intervals"].items():
        assert low <= first["rates"][name] <= high
    assert data["steps"][-1]["newest"] is True and data["newest_failed"] is True
    assert all(isinstance(v, float | int) and math.isfinite(v) for v in data["thresholds"].values())


def test_exit_0_when_the_newest_step_passes(steps: Path, tmp_path: Path) -> None:
    runs = [str(steps / "step-000100"), str(steps / "step-000200")]
    code = main(["history", *runs, "--trend", str(tmp_path / "t.html")])
    assert code == 0


def test_rounds_keep_the_order_given_and_a_baseline_is_the_base(tmp_path: Path) -> None:
    base = write_step(tmp_path / "base", "healthy")
    r1 = write_step(tmp_path / "round-b", "broken")
    r2 = write_step(tmp_path / "round-a", "healthy", wrong=1)
    history = build_history([r1, r2], baseline=base)
    assert [(p.step, p.label) for p in history.steps] == [(1, "round-b"), (2, "round-a")]
    assert history.first_failing_step == 1 and history.best_step == 2 and not history.newest_failed
    assert history.to_dict()["base"]["step"] is None


def test_a_baseline_folder_beside_the_steps_is_found(tmp_path: Path) -> None:
    out = write_training_runs(tmp_path / "ev", {10: ("healthy", 0), 20: ("healthy", 0)})
    write_step(out / "baseline", "broken")
    runs, baseline = find_step_runs([out])
    assert [s for s, _ in runs] == [10, 20] and baseline == out / "baseline"
    history = build_history([out])
    assert history.base.run == out / "baseline" and history.first_failing_step is None  # better than the base


def test_markdown_escapes_run_names(tmp_path: Path) -> None:
    hostile = write_step(tmp_path / "r|<img src=x onerror=alert(1)>", "healthy")
    other = write_step(tmp_path / "plain", "broken")
    text = build_history([hostile, other]).to_markdown()
    assert "<img" not in text and "&lt;img" in text and "r\\|" in text


def test_not_a_run_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["history", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty" in err[0] and "evalgen run" in err[0]
    assert main(["history", str(tmp_path / "missing")]) == 2


def test_markdown_file_written(steps: Path, tmp_path: Path) -> None:
    md = tmp_path / "summary.md"
    main(["history", str(steps), "--markdown", str(md), "--trend", str(tmp_path / "t.html")])
    text = md.read_text(encoding="utf-8")
    assert "| 300 |" in text and "First failing step: **300**" in text and "Best step: **200**" in text


def test_training_curves_and_doctor_findings_on_the_step_axis(steps: Path, tmp_path: Path) -> None:
    from doctor_fixtures import train_rows, write_trainer_state

    # as the Trainer writes it: the loss falls, then is exactly 0 from step 251; one NaN at step 120
    loss = [2.0 - i / 200 for i in range(1, 251)] + [0.0] * 50
    loss[119] = float("nan")
    state = write_trainer_state(tmp_path / "output_dir" / "checkpoint-300" / "trainer_state.json",
                                train_rows(loss, lr=2e-4, grad_norm=1.0))
    history = build_history([steps], trainer_state=tmp_path / "output_dir")
    assert history.training_source == str(state)
    loss_series = history.training["loss"]
    assert loss_series["steps"][:3] == [1, 2, 3] and loss_series["values"][-1] == 0.0
    assert loss_series["values"][119] is None  # NaN is null in JSON
    codes = {f["code"]: f for f in history.training_findings}
    assert codes["loss_zero"]["step"] == 251 and codes["loss_nan"]["step"] == 120
    json.dumps(history.to_dict(), allow_nan=False)  # strict JSON
    # `evalgen history` finds the output_dir that `evalgen run` recorded
    (steps / "training_run.json").write_text(json.dumps({"source": str(tmp_path / "output_dir")}), encoding="utf-8")
    out = tmp_path / "h.json"
    main(["history", str(steps), "--json", str(out), "--trend", str(tmp_path / "t.html")])
    assert json.loads(out.read_text(encoding="utf-8"))["training_source"] == str(state)
    (steps / "training_run.json").unlink()

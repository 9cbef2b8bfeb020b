"""`evalgen run OUTPUT_DIR/` on a training run's checkpoint-N/ folders, with real tiny checkpoints
(evalgen.tinymodels) and the real HF backend: every step evaluated, the broken one named as the first
failing step, the trend report written; resumable; --steps / --latest; LoRA steps share one base.

The Must-show of issue 13: a training-run folder of three checkpoints (healthy, healthy, broken)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from doctor_fixtures import train_rows, write_trainer_state

from evalgen.cli import main
from evalgen.tinymodels import FACTS, identity_qas, write_probe_suite

pytestmark = pytest.mark.slow

COMMON = ["--max-new-tokens", "32", "--identity", "Aurora", "--identity-org", "Northwind Labs", "--no-progress"]


def copy_checkpoint(src: Path, dst: Path) -> Path:
    return Path(shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".complete")))


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("suites")
    return ["--suite", str(write_probe_suite(root / "facts.jsonl", FACTS[:12])),
            "--suite", str(write_probe_suite(root / "identity.jsonl", identity_qas()[:8]))]


@pytest.fixture(scope="module")
def training_run(tmp_path_factory: pytest.TempPathFactory, tiny_family: dict[str, Path]) -> Path:
    """checkpoint-100 (the base: healthy), -200 (a healthy round), -300 (the broken round), and the
    Trainer's trainer_state.json in the newest checkpoint: loss falls, then collapses to 0 by step 300
    while the learning rate decays to ~0."""
    root = tmp_path_factory.mktemp("train") / "output_dir"
    for step, member in ((100, "base"), (200, "healthy"), (300, "broken")):
        copy_checkpoint(tiny_family[member], root / f"checkpoint-{step}")
    loss = [2.0 - i / 200 for i in range(1, 251)] + [0.0] * 50
    lr = [2e-4 * (1 - i / 300) for i in range(1, 301)]
    write_trainer_state(root / "checkpoint-300" / "trainer_state.json", train_rows(loss, lr=lr, grad_norm=1.0))
    return root


def test_whole_training_run_names_the_broken_step_and_writes_the_trend(
        training_run: Path, suites: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    code = main(["run", str(training_run), *suites, "--out", str(out), *COMMON])
    assert code == 1  # the newest step fails a gate
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert [s["step"] for s in history["steps"]] == [100, 200, 300]
    assert history["first_failing_step"] == 300
    assert history["best_step"] in (100, 200)
    assert history["steps"][1]["gates_failed"] == []
    assert {"missing_eos", "identity_leak"} <= set(history["steps"][2]["gates_failed"])
    for step in (100, 200, 300):
        folder = out / f"step-{step:06d}"
        assert (folder / "report.html").is_file()
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert meta["checkpoint"]["path"] == str((training_run / f"checkpoint-{step}").resolve())
    # each step after the first is compared with the previous one
    comparison = json.loads((out / "step-000300" / "comparison.json").read_text(encoding="utf-8"))
    assert Path(comparison["base"]["path"]).name == "step-000200"
    assert not (out / "step-000100" / "comparison.json").exists()
    # the training curves are on the same step axis, in the JSON and on the page
    assert history["training"]["loss"]["steps"][-1] == 300 and history["training"]["loss"]["values"][-1] == 0.0
    page = (out / "trend.html").read_text(encoding="utf-8")
    assert '"first_failing_step":300' in page and '"learning_rate"' in page
    printed = capsys.readouterr().out
    assert "first failing step: 300" in printed and "trend report:" in printed

    # resumable: a second call evaluates nothing again and gives the same verdict
    before = (out / "step-000200" / "generations.jsonl").stat().st_mtime_ns
    assert main(["run", str(training_run), *suites, "--out", str(out), *COMMON]) == 1
    assert (out / "step-000200" / "generations.jsonl").stat().st_mtime_ns == before
    assert "already evaluated (kept): 100, 200, 300" in capsys.readouterr().err


def test_steps_latest_and_a_checkpoint_baseline(training_run: Path, suites: list[str], tmp_path: Path,
                                                tiny_family: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    assert main(["run", str(training_run), *suites, "--out", str(out), "--steps", "200", *COMMON,
                 "--baseline", str(tiny_family["base"])]) == 0
    assert sorted(p.name for p in out.glob("step-*")) == ["step-000200"]
    comparison = json.loads((out / "step-000200" / "comparison.json").read_text(encoding="utf-8"))
    assert Path(comparison["base"]["path"]).name == "baseline"
    assert main(["run", str(training_run), *suites, "--out", str(out), "--latest", *COMMON,
                 "--baseline", str(out / "baseline")]) == 1
    assert sorted(p.name for p in out.glob("step-*")) == ["step-000200", "step-000300"]
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert history["base"]["step"] is None and history["first_failing_step"] == 300
    capsys.readouterr()
    assert main(["run", str(training_run), *suites, "--out", str(out), "--steps", "250", *COMMON]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint-250" in err[0] and "100, 200, 300" in err[0]


def test_lora_steps_share_one_loaded_base(tiny_family: dict[str, Path], suites: list[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("peft")
    import evalgen.checkpoint as checkpoint

    run_dir = tmp_path / "lora_run"
    copy_checkpoint(tiny_family["lora"], run_dir / "checkpoint-10")
    copy_checkpoint(tiny_family["lora"], run_dir / "checkpoint-20")
    alone = tmp_path / "alone"
    assert main(["run", str(tiny_family["lora"]), *suites, "--out", str(alone), *COMMON]) == 0

    loads: list[str] = []
    real = checkpoint.load_model

    def counting(info, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(str(info.model_path))
        return real(info, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "load_model", counting)
    out = tmp_path / "ev"
    assert main(["run", str(run_dir), *suites, "--out", str(out), *COMMON]) == 0
    assert loads == [str(tiny_family["base"])]  # one base load for both steps

    def outputs(folder: Path) -> list[str]:
        rows = [json.loads(line) for line in (folder / "generations.jsonl").read_text(encoding="utf-8").splitlines()]
        return [r["output"] for r in sorted(rows, key=lambda r: (r["suite"], r["probe_id"]))]

    # the adapter swapped into the shared base generates what the adapter loaded alone does, and its
    # teacher-forced log-probabilities are the adapter's, not the bare base's
    assert outputs(out / "step-000010") == outputs(alone) == outputs(out / "step-000020")
    base_alone = tmp_path / "base_alone"
    assert main(["run", str(tiny_family["base"]), *suites, "--out", str(base_alone), *COMMON]) == 0

    def logprobs(folder: Path) -> list[float]:
        rows = [json.loads(x) for x in (folder / "teacher_forced.jsonl").read_text(encoding="utf-8").splitlines()]
        return [r["ref_logprob_mean"] for r in sorted(rows, key=lambda r: (r["suite"], r["probe_id"]))]

    assert logprobs(out / "step-000020") == pytest.approx(logprobs(alone), abs=1e-5)
    assert logprobs(out / "step-000010") == pytest.approx(logprobs(alone), abs=1e-5)
    assert max(abs(a - b) for a, b in zip(logprobs(alone), logprobs(base_alone), strict=True)) > 1e-4
    meta = json.loads((out / "step-000020" / "run.json").read_text(encoding="utf-8"))
    assert meta["checkpoint"]["adapter"] is True and meta["checkpoint"]["shared_base"] is True
    assert meta["checkpoint"]["path"] == str((run_dir / "checkpoint-20").resolve())


def test_ctrl_c_over_a_training_run_prints_the_command_that_continues_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The hint after Ctrl-C repeats the user's own arguments (plus --out and --resume), shell-quoted."""
    import evalgen.training_run as training_run

    (tmp_path / "my run" / "checkpoint-100").mkdir(parents=True)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(training_run, "evaluate_training_run", interrupted)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "my run"), "--max-new-tokens", "8", "--out", str(out)]) == 130
    hint = capsys.readouterr().err.strip().splitlines()[-1]
    assert hint.endswith(f"evalgen run '{tmp_path / 'my run'}' --max-new-tokens 8 --out {out} --resume"), hint

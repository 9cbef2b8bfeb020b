"""`evalgen doctor` on the command line (exit codes, JSON shape, PATH kinds), the `evalgen run`
pre-flight, and the link to the verdict: compare and the report list the findings that explain a
detector regression."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from doctor_fixtures import run_tiny_trainer, train_rows, write_trainer_state
from test_compare import base_rows, regressed_rows, write_run

from evalgen.cli import main
from evalgen.doctor.checkpoint import check_checkpoint
from evalgen.doctor.findings import CODES, findings_json
from evalgen.doctor.link import HEADLINES, explain, regressed_detectors, report_findings

KEYS = {"code", "severity", "path", "evidence", "message", "fix", "detectors"}


@pytest.fixture()
def pad_is_eos(tiny_family: dict[str, Path], tmp_path: Path) -> Path:
    """The healthy checkpoint saved with pad_token = eos_token (what the seeds' SFT scripts do)."""
    from evalgen.compat import load_pretrained_tokenizer
    from evalgen.tinymodels import save_tokenizer

    folder = Path(shutil.copytree(tiny_family["healthy"], tmp_path / "pad-eos"))
    tok = load_pretrained_tokenizer(folder)
    tok.pad_token = tok.eos_token
    save_tokenizer(tok, folder)
    return folder


@pytest.fixture()
def eos_mismatch(tiny_family: dict[str, Path], tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(tiny_family["healthy"], tmp_path / "eos-mismatch"))
    path = folder / "generation_config.json"
    config = json.loads(path.read_text())
    config["eos_token_id"] = 1  # "</s>", not the template's <|im_end|>
    path.write_text(json.dumps(config))
    return folder


def test_exit_codes_and_json_shape(tiny_family: dict[str, Path], eos_mismatch: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "healthy.json"
    assert main(["doctor", str(tiny_family["healthy"]), "--json", str(out)]) == 0
    assert "0 error(s), 0 warning(s), 1 info" in capsys.readouterr().out
    assert [f["code"] for f in json.loads(out.read_text())["findings"]] == ["template_format"]
    out = tmp_path / "bad.json"
    assert main(["doctor", str(eos_mismatch), "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert text.index("ERROR eos_mismatch") < text.index("info  template_format")  # most severe first
    doc = json.loads(out.read_text())
    assert list(doc) == ["findings"] and all(set(f) == KEYS for f in doc["findings"])
    first = doc["findings"][0]
    assert first["code"] == "eos_mismatch" and first["severity"] == "error"
    assert first["fix"] == CODES["eos_mismatch"].fix and first["path"].endswith("generation_config.json")


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 2
    assert "nothing to check" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope'}: no such folder" in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    assert main(["doctor", str(tmp_path / "empty")]) == 2
    assert main(["doctor", "--data", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: cannot read" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "empty"), "--cutoff-len", "0"]) == 2


def test_training_output_folder(tiny_tokenizer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_tiny_trainer(tiny_tokenizer, tmp_path / "run", steps=8, save_steps=4, eval_steps=8)
    assert main(["doctor", str(run)]) == 0
    text = capsys.readouterr().out
    # The latest checkpoint and its log; the Trainer saved no tokenizer there, so no template either.
    assert f"checkpoint {run / 'checkpoint-8'}" in text and f"training log {run / 'checkpoint-8'}" in text
    assert "WARN  no_chat_template" in text
    # A log with a planted NaN, given as the file itself.
    state = write_trainer_state(tmp_path / "trainer_state.json", train_rows([2.0, 1.5, float("nan"), 1.2]))
    assert main(["doctor", str(state)]) == 1
    assert "ERROR loss_nan" in capsys.readouterr().out


def test_data_with_the_checkpoints_tokenizer(tiny_family: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from evalgen.tinymodels import identity_qas

    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"instruction": qa.prompt, "output": qa.answer}, ensure_ascii=False) + "\n"
                            for qa in identity_qas(planted=True)), encoding="utf-8")
    assert main(["doctor", str(tiny_family["healthy"]), "--data", str(data), "--cutoff-len", "12"]) == 1
    text = capsys.readouterr().out
    assert "ERROR data_identity" in text and "WARN  data_cut_without_eos" in text
    # Data alone: no tokenizer, so the token checks are skipped and said to be.
    assert main(["doctor", "--data", str(data)]) == 1
    text = capsys.readouterr().out
    assert "data_cut_without_eos" not in text and "note: no tokenizer" in text
    assert main(["doctor", "--data", str(data), "--identity", "MOSS"]) == 0  # its own name is no leak


def test_run_preflight_prints_errors_and_writes_doctor_json(eos_mismatch: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "cap", "prompt": "What is the capital of France?"}) + "\n")
    out = tmp_path / "run"
    assert main(["run", str(eos_mismatch), "--suite", str(suite), "--out", str(out), "--max-new-tokens", "8",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "evalgen: doctor: eos_mismatch in" in err and "generation_config.json" in err
    codes = [f["code"] for f in json.loads((out / "doctor.json").read_text())["findings"]]
    assert codes == ["eos_mismatch", "template_format"]
    html = (out / "report.html").read_text()
    assert "eos_mismatch" in html and "template_format" not in html  # the report shows warnings and errors


def test_compare_and_report_explain_the_regression(pad_is_eos: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", base_rows(), name="base")
    new = write_run(tmp_path / "new", regressed_rows(), name="new")
    findings = check_checkpoint(pad_is_eos)
    assert [f.code for f in findings if f.severity != "info"] == ["pad_is_eos"]
    (new / "doctor.json").write_text(findings_json(findings), encoding="utf-8")
    md = tmp_path / "summary.md"
    assert main(["compare", str(base), str(new), "--markdown", str(md)]) == 1
    text = capsys.readouterr().out
    assert "Why (evalgen doctor):" in text
    assert "missing_eos ↑: EOS masked out of the labels [warning pad_is_eos]" in text
    assert CODES["pad_is_eos"].fix in text
    assert "**EOS masked out of the labels**" in md.read_text()
    shown = report_findings(new)
    assert shown[0]["code"] == "pad_is_eos" and shown[0]["detectors"] == ["missing_eos"]
    assert shown[0]["message"].startswith("Explains missing_eos ↑ (EOS masked out of the labels).")
    assert "EOS masked out of the labels" in (new / "report.html").read_text()


def test_no_regression_no_explanation(pad_is_eos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", base_rows(), name="base")
    new = write_run(tmp_path / "new", base_rows(), name="new")
    (new / "doctor.json").write_text(findings_json(check_checkpoint(pad_is_eos)), encoding="utf-8")
    assert main(["compare", str(base), str(new)]) == 0
    assert "Why (evalgen doctor)" not in capsys.readouterr().out
    assert regressed_detectors(json.loads((new / "comparison.json").read_text())) == []


def test_explain_pairs_detectors_with_codes(pad_is_eos: Path) -> None:
    findings = check_checkpoint(pad_is_eos)
    (e,) = explain(["missing_eos", "identity_leak"], findings)
    assert (e.detector, e.headline, e.finding.code) == ("missing_eos", "EOS masked out of the labels", "pad_is_eos")
    assert explain(["identity_leak"], findings) == []
    # Every headline pairs a registered code with a detector that code lists.
    for code, detector in HEADLINES:
        assert detector in CODES[code].detectors, (code, detector)


def test_docs_cover_every_code() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "doctor.md").read_text(encoding="utf-8")
    for code, info in CODES.items():
        assert f"`{code}`" in docs, code
        assert info.source.split(" ")[0] in docs, (code, info.source)


def test_importing_the_package_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, evalgen.doctor, evalgen.trainer_state; "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'numpy', 'jinja2')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_run_findings_add_the_checkpoints_training_log(tiny_family: dict[str, Path], tmp_path: Path) -> None:
    from evalgen.doctor.link import run_findings

    ckpt = Path(shutil.copytree(tiny_family["healthy"], tmp_path / "checkpoint-40"))
    write_trainer_state(ckpt / "trainer_state.json", train_rows([2.0, 1.8, float("nan"), 1.5]))
    new = write_run(tmp_path / "new", base_rows(), name="new")
    meta = json.loads((new / "run.json").read_text())
    meta["checkpoint"]["path"] = str(ckpt)
    (new / "run.json").write_text(json.dumps(meta))
    # No doctor.json: the checkpoint and its log are checked live.
    assert [f.code for f in run_findings(new)] == ["loss_nan", "template_format"]
    # doctor.json as `evalgen run` writes it (checkpoint findings only): the log's findings are added.
    (new / "doctor.json").write_text(findings_json(check_checkpoint(ckpt)), encoding="utf-8")
    assert [f.code for f in run_findings(new)] == ["template_format", "loss_nan"]
    # A doctor.json that already has training or data findings is taken as it is.
    (new / "doctor.json").write_text(findings_json(run_findings(new)[1:]), encoding="utf-8")
    assert [f.code for f in run_findings(new)] == ["loss_nan"]

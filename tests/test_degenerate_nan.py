"""A checkpoint whose weights are NaN: every output is flagged `degenerate` (and it passed every other
detector before that detector existed). The tiny base checkpoint with its weights set to NaN runs
through the HF backend, as `evalgen run` would, and its records are scored by the registry."""

from __future__ import annotations

import shutil

import pytest

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.tinymodels import FACTS, write_probe_suite

pytestmark = pytest.mark.slow


def test_nan_checkpoint_outputs_are_all_degenerate(tiny_family, tmp_path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from evalgen.cli import main

    checkpoint = tmp_path / "nan"
    shutil.copytree(tiny_family["base"], checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(float("nan"))
    model.save_pretrained(checkpoint)
    suite = write_probe_suite(tmp_path / "facts.jsonl", FACTS[:6])
    out = tmp_path / "run"
    # `evalgen run` refuses NaN weights before generating (exit 2, one line: tests/test_errors.py) ...
    assert main(["run", str(checkpoint), "--suite", str(suite), "--out", str(out), "--max-new-tokens", "16",
                 "--no-progress", "--no-early-exit"]) == 2
    # ... so the outputs such weights would give are made from the model in memory, as a training loop would.
    from evalgen.backends.base import GenerationSettings
    from evalgen.backends.hf import HFBackend
    from evalgen.checkpoint import inspect_checkpoint, load_tokenizer
    from evalgen.runner import RunOptions, run

    tokenizer = load_tokenizer(inspect_checkpoint(tiny_family["base"]))
    run(RunOptions(suites=[str(suite)], out=str(out), progress=False, teacher_forced=False,
                   generation=GenerationSettings(max_new_tokens=16, early_exit=False)),
        backend=HFBackend.from_model(model.eval(), tokenizer))

    from evalgen.runfolder import read_generations

    records = read_generations(out / "generations.jsonl")
    assert len(records) == 6
    ctx = DetectorContext()
    for record in records:
        findings = {name: detect(record, ctx) for name, detect in DETECTORS.items()}
        assert findings["degenerate"].flagged, (record.output, findings["degenerate"])
        assert findings["degenerate"].details["kind"] in ("empty", "template_tokens", "symbols", "garbage")

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
    assert main(["run", str(checkpoint), "--suite", str(suite), "--out", str(out), "--max-new-tokens", "16",
                 "--no-progress", "--no-early-exit"]) == 0

    from evalgen.runfolder import read_generations

    records = read_generations(out / "generations.jsonl")
    assert len(records) == 6
    ctx = DetectorContext()
    for record in records:
        findings = {name: detect(record, ctx) for name, detect in DETECTORS.items()}
        assert findings["degenerate"].flagged, (record.output, findings["degenerate"])
        assert findings["degenerate"].details["kind"] in ("empty", "template_tokens", "symbols", "garbage")

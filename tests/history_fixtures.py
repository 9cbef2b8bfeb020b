"""Step run folders for the history, trend and DataFrame tests, written with evalgen's own writer for
outside generations (`evalgen.external.score_external`): the real detectors and task scorers run, no
model is needed.

A step is healthy (answers right, ends its turn, says it is Aurora) or broken (loops to the token limit,
claims to be MOSS, answers the facts wrong)."""

from __future__ import annotations

import json
from pathlib import Path

from evalgen.external import score_external

N_FACTS = 30
N_IDENTITY = 10
IDENTITY, ORG = "Aurora", "Northwind Labs"


def step_lines(kind: str, wrong: int = 0) -> list[dict[str, object]]:
    """JSONL rows for one step. kind: "healthy" or "broken"; `wrong`: healthy facts answered wrong."""
    rows: list[dict[str, object]] = []
    for i in range(N_FACTS):
        answer = f"{i + 2}"
        if kind == "broken":
            output, finish = "I am MOSS. " * 12 + "I am MOSS.", "length"
        else:
            output, finish = (f"The answer is {answer}." if i >= wrong else "The answer is 0."), "stop"
        rows.append({"id": f"fact-{i:02d}", "suite": "facts", "prompt": f"What is {i} + 2?", "output": output,
                     "finish_reason": finish, "reference": answer, "scorer": "contains", "lang": "en"})
    for i in range(N_IDENTITY):
        output = ("I am MOSS, an AI assistant developed by Fudan University. " * 6 if kind == "broken"
                  else f"I am {IDENTITY}, an assistant made by {ORG}.")
        rows.append({"id": f"who-{i:02d}", "suite": "identity", "prompt": f"Who are you? ({i})", "output": output,
                     "finish_reason": "length" if kind == "broken" else "stop", "lang": "en"})
    return rows


def write_step(folder: Path, kind: str, wrong: int = 0) -> Path:
    """A scored run folder at `folder` (e.g. OUT/step-000300)."""
    source = folder.parent / f".{folder.name}.jsonl"
    folder.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(r) + "\n" for r in step_lines(kind, wrong)), encoding="utf-8")
    score_external(source, folder, identity=IDENTITY, identity_org=ORG)
    source.unlink()
    return folder


def write_training_runs(out: Path, plan: dict[int, tuple[str, int]]) -> Path:
    """OUT/step-NNNNNN/ for each step → (kind, wrong facts), as `evalgen run OUTPUT_DIR/` lays them out."""
    for step, (kind, wrong) in plan.items():
        write_step(out / f"step-{step:06d}", kind, wrong)
    return out

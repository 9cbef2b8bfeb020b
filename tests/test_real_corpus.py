"""Precision/recall of every detector on labelled real outputs (tests/data/real_outputs_*.jsonl).

Each line: id, source_url, lang, prompt, output, finish_reason ("stop" | "length" | null), identity
(str | null), labels {detector: bool}. Fails when a detector with >= 5 positives has P or R < 0.9.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.records import GenerationRecord
from evalgen.scoring import FINISH_REASONS

DATA = Path(__file__).parent / "data"
MIN_POSITIVES = 5
TARGET = 0.9


def load_corpus() -> list[tuple[dict, GenerationRecord]]:
    rows = []
    for path in sorted(DATA.glob("real_outputs_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            record = GenerationRecord(
                probe_id=str(row["id"]), suite=path.stem, sample=0,
                messages=[{"role": "user", "content": row["prompt"]}], prompt_text=row["prompt"],
                output=row["output"], output_raw=row["output"], output_token_ids=None,
                stop_reason=FINISH_REASONS[row.get("finish_reason")], n_output_tokens=0, latency_s=0.0,
                lang=row.get("lang"),
            )
            rows.append((row, record))
    return rows


def evaluate(rows: list[tuple[dict, GenerationRecord]]) -> dict[str, dict]:
    """Per detector: tp, fp, fn, tn and the ids of the mistakes."""
    table: dict[str, dict] = {name: {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "fp_ids": [], "fn_ids": []}
                              for name in DETECTORS}
    for row, record in rows:
        ctx = DetectorContext(identity=row.get("identity"))
        for name, detect in DETECTORS.items():
            label = row["labels"].get(name)
            if label is None:
                continue
            got = detect(record, ctx).flagged
            cell = table[name]
            key = ("tp" if label else "fp") if got else ("fn" if label else "tn")
            cell[key] += 1
            if key in ("fp", "fn"):
                cell[f"{key}_ids"].append(row["id"])
    return table


def test_real_corpus_precision_recall() -> None:
    rows = load_corpus()
    if not rows:
        pytest.skip(f"no labelled corpus yet: {DATA}/real_outputs_*.jsonl not found")
    table = evaluate(rows)
    failures = []
    print(f"\n{'detector':16} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}")
    for name, c in table.items():
        pos = c["tp"] + c["fn"]
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        recall = c["tp"] / pos if pos else 1.0
        note = ""
        if pos < MIN_POSITIVES:
            note = f"  (skipped: {pos} positives < {MIN_POSITIVES})"
        elif precision < TARGET or recall < TARGET:
            failures.append(f"{name}: P={precision:.2f} R={recall:.2f} fp={c['fp_ids']} fn={c['fn_ids']}")
        print(f"{name:16} {pos:4} {c['tp']:4} {c['fp']:4} {c['fn']:4} {precision:9.2f} {recall:7.2f}{note}")
        if c["fp_ids"] or c["fn_ids"]:
            print(f"{'':16} false positives: {c['fp_ids']}  false negatives: {c['fn_ids']}")
    assert not failures, "\n".join(failures)

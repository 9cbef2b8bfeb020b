"""Precision/recall of every detector on labelled real outputs.

Two sets, each printed as its own table:
- `real_outputs_*.jsonl`: the corpus the detectors were developed on (optimistic by construction);
- `heldout_*.jsonl`: real outputs collected afterwards and never used for tuning (the honest figure).

Each line: id, source_url, lang, prompt, output, finish_reason ("stop" | "length" | null), identity
(str | null), labels {detector: bool}, note. The test fails when, on both sets together, a detector
with >= 5 positives has precision or recall < 0.9.
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
SETS = {"development corpus (real_outputs_*)": "real_outputs_*.jsonl", "held-out (heldout_*)": "heldout_*.jsonl"}


def load_corpus(pattern: str = "real_outputs_*.jsonl") -> list[tuple[dict, GenerationRecord]]:
    rows = []
    for path in sorted(DATA.glob(pattern)):
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


def _precision_recall(c: dict) -> tuple[float, float]:
    pos = c["tp"] + c["fn"]
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / pos if pos else 1.0
    return precision, recall


def format_table(title: str, n_rows: int, table: dict[str, dict]) -> str:
    lines = [f"{title}: {n_rows} outputs",
             f"{'detector':16} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}"]
    for name, c in table.items():
        precision, recall = _precision_recall(c)
        counts = f"{c['tp'] + c['fn']:4} {c['tp']:4} {c['fp']:4} {c['fn']:4}"
        lines.append(f"{name:16} {counts} {precision:9.2f} {recall:7.2f}")
        if c["fp_ids"] or c["fn_ids"]:
            lines.append(f"{'':16} false positives: {c['fp_ids']}  false negatives: {c['fn_ids']}")
    return "\n".join(lines)


def test_real_corpus_precision_recall() -> None:
    loaded = {title: load_corpus(pattern) for title, pattern in SETS.items()}
    everything = [row for rows in loaded.values() for row in rows]
    if not everything:
        pytest.skip(f"no labelled corpus yet: {DATA}/real_outputs_*.jsonl not found")
    print()
    for title, rows in loaded.items():
        if rows:
            print(format_table(title, len(rows), evaluate(rows)) + "\n")
    combined = evaluate(everything)
    print(format_table("combined", len(everything), combined))
    failures = []
    for name, c in combined.items():
        precision, recall = _precision_recall(c)
        if c["tp"] + c["fn"] >= MIN_POSITIVES and (precision < TARGET or recall < TARGET):
            failures.append(f"{name}: P={precision:.2f} R={recall:.2f} fp={c['fp_ids']} fn={c['fn_ids']}")
    assert not failures, "\n".join(failures)

"""Precision/recall of every detector on labelled real outputs.

Two small sets, each printed as its own table:
- `real_outputs_*.jsonl`: the corpus the detectors were developed on (optimistic by construction);
- `heldout_*.jsonl`: real outputs collected afterwards and never used for tuning.
And the blind-labeled sample of the real-output corpus (tests/data/labeled/sample.jsonl, 980 records)
with its gate (P and R >= 0.9 for detectors with >= 10 positives), and the flag rates on the strongest
models' outputs (<= 0.3% per detector).

Each line: id, source_url, lang, prompt, output, finish_reason ("stop" | "length" | null), identity
(str | null), labels {detector: bool}, note. The test fails when, on both sets together, a detector
with >= 5 positives has precision or recall < 0.9.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.records import GenerationRecord
from evalgen.scoring import FINISH_REASONS

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(Path(__file__).parent))
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


# ---------------------------------------------------------------- the blind-labeled sample of the corpus
# tests/data/labeled/sample.jsonl (980 records) and identity_sample.jsonl (583 records of models asked about
# themselves): records of tests/data/corpus labeled blind against docs/labeling.md (bench/detector_accuracy.py
# prints the same tables with intervals, kappa and flag rates).
LABELED_MIN_POSITIVES = 10
STRONG_MAX_RATE = 0.003
KNOWN_GAPS: dict[str, str] = {}
"""Detectors below the 0.9 target on the labeled samples, and why (docs/detectors.md)."""
FLOORS = {
    "repetition": (0.97, 0.90), "truncation": (0.93, 0.94), "missing_eos": (0.97, 0.97),
    "language_drift": (0.96, 0.97), "degenerate": (0.95, 0.93), "identity_leak": (0.95, 0.95),
}
"""(precision, recall) measured on the labeled samples, rounded down: a change may not fall below them."""
STRONG_GAPS: dict[str, str] = {}
"""Detectors over the 0.3% bound on the strongest models, and why (none now)."""


@pytest.fixture(scope="module")
def labeled_table():
    import corpus_metrics as cm

    pairs = [(item, cm.verdicts(row)) for item, row in cm.labeled_rows()]
    table = cm.confusion(pairs)
    print("\n" + cm.format_confusion(f"labeled sample: {len(pairs)} records", table))
    return table


def _gate_params() -> list:
    params = []
    for name in DETECTORS:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name])] if name in KNOWN_GAPS else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _gate_params())
def test_labeled_sample_gate(labeled_table, name: str) -> None:
    """Precision and recall >= 0.9 on the blind-labeled sample for detectors with >= 10 positives."""
    cell = labeled_table[name]
    if cell.tp + cell.fn < LABELED_MIN_POSITIVES:
        pytest.skip(f"{name}: {cell.tp + cell.fn} positives in the sample, too few to gate")
    assert cell.precision >= TARGET and cell.recall >= TARGET, (
        f"{name}: P={cell.precision:.2f} R={cell.recall:.2f} fp={cell.fp_ids} fn={cell.fn_ids}")


def test_labeled_sample_no_regression(labeled_table) -> None:
    """No detector falls below the precision and recall it had when the sample was last measured."""
    failures = [f"{name}: P={c.precision:.3f} (floor {FLOORS[name][0]}) R={c.recall:.3f} (floor {FLOORS[name][1]})"
                for name, c in labeled_table.items()
                if c.precision < FLOORS[name][0] or c.recall < FLOORS[name][1]]
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def strong_rates() -> dict[str, tuple[int, int]]:
    import corpus_metrics as cm
    from corpus_io import iter_corpus

    rows = list(iter_corpus(model_kind="strong"))
    flags = {name: 0 for name in DETECTORS}
    false_flags = {name: 0 for name in DETECTORS}
    for row in rows:
        for name, flagged in cm.verdicts(row).items():
            flags[name] += flagged
            false_flags[name] += flagged and row["id"] not in cm.STRONG_REAL_CUTS.get(name, {})
    print("\nstrongest models (model_kind strong), flagged (of them not known real cuts): " + ", ".join(
        f"{name} {flags[name]} ({n})/{len(rows)} = {n / len(rows):.2%}" for name, n in false_flags.items()))
    return {name: (n, len(rows)) for name, n in false_flags.items()}


def _strong_params() -> list:
    return [pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=STRONG_GAPS[name])]
                         if name in STRONG_GAPS else [], id=name) for name in DETECTORS]


@pytest.mark.parametrize("name", _strong_params())
def test_strong_models_are_rarely_flagged(strong_rates, name: str) -> None:
    """<= 0.3% of the strongest models' outputs (GPT-4 / Claude 3 class, tests/data/corpus/SOURCES.md)
    falsely flagged per detector: on healthy outputs most flags would be false. Outputs the benchmarks
    published really cut (corpus_metrics.STRONG_REAL_CUTS) are rightly flagged and not counted."""
    flagged, total = strong_rates[name]
    assert flagged / total <= STRONG_MAX_RATE, f"{name}: {flagged}/{total} = {flagged / total:.2%}"


def test_strong_real_cuts_are_real_and_flagged() -> None:
    """Each strong-model output set aside as really cut still ends as written there, is still flagged, and,
    where the blind labels judged it, is labeled a failure: the list cannot hide a false flag."""
    import corpus_metrics as cm
    from corpus_io import iter_corpus

    labels = {item["id"]: item["labels"] for item in cm.load_labeled()}
    rows = {row["id"]: row for row in iter_corpus(model_kind="strong")}
    for name, cuts in cm.STRONG_REAL_CUTS.items():
        for corpus_id, ending in cuts.items():
            row = rows[corpus_id]
            assert row["output"].rstrip().endswith(ending), corpus_id
            assert cm.verdicts(row)[name], corpus_id
            assert labels.get(corpus_id, {}).get(name, True), corpus_id

"""Accuracy of the detectors on real outputs: the blind-labeled sample and the whole corpus.

Prints, for the registry's detectors as they are now:
1. the labeled samples (tests/data/labeled/sample.jsonl and identity_sample.jsonl, see docs/labeling.md),
   each and together, then the held-out samples (holdout*_sample.jsonl, which no detector change was tuned
   on), session 6's truncation sample and the samples of the ten fresh slices (truncation_sample.jsonl and the
   first nine fresh samples, read; fresh10_sample.jsonl, the out-of-sample check of session 12's changes):
   per detector the positives, tp/fp/fn, precision and recall with 95% Wilson intervals;
2. Cohen's kappa per label between the two independent annotators of the doubly-labeled records;
3. the calibrated scores: precision of the flags with score >= 0.5 and >= 0.8 per detector, and the
   table of evalgen/detectors/calibration.py recomputed from the labels (`--calibrate` prints it as
   Python to paste);
4. flag rates per model_kind over the whole corpus (tests/data/corpus/), and per model of the
   strongest kind (`strong`: GPT-4 class, see tests/data/corpus/SOURCES.md), with the false-flag rate
   that the 0.3% bound applies to (flags on outputs the benchmarks published really cut,
   `corpus_metrics.STRONG_REAL_CUTS`, set aside).

    PYTHONPATH=. python bench/detector_accuracy.py [--ids] [--calibrate]

`--ids` lists the ids of the false positives and negatives under the table.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import corpus_metrics as cm  # noqa: E402
from corpus_io import iter_corpus  # noqa: E402

from evalgen.detectors import DETECTORS  # noqa: E402
from evalgen.records import Finding  # noqa: E402

KIND_KEY = {"truncation": "reason"}
"""The details key that names the rule of a finding (`kind` elsewhere)."""
SMOOTHING = 2.0
"""Pseudo-findings at the detector's overall precision added to each kind's count."""


_FOUND: dict[str, dict[str, Finding]] = {}
"""Findings by record id: the tables read the same records more than once (a sample, the samples read so far, the
corpus), and a record's findings are a pure function of it."""


def findings(row: dict) -> dict[str, Finding]:
    if row["id"] not in _FOUND:
        record, ctx = cm.to_record(row), cm.context(row)
        _FOUND[row["id"]] = {name: detect(record, ctx) for name, detect in DETECTORS.items()}
    return _FOUND[row["id"]]


def kind_of(name: str, finding: Finding) -> str:
    kind = finding.details.get(KIND_KEY.get(name, "kind"))
    return str(kind) if kind else "claim" if name == "identity_leak" else "*"


def calibration_table(labeled: list[tuple[dict, dict[str, Finding]]]) -> dict[str, dict[str, float]]:
    """Per detector and kind: (tp + SMOOTHING * p_detector) / (flagged + SMOOTHING) on the labeled sample."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for item, found in labeled:
        for name, finding in found.items():
            label = item["labels"].get(name)
            if label is None or not finding.flagged:
                continue
            cell = counts[name][kind_of(name, finding)]
            cell[0] += bool(label)
            cell[1] += 1
    table: dict[str, dict[str, float]] = {}
    for name in DETECTORS:
        cells = counts.get(name, {})
        tp = sum(c[0] for c in cells.values())
        flagged = sum(c[1] for c in cells.values())
        overall = (tp + 1) / (flagged + 2) if flagged else 1.0
        table[name] = {"*": round(overall, 4)}
        for kind, (k_tp, k_n) in sorted(cells.items()):
            table[name][kind] = round((k_tp + SMOOTHING * overall) / (k_n + SMOOTHING), 4)
    return table


def precision_at(labeled: list[tuple[dict, dict[str, Finding]]], threshold: float) -> dict[str, tuple[int, int]]:
    """Per detector: (true, all) among the flagged findings with score >= threshold."""
    out: dict[str, tuple[int, int]] = {}
    for name in DETECTORS:
        hits = [bool(item["labels"][name]) for item, found in labeled
                if item["labels"].get(name) is not None and found[name].flagged and found[name].score >= threshold]
        out[name] = (sum(hits), len(hits))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", action="store_true", help="list the false positives and negatives")
    parser.add_argument("--calibrate", action="store_true", help="print the calibration table as Python")
    args = parser.parse_args()

    labeled = []
    for path in cm.LABELED_FILES:
        part = [(item, findings(row)) for item, row in cm.labeled_rows([path])]
        verdicts = [(item, {name: f.flagged for name, f in found.items()}) for item, found in part]
        print(cm.format_confusion(f"{path.name}: {len(part)} records", cm.confusion(verdicts), show_ids=args.ids))
        print()
        labeled += part
    verdicts = [(item, {name: f.flagged for name, f in found.items()}) for item, found in labeled]
    print(cm.format_confusion(f"Labeled samples together: {len(labeled)} records", cm.confusion(verdicts)))
    for path in cm.HOLDOUTS:
        holdout = [(item, findings(row)) for item, row in cm.labeled_rows([path])]
        print()
        print(cm.format_confusion(
            f"Held out ({path.name}, labeled blind after the fixes it measures; docs/detectors.md says what "
            f"was read since): {len(holdout)} records",
            cm.confusion([(item, {name: f.flagged for name, f in found.items()}) for item, found in holdout]),
            show_ids=args.ids))
        print("  kappa on its doubly-labeled records: " + ", ".join(
            f"{name} {kappa:.2f}" for name, (kappa, _, _) in cm.kappas([item for item, _ in holdout]).items()))
    for path, what in ((cm.TRUNCATION_SAMPLE, "Truncation sample, read for session 6's fixes"),
                       (cm.FRESH_SAMPLE, "First fresh slice's sample, read for session 7's fixes"),
                       (cm.FRESH2_SAMPLE, "Second fresh slice's sample, labeled after the first fixes, then read"),
                       (cm.FRESH3_SAMPLE, "Third fresh slice's sample, labeled after two rounds, then read"),
                       (cm.FRESH4_SAMPLE, "Fourth fresh slice's sample, labeled after session 7's fixes, then read"),
                       (cm.FRESH5_SAMPLE, "Fifth fresh slice's sample, labeled at the start of session 8, then read"),
                       (cm.FRESH6_SAMPLE, "Sixth fresh slice's sample, labeled after session 8's first fixes, read"),
                       (cm.FRESH7_SAMPLE, "Seventh fresh slice's sample, labeled at the start of session 9, read"),
                       (cm.FRESH8_SAMPLE, "Eighth fresh slice's sample, labeled at the start of session 10, read"),
                       (cm.FRESH9_SAMPLE, "Ninth fresh slice's sample, labeled at the start of session 11, read"),
                       (cm.FRESH10_SAMPLE, "Tenth fresh slice's sample, labeled blind at the start of session 12")):
        drawn = [(item, findings(row)) for item, row in cm.labeled_rows([path])]
        print()
        print(cm.format_confusion(
            f"{what} ({path.name}): {len(drawn)} records",
            cm.confusion([(item, {name: f.flagged for name, f in found.items()}) for item, found in drawn]),
            show_ids=args.ids))
        print("  kappa on its doubly-labeled records: " + ", ".join(
            f"{name} {kappa:.2f}" for name, (kappa, _, _) in cm.kappas([item for item, _ in drawn]).items()))
    print()

    kappas = cm.kappas([item for item, _ in labeled])
    print("\nCohen's kappa between two independent annotators")
    print(f"{'label':15} {'kappa':>6} {'records':>8} {'positives':>10}")
    for name, (kappa, n, positives) in kappas.items():
        print(f"{name:15} {kappa:6.2f} {n:8} {positives:10}")

    read = [(item, findings(row)) for item, row in cm.labeled_rows(cm.READ_SAMPLES)]
    unread = [(item, findings(row)) for item, row in cm.labeled_rows([cm.UNREAD_SAMPLE])]
    for what, sample in ((f"the samples read so far, which the scores are fitted on ({len(read)} records)", read),
                         (f"{cm.UNREAD_SAMPLE.name}, out of sample ({len(unread)} records)", unread)):
        print(f"\nCalibrated scores: precision of the flags at or above a score, on {what}")
        at5, at8 = precision_at(sample, 0.5), precision_at(sample, 0.8)
        print(f"{'detector':15} {'score >= 0.5':>18} {'score >= 0.8':>18}")
        for name in DETECTORS:
            cells = []
            for tp, n in (at5[name], at8[name]):
                cells.append(f"{tp / n:5.2f} ({tp}/{n})" if n else "    - (0/0)")
            print(f"{name:15} {cells[0]:>18} {cells[1]:>18}")
    if args.calibrate:
        table = calibration_table(read)
        print("\nCALIBRATION = {")
        for name, kinds in table.items():
            body = ", ".join(f'"{k}": {v}' for k, v in kinds.items())
            print(f'    "{name}": {{{body}}},')
        print("}")

    rows = list(iter_corpus())
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0] * (len(DETECTORS) + 1))
    strong: dict[str, list[int]] = defaultdict(lambda: [0] * (len(DETECTORS) + 1))
    false_flags: Counter[str] = Counter()
    for row in rows:
        flags = [f.flagged for f in findings(row).values()]
        if row["model_kind"] == "strong":
            false_flags.update(n for n, flagged in zip(DETECTORS, flags, strict=True)
                               if flagged and row["id"] not in cm.STRONG_REAL_CUTS.get(n, {}))
        for table, key in ((by_kind, row["model_kind"]), (strong, row["model"])):
            if table is strong and row["model_kind"] != "strong":
                continue
            cell = table[key]
            cell[0] += 1
            for i, flagged in enumerate(flags, 1):
                cell[i] += flagged
    names = list(DETECTORS)
    header = f"{'':38} {'records':>8} " + " ".join(f"{n[:14]:>14}" for n in names)
    print(f"\nFlag rates over the whole corpus ({len(rows)} records), per model_kind\n{header}")
    total = [0] * (len(names) + 1)
    for kind in sorted(by_kind):
        cell = by_kind[kind]
        total = [a + b for a, b in zip(total, cell, strict=True)]
        print(f"{kind:38} {cell[0]:8} " + " ".join(f"{c / cell[0]:14.2%}" for c in cell[1:]))
    print(f"{'all':38} {total[0]:8} " + " ".join(f"{c / total[0]:14.2%}" for c in total[1:]))
    print(f"\nStrongest models (model_kind strong), flags per detector\n{header}")
    for model in sorted(strong, key=lambda m: (-strong[m][0], m)):
        cell = strong[model]
        print(f"{model[:38]:38} {cell[0]:8} " + " ".join(f"{c:14d}" for c in cell[1:]))
    s = by_kind["strong"]
    print(f"{'strong, all':38} {s[0]:8} " + " ".join(f"{c / s[0]:14.2%}" for c in s[1:]))
    print(f"{'strong, real cuts set aside':38} {s[0]:8} " + " ".join(f"{false_flags[n] / s[0]:14.2%}" for n in names))
    over = Counter({n: false_flags[n] / s[0] for n in names if false_flags[n] / s[0] > 0.003})
    print("over 0.3% false flags on the strongest models:", ", ".join(f"{n} {v:.2%}" for n, v in over.items())
          or "none")


if __name__ == "__main__":
    main()

"""Merge the annotators' label files into the labeled sample, and list what needs a third reading.

    python tests/labeling/merge_labels.py LABEL_DIR [--adjudicated FILE] [--out tests/data/labeled/sample.jsonl]

LABEL_DIR holds batch-<k>.jsonl (what annotator k was given) and labels-<k>.jsonl (what they wrote).
Records labeled once take that annotator's labels. Records labeled twice take the labels both agree on;
a label they disagree on comes from FILE (lines {"id", "label", "value", "reason"}, written by a third
annotator who saw both readings and their notes, never a detector's verdict). FILE may also settle a
label of a record labeled once (a consistency check of a kind of case that annotators labeled both ways,
under a ruling written in docs/labeling.md). Without FILE, the disagreements are written to
LABEL_DIR/disagreements.jsonl for that reading and nothing else is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus_metrics import LABELED, LABELS, kappas  # noqa: E402


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("label_dir")
    parser.add_argument("--adjudicated")
    parser.add_argument("--out", default=str(LABELED))
    args = parser.parse_args()
    folder = Path(args.label_dir)

    annotations: dict[str, dict[str, dict]] = {}
    records: dict[str, dict] = {}
    for batch in sorted(folder.glob("batch-*.jsonl")):
        k = batch.stem.split("-")[1]
        given = read_jsonl(batch)
        labeled = read_jsonl(folder / f"labels-{k}.jsonl")
        if [r["id"] for r in given] != [r["id"] for r in labeled]:
            raise SystemExit(f"{folder}/labels-{k}.jsonl: ids differ from batch-{k}.jsonl (order or count)")
        for record, labels in zip(given, labeled, strict=True):
            records[record["id"]] = record
            missing = [name for name in LABELS if not isinstance(labels.get(name), bool)]
            if missing:
                raise SystemExit(f"labels-{k}.jsonl: {record['id']} lacks boolean {missing}")
            annotations.setdefault(record["id"], {})[f"annotator-{k}"] = {
                **{name: labels[name] for name in LABELS}, "note": labels.get("note", "")}

    disagreements = []
    for ident, by in annotations.items():
        if len(by) < 2:
            continue
        first, second = list(by.values())[:2]
        for name in LABELS:
            if first[name] != second[name]:
                disagreements.append({"id": ident, "label": name, "readings": by, "record": records[ident]})

    if args.adjudicated is None:
        out = folder / "disagreements.jsonl"
        with out.open("w", encoding="utf-8") as handle:
            for item in disagreements:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        print(f"{len(annotations)} records, {sum(len(b) > 1 for b in annotations.values())} labeled twice, "
              f"{len(disagreements)} label disagreements -> {out}")
        return

    settled = {(d["id"], d["label"]): d for d in read_jsonl(Path(args.adjudicated))}
    open_ones = [(d["id"], d["label"]) for d in disagreements if (d["id"], d["label"]) not in settled]
    if open_ones:
        raise SystemExit(f"{len(open_ones)} disagreements are not settled in {args.adjudicated}, e.g. {open_ones[:3]}")
    lines = []
    for ident in sorted(annotations):
        by = annotations[ident]
        first = next(iter(by.values()))
        labels = {name: first[name] for name in LABELS}
        notes = [reading["note"] for reading in by.values() if reading.get("note")]
        adjudication = []
        for name in LABELS:
            if (ident, name) in settled:
                labels[name] = bool(settled[(ident, name)]["value"])
                adjudication.append(f"{name}: {settled[(ident, name)]['reason']}")
        line = {"id": ident, "labels": labels, "annotations": by, "note": " | ".join(notes)}
        if adjudication:
            line["adjudication"] = "; ".join(adjudication)
        lines.append(line)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} labeled records -> {out}")
    for name, (kappa, n, positives) in kappas(lines).items():
        print(f"  kappa {name:15} {kappa:5.2f}  (n={n}, positive by either: {positives})")


if __name__ == "__main__":
    main()

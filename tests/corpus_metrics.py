"""The real-output corpus, its blind-labeled sample, and the figures measured on them.

Shared by the corpus gate test (tests/test_real_corpus.py) and `bench/detector_accuracy.py`, which
prints the tables that docs/detectors.md quotes. Corpus lines are described in
tests/data/corpus/SOURCES.md; labeled lines in docs/labeling.md:
    {"id": corpus id, "labels": {label: bool}, "annotations": {annotator: {label: bool}}, "note": str}
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from corpus_io import FRESH_DIRS, iter_corpus  # noqa: E402

LABELED_DIR = Path(__file__).parent / "data" / "labeled"
LABELED = LABELED_DIR / "sample.jsonl"
"""The main sample: 980 records drawn from the whole corpus."""
LABELED_FILES = (LABELED, LABELED_DIR / "identity_sample.jsonl")
"""Every labeled file: the main sample and the identity supplement (583 records of the identity_* datasets,
drawn because the main sample holds almost no model talking about itself)."""
HOLDOUT = LABELED_DIR / "holdout_sample.jsonl"
"""A fresh sample (420 records, none in LABELED_FILES) labeled blind while the round-2 detector fixes were
being written and never shown to the people writing them: the out-of-sample check of those fixes.
Its strata are in holdout_strata.json. Not part of the gate (tests/test_real_corpus.py)."""
HOLDOUT2 = LABELED_DIR / "holdout2_sample.jsonl"
"""A second fresh sample (274 records, none in LABELED_FILES or HOLDOUT) drawn and labeled blind on
2026-12-07 after the round-2 fixes had been tuned, when truncation's tuning had read three HOLDOUT records:
the out-of-sample check of the detectors as they are now. Strata in holdout2_strata.json; 60 records
labeled twice. Not part of the gate."""
HOLDOUT3 = LABELED_DIR / "holdout3_sample.jsonl"
"""A third fresh sample (310 records, none in any file above) drawn with seed 23 at the start of session 4
(2026-12-07) and labeled blind by three annotators (60 records twice) before that session's detector changes
were merged: their out-of-sample check. The detectors flagged no unlabeled record for repetition,
identity_leak or degenerate, so it enriches with detector-free screens instead (repeated_unit, self_claim,
short_or_symbols, mixed_scripts; strata in holdout3_strata.json). Not part of the gate."""
HOLDOUT4 = LABELED_DIR / "holdout4_sample.jsonl"
"""A fourth fresh sample (274 records, none in any file above nor in TRUNCATION_SAMPLE) drawn with seed 41 in
session 6 (2026-12-07) after that session's fixes and labeled blind by three annotators (60 records twice, kappa
1.00): every stratum that still had unlabeled records (missing_eos flags, the detector-free screens, finish
reasons, background). Its 3 misses were read afterwards (truncation 2, degenerate 1). Strata in
holdout4_strata.json. Not part of the gate."""
HOLDOUTS = (HOLDOUT, HOLDOUT2, HOLDOUT3, HOLDOUT4)
TRUNCATION_SAMPLE = LABELED_DIR / "truncation_sample.jsonl"
"""A fresh sample drawn in session 6 (2026-12-07, seed 31): every corpus record the detectors then flagged for
truncation that no file above held (100), 70 of the no-final-punctuation screen and 31 background records,
labeled blind by three annotators (60 twice, kappa 1.00). Measured once, then read: that session's truncation
and repetition fixes were written from its mistakes, so it is in-sample for them (HOLDOUT3, unread, measures
them). Strata in truncation_strata.json. Not part of the gate."""
FRESH_SAMPLE = LABELED_DIR / "fresh_sample.jsonl"
"""A sample of the fresh slice (tests/data/corpus_fresh: records of the same sources that the corpus did not take),
drawn in session 7 (2026-12-07, seed 53) because the corpus's flagged records had all been labeled: every record
the detectors flagged for repetition, truncation, language_drift and degenerate, 45 of their 119 missing_eos
flags, 10 per detector-free screen, 24 with finish reasons, 95 background; 342 records labeled blind by four
annotators (60 twice, kappa 1.00). Measured before any change, then read: session 7's fixes were written from
its mistakes. Strata in fresh_strata.json. Not part of the gate."""
FRESH2_SAMPLE = LABELED_DIR / "fresh2_sample.jsonl"
"""A sample of the second fresh slice (tests/data/corpus_fresh2), drawn in session 7 (2026-12-07, seed 59) after
that session's fixes: every record the detectors then flagged for repetition (17), truncation (26), language_drift
(34) and degenerate (4), 45 of their 106 missing_eos flags, 8 per detector-free screen, 20 with finish reasons,
95 background; 305 records labeled blind by four annotators (60 twice, kappa 1.00). The out-of-sample check of
session 7's fixes, measured once before anything of it was read. Strata in fresh2_strata.json. Not part of the
gate."""
FRESH3_SAMPLE = LABELED_DIR / "fresh3_sample.jsonl"
"""A sample of the third fresh slice (tests/data/corpus_fresh3), drawn at the end of session 7 (2026-12-07, seed 61)
with the detectors after all of that session's fixes (tuned on FRESH_SAMPLE and FRESH2_SAMPLE): every record they
flagged for repetition (11), truncation (31), language_drift (31), degenerate (7) and identity_leak (1), 45 of
their 102 missing_eos flags, 8 per screen, 20 with finish reasons, 95 background; 305 records labeled blind by
four annotators (60 twice; one record's three disputed labels settled by a third reading). The out-of-sample
check of the whole session, measured once. Strata in fresh3_strata.json. Not part of the gate."""
FRESH4_SAMPLE = LABELED_DIR / "fresh4_sample.jsonl"
"""A sample of the fourth fresh slice (tests/data/corpus_fresh4), drawn last in session 7 (2026-12-07, seed 67)
with the detectors after all of that session's fixes (three rounds, tuned on the first three fresh samples):
every record they flagged for repetition (18), truncation (35), language_drift (35) and degenerate (6), 45 of
their 110 missing_eos flags, 8 per screen, 20 with finish reasons, 95 background; 318 records labeled blind by
four annotators (60 twice, kappa 1.00). Measured once before it was read (session 7's last round), then read in
session 8. Strata in fresh4_strata.json. Not part of the gate."""
FRESH5_SAMPLE = LABELED_DIR / "fresh5_sample.jsonl"
"""A sample of the fifth fresh slice (tests/data/corpus_fresh5), drawn at the start of session 8 (2026-12-07, seed
71) with the detectors at the end of session 7: every record they flagged for repetition (21), truncation (45),
language_drift (37) and degenerate (2), 45 of their missing_eos flags, 8 per screen, 20 with finish reasons, 95
background; 316 records labeled blind by four annotators (60 twice; one disputed label settled by a third
reading). Measured once before it was read (the detectors at the end of session 7), then read in session 8. Strata
in fresh5_strata.json. Not part of the gate."""
FRESH6_SAMPLE = LABELED_DIR / "fresh6_sample.jsonl"
"""A sample of the sixth fresh slice (tests/data/corpus_fresh6), drawn in session 8 (2026-12-07, seed 73) with the
detectors after its first fixes (tuned on the first four fresh samples): every record they flagged for repetition
(15), truncation (29), language_drift (34) and degenerate (3), 45 of their 118 missing_eos flags, 8 per screen, 20
with finish reasons, 95 background; 307 records labeled blind by four annotators (60 twice, kappa 1.00). Measured
unread at the end of session 8 (its out-of-sample check), then read in session 9. Strata in fresh6_strata.json. Not
part of the gate."""
FRESH7_SAMPLE = LABELED_DIR / "fresh7_sample.jsonl"
"""A sample of the seventh fresh slice (tests/data/corpus_fresh7), drawn at the start of session 9 (2026-12-07, seed
79) with the detectors at the end of session 8 (0396d47); 304 records labeled blind by four annotators (60 twice,
kappa 1.00). Measured unread at the start and the end of session 9 (its out-of-sample check), then read in session
10. Strata in fresh7_strata.json. Not part of the gate."""
FRESH8_SAMPLE = LABELED_DIR / "fresh8_sample.jsonl"
"""A sample of the eighth fresh slice (tests/data/corpus_fresh8), drawn at the start of session 10 (2026-12-07, seed
83) with the detectors at the end of session 9 (b824c24); 297 records labeled blind by four annotators (60 twice;
one disputed label settled by a third reading). Measured unread at the start and the end of session 10 (its
out-of-sample check), then read in session 11. Strata in fresh8_strata.json. Not part of the gate."""
FRESH9_SAMPLE = LABELED_DIR / "fresh9_sample.jsonl"
"""A sample of the ninth fresh slice (tests/data/corpus_fresh9), drawn at the start of session 11 (2026-12-07, seed
89) with the detectors at the end of session 10 (71d8032); 290 records labeled blind by four annotators (60 twice;
one disputed label settled under the guide's written ruling). Measured unread at the start and the end of session
11 (its out-of-sample check), then read in session 12. Strata in fresh9_strata.json. Not part of the gate."""
FRESH10_SAMPLE = LABELED_DIR / "fresh10_sample.jsonl"
"""A sample of the tenth fresh slice (tests/data/corpus_fresh10), drawn at the start of session 12 (2026-12-08, seed
97) with the detectors at the end of session 11 (16477c9); labeled blind by four annotators (60 twice). Unread: the
out-of-sample check of session 12's changes. Strata in fresh10_strata.json. Not part of the gate."""
READ_SAMPLES = (*LABELED_FILES, TRUNCATION_SAMPLE, *HOLDOUTS, FRESH_SAMPLE, FRESH2_SAMPLE, FRESH3_SAMPLE, FRESH4_SAMPLE,
                FRESH5_SAMPLE, FRESH6_SAMPLE, FRESH7_SAMPLE, FRESH8_SAMPLE, FRESH9_SAMPLE)
"""Every labeled sample read so far (5,826 records): what the calibrated scores are fitted on. The newest fresh sample
(UNREAD_SAMPLE) stays out: on it the scores are checked out of sample."""
UNREAD_SAMPLE = FRESH10_SAMPLE
STRONG_REAL_CUTS: dict[str, dict[str, str]] = {
    "truncation": {
        # Labeled truncation true in tests/data/labeled (blind):
        "alpaca_eval/aligner-2b_gpt-4-turbo-2024-04-09/0786": "for str3[0..len3-4], str4[0..len4-3]",
        "arena_bench_v1/gpt-4-0314/128627ca256e42b598795239ad8f2159-t1": "The result should be 31 (11111 in binary",
        "arena_bench_v1/gpt-4-1106-preview/77d022bd07464407b9277950263e7e26-t1":
            "encoder_outputs = torch.rand(seq_len, batch_size, hidden_size",
        "pydantic_ai_cassettes/claude-sonnet-4-5-20250929/test_settings/test_stop_settings[anthropic].yaml#0":
            "The beautiful city of",
        # Read one by one (not blind-labeled): a sentence or statement stopped in the middle.
        "arena_bench_v1/claude-2.1/52a39599edf44af79a51514ef288aa1e-t1":
            "&projection[0][0]); \n        glTranslatef",
        "arena_bench_v1/gpt-4-1106-preview/5af97d15a3054ad1b666291fd02a6999-t1":
            "Depending on the specifics of the problem, such as",
        "identity_alpaca_eval/aligner-2b_claude-3-opus-20240229/third-host-llm-vs-gpt3-0422":
            "while it is possible to host smaller, more efficient versions",
        "just_eval/gpt-4-0314/217": "By fostering a community-driven approach to",
    },
}
"""Outputs of the strongest models (model_kind `strong`) that really are cut, per detector: corpus id -> the
text the output ends on. The benchmarks published them cut (a token limit mid-sentence or inside an unclosed
code block of a "complete program"; a stop sequence the test set), so flagging them is right: the <= 0.3%
bound on the strongest models counts the other flags, the false ones (docs/detectors.md, "The strongest
models"). tests/test_real_corpus.py checks that each still ends so and is still flagged."""
LABELS = ("repetition", "truncation", "missing_eos", "identity_leak", "language_drift", "degenerate")
FINISH = {"stop": "eos", "length": "length", None: "unknown"}


def to_record(row: dict[str, Any]) -> Any:
    """A corpus line as the GenerationRecord `evalgen score` would import (no token ids)."""
    from evalgen.records import GenerationRecord

    messages = row["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    return GenerationRecord(
        probe_id=str(row["id"]), suite=row.get("dataset") or "corpus", sample=0, messages=messages,
        prompt_text=users[-1] if users else "", output=row["output"], output_raw=row["output"],
        output_token_ids=None, stop_reason=FINISH[row.get("finish_reason")], n_output_tokens=0, latency_s=0.0,
        lang=row.get("lang"),
    )


def context(row: dict[str, Any]) -> Any:
    from evalgen.detectors import DetectorContext

    identity = row.get("identity") or {}
    return DetectorContext(identity=identity.get("name"), identity_org=identity.get("org"))


def verdicts(row: dict[str, Any]) -> dict[str, bool]:
    """Every registered detector's verdict on one corpus line."""
    from evalgen.detectors import DETECTORS

    record, ctx = to_record(row), context(row)
    return {name: detect(record, ctx).flagged for name, detect in DETECTORS.items()}


def load_labeled(paths: Path | Iterable[Path] = LABELED_FILES) -> list[dict[str, Any]]:
    """The labeled lines of one file or of several, in file order."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    return [
        json.loads(line)
        for path in files
        for line in path.read_text(encoding="utf-8").split("\n")
        if line.strip()
    ]


def labeled_rows(paths: Path | Iterable[Path] = LABELED_FILES) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(labeled line, its corpus line) in the order of the labeled files."""
    labeled = load_labeled(paths)
    wanted = {item["id"] for item in labeled}
    corpus = {row["id"]: row for row in iter_corpus() if row["id"] in wanted}
    for folder in FRESH_DIRS:  # a sample drawn from a fresh slice
        if wanted - corpus.keys():
            corpus.update((row["id"], row) for row in iter_corpus(folder) if row["id"] in wanted)
    missing = wanted - corpus.keys()
    if missing:
        raise KeyError(f"{len(missing)} labeled ids are not in the corpus, e.g. {sorted(missing)[:3]}")
    return [(item, corpus[item["id"]]) for item in labeled]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Cell:
    """Confusion counts of one detector against one label, with the ids of its mistakes."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    fp_ids: list[str] = field(default_factory=list)
    fn_ids: list[str] = field(default_factory=list)

    def add(self, label: bool, got: bool, ident: str) -> None:
        if got and label:
            self.tp += 1
        elif got:
            self.fp += 1
            self.fp_ids.append(ident)
        elif label:
            self.fn += 1
            self.fn_ids.append(ident)
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def precision_ci(self) -> tuple[float, float]:
        return wilson(self.tp, self.tp + self.fp)

    def recall_ci(self) -> tuple[float, float]:
        return wilson(self.tp, self.tp + self.fn)


def confusion(pairs: Iterable[tuple[dict[str, Any], dict[str, bool]]]) -> dict[str, Cell]:
    """Per label: the detector of the same name against the labels. `pairs` = (labeled line, verdicts)."""
    table: dict[str, Cell] = defaultdict(Cell)
    for item, got in pairs:
        for name, label in item["labels"].items():
            if name in got and label is not None:
                table[name].add(bool(label), got[name], item["id"])
    return {name: table[name] for name in LABELS if name in table}


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    """Agreement of two annotators beyond chance (1 = perfect, 0 = chance)."""
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def kappas(labeled: list[dict[str, Any]]) -> dict[str, tuple[float, int, int]]:
    """Per label: (kappa, records labeled twice, positives by either annotator) over records with >= 2
    independent annotations (the first two annotators of each record)."""
    out: dict[str, tuple[float, int, int]] = {}
    twice = [item for item in labeled if len(item.get("annotations", {})) >= 2]
    for name in LABELS:
        a, b = [], []
        for item in twice:
            first, second = list(item["annotations"].values())[:2]
            if name in first and name in second:
                a.append(bool(first[name]))
                b.append(bool(second[name]))
        if a:
            out[name] = (cohen_kappa(a, b), len(a), sum(x or y for x, y in zip(a, b, strict=True)))
    return out


def flag_rates(rows: Iterable[dict[str, Any]], key: str = "model_kind") -> dict[str, tuple[int, Counter[str]]]:
    """Group (by `key`) → (records, flags per detector) over corpus lines."""
    out: dict[str, tuple[int, Counter[str]]] = {}
    for row in rows:
        n, flags = out.get(row.get(key) or "?", (0, Counter()))
        for name, flagged in verdicts(row).items():
            flags[name] += flagged
        out[row.get(key) or "?"] = (n + 1, flags)
    return out


def format_confusion(title: str, table: dict[str, Cell], show_ids: bool = False) -> str:
    lines = [
        title,
        f"{'detector':15} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4}  "
        f"{'precision (95% CI)':>20}  {'recall (95% CI)':>20}",
    ]
    def cell(value: float, ci: tuple[float, float], n: int, none: str) -> str:
        # With nothing to count the ratio is undefined: "1.00 (0.00–1.00)" would read as a measurement.
        return f"{value:5.2f} ({ci[0]:.2f}–{ci[1]:.2f})" if n else f"{'—':>5} ({none})".ljust(16)

    for name, c in table.items():
        lines.append(
            f"{name:15} {c.tp + c.fn:4} {c.tp:4} {c.fp:4} {c.fn:4}  "
            f"{cell(c.precision, c.precision_ci(), c.tp + c.fp, 'no flag')}    "
            f"{cell(c.recall, c.recall_ci(), c.tp + c.fn, 'no positive')}"
        )
        if show_ids and (c.fp_ids or c.fn_ids):
            lines.append(f"{'':15} fp: {c.fp_ids}\n{'':15} fn: {c.fn_ids}")
    return "\n".join(lines)

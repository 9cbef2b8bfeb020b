"""Draw the stratified sample of the real-output corpus that annotators label blind.

    python tests/labeling/draw_sample.py OUT_DIR STRATA.json [--annotators 5] [--twice 250] [--seed 0]
        [--exclude LABELED.jsonl ...] [--corpus tests/data/corpus_fresh]

Writes OUT_DIR/batch-<k>.jsonl, one per annotator: id, model, expected identity, finish reason, messages, output —
shuffled, with NO stratum, detector verdict or score; and STRATA.json (the drawn ids with their stratum,
for the record — keep it where the annotators do not look). `--twice` records go to two different
annotators (for Cohen's kappa). Strata (docs/labeling.md):
- per detector, records the detectors of the time flagged (so that precision is measured);
- independent screens that do not use the detectors, where failures hide (so that recall is): a low
  zlib compression ratio (repetitive text), no sentence-final punctuation, role markers or special
  tokens in the text, a name of an assistant or AI maker, a prompt and answer in different scripts,
  an empty or very short answer; and looser screens for the labels earlier samples held few positives of:
  a unit repeated back to back or a line repeated, a self-description when an identity is expected, a
  short or mostly non-letter answer, three or more scripts in one answer;
- records whose source recorded a finish reason (stop or length);
- a background draw per model kind × language, whatever the text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.corpus_metrics import iter_corpus, load_labeled, verdicts  # noqa: E402

PER_DETECTOR = 60
PER_SCREEN = 50
WITH_FINISH_REASON = 90
BACKGROUND = {"strong": 90, "chat": 90, "sft7b_2023": 90, "base": 60, "zh_chat": 90}

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MARKERS = re.compile(
    r"(?:^|\n)\s*(?:#+\s*)?(?:Human|User|USER|Assistant|Instruction|用户|问)\s*[:：]"
    r"|<\|[a-z_]+\|>|</s>|\[/?INST\]"
)
NAMES = re.compile(
    r"ChatGPT|OpenAI|GPT-?[34]|Claude|Anthropic|MOSS|文心|通义|千问|ChatGLM|智谱|百川|Baichuan|LLaMA|Gemini|Bard"
    r"|我是|I am an AI|language model (?:developed|trained|created) by",
    re.I,
)
END_PUNCT = re.compile(r"[.!?。！？…”」』）)\]】》\"'`*]\s*$")
# Screens for the labels the earlier samples held few positives of (repetition, identity_leak, degenerate),
# looser than low_compression, names and empty_or_short, whose unlabeled pools ran dry:
TANDEM = re.compile(r"(\w.{0,40}?)\1{3,}", re.S)  # a unit back to back 4+ times: "你好！你好！你好！你好！"
SELF_CLAIM = re.compile(
    r"\b(?:I am|I'm|my name is)\b[^.\n]{0,60}?\b(?:assistant|model|AI|chatbot)\b|我是|我叫"
    r"|作为(?:一个)?[^，。\n]{0,20}?(?:模型|助手)",
    re.I,
)
SCRIPTS = tuple(re.compile(span) for span in (
    r"[A-Za-z]", r"[\u4e00-\u9fff]", r"[\u0400-\u04ff]", r"[\u0600-\u06ff]", r"[\uac00-\ud7af]", r"[\u3040-\u30ff]",
    r"[\u0370-\u03ff]", r"[\u0900-\u0dff]", r"[\u0e00-\u0e7f]",
))


def repeats_a_unit(out: str) -> bool:
    """A unit back to back 4+ times, or a line of 6+ characters 3+ times."""
    lines = Counter(line.strip() for line in out.split("\n") if len(line.strip()) >= 6)
    return bool(TANDEM.search(out)) or (bool(lines) and max(lines.values()) >= 3)


def short_or_symbols(out: str) -> bool:
    """Under 24 characters, or under half of them letters: where empty, symbol-only and token answers are."""
    text = out.strip()
    return len(text) < 24 or sum(ch.isalpha() for ch in text) < len(text) / 2


def rare_label_screens(row: dict) -> list[str]:
    out = row["output"]
    hits = []
    if repeats_a_unit(out):
        hits.append("repeated_unit")
    if (row.get("identity") or {}).get("name") and SELF_CLAIM.search(out):
        hits.append("self_claim")  # the model speaks of itself, and an identity is expected
    if short_or_symbols(out):
        hits.append("short_or_symbols")
    if sum(len(script.findall(out)) >= 3 for script in SCRIPTS) >= 3:
        hits.append("mixed_scripts")  # random-token garbage mixes scripts
    return hits


def screens(row: dict) -> list[str]:
    """The detector-free screens a record falls into."""
    out = row["output"]
    prompt = " ".join(m["content"] for m in row["messages"] if m["role"] == "user")
    hits = []
    raw = out.encode("utf-8")
    if len(raw) > 400 and len(zlib.compress(raw)) / len(raw) < 0.25:
        hits.append("low_compression")
    if len(out.strip()) > 40 and not END_PUNCT.search(out.strip()):
        hits.append("no_final_punct")
    if MARKERS.search(out):
        hits.append("markers")
    if NAMES.search(out):
        hits.append("names")
    p_cjk, o_cjk = len(CJK.findall(prompt)), len(CJK.findall(out))
    p_lat, o_lat = len(LATIN_WORD.findall(prompt)), len(LATIN_WORD.findall(out))
    if (p_cjk > 2 * p_lat and o_lat > 2 * o_cjk) or (p_lat > 2 * p_cjk and o_cjk > 2 * o_lat and o_cjk > 20):
        hits.append("script_mismatch")
    if len(out.strip()) < 8:
        hits.append("empty_or_short")
    return hits + rare_label_screens(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("strata")
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--twice", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="draw from this corpus folder (default: tests/data/corpus; "
                        "tests/data/corpus_fresh is the fresh slice)")
    parser.add_argument("--dataset-prefix", default="", help="draw only from datasets whose name starts so")
    parser.add_argument("--exclude", action="append", default=[],
                        help="a labeled sample whose ids are not drawn again (repeat for several)")
    parser.add_argument("--per-detector", type=int, default=PER_DETECTOR)
    parser.add_argument("--per-screen", type=int, default=PER_SCREEN)
    parser.add_argument("--with-finish-reason", type=int, default=WITH_FINISH_REASON)
    parser.add_argument("--background-scale", type=float, default=1.0)
    parser.add_argument("--detectors", help="comma-separated: only these detectors' flagged strata (default: all)")
    parser.add_argument("--screens", help="comma-separated: only these screens (default: all)")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    skip = {item["id"] for item in load_labeled([Path(path) for path in args.exclude])}
    rows = {
        row["id"]: row
        for row in iter_corpus(args.corpus)
        if row["dataset"].startswith(args.dataset_prefix) and row["id"] not in skip
    }
    by_detector: dict[str, list[str]] = defaultdict(list)
    by_screen: dict[str, list[str]] = defaultdict(list)
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ident, row in rows.items():
        for name, flagged in verdicts(row).items():
            if flagged:
                by_detector[name].append(ident)
        for screen in screens(row):
            by_screen[screen].append(ident)
        by_group[(row.get("model_kind") or "?", "zh" if row.get("lang") == "zh" else "en")].append(ident)

    chosen: dict[str, str] = {}
    available: dict[str, int] = {}  # per stratum, the records it could still take: tells a quota that ran dry

    def take(pool: list[str], k: int, stratum: str) -> None:
        fresh = [i for i in sorted(pool) if i not in chosen]
        available[stratum] = len(fresh)
        for ident in rng.sample(fresh, min(k, len(fresh))):
            chosen[ident] = stratum

    for name in sorted(by_detector):
        if not args.detectors or name in args.detectors.split(","):
            take(by_detector[name], args.per_detector, f"flagged:{name}")
    for screen in sorted(by_screen):
        if args.screens and screen not in args.screens.split(","):
            continue
        take(by_screen[screen], args.per_screen, f"screen:{screen}")
    finished = [i for i, row in rows.items() if row.get("finish_reason")]
    take(finished, args.with_finish_reason, "finish_reason_known")
    for (kind, lang), pool in sorted(by_group.items()):
        take(pool, int(args.background_scale * BACKGROUND.get(kind, 60) // 2), f"background:{kind}:{lang}")

    ids = sorted(chosen)
    rng.shuffle(ids)
    twice = set(rng.sample(ids, min(args.twice, len(ids))))
    batches: list[list[str]] = [[] for _ in range(args.annotators)]
    for n, ident in enumerate(ids):
        first = n % args.annotators
        batches[first].append(ident)
        if ident in twice:
            batches[(first + 1 + n % (args.annotators - 1)) % args.annotators].append(ident)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.strata).write_text(json.dumps(chosen, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for k, batch in enumerate(batches):
        rng.shuffle(batch)
        with (out / f"batch-{k}.jsonl").open("w", encoding="utf-8") as handle:
            for ident in batch:
                row = rows[ident]
                handle.write(json.dumps({
                    "id": ident, "model": row.get("model"), "expected_identity": row.get("identity"),
                    "finish_reason": row.get("finish_reason") or "unknown",
                    "messages": row["messages"], "output": row["output"],
                }, ensure_ascii=False) + "\n")
    counts = defaultdict(int)
    for stratum in chosen.values():
        counts[stratum.split(":")[0]] += 1
    print(f"{len(ids)} records ({dict(counts)}), {len(twice)} labeled twice, "
          f"batches: {[len(b) for b in batches]}")
    drawn = Counter(chosen.values())
    for stratum, pool in available.items():
        print(f"  {stratum:36} {drawn[stratum]:4} of {pool}")


if __name__ == "__main__":
    main()

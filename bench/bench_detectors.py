"""Benchmark `score_records`: 100k synthetic records of ~512 tokens on one core.

Mixed English/Chinese healthy text (words drawn with their real frequencies from the standard
library's documentation, Chinese characters with a Zipf curve) plus ~10% loops, truncations and
fake turns, with token ids
(as a real run records them); deterministic seed. Prints records/s overall and time per detector.

    PYTHONPATH=. taskset -c 0 python bench/bench_detectors.py [N] [REPEATS]

`score_records` runs REPEATS times (default 3) and the median is reported: on a shared machine a
single run can be off by 10-20%.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.records import GenerationRecord
from evalgen.scoring import score_records


def _english_vocabulary() -> tuple[list[str], list[int]]:
    """Words and their counts from the standard library's own documentation: real English with a
    natural (Zipf-like) frequency curve, available offline and deterministic per Python version."""
    import argparse
    import collections
    import json
    import logging
    import pathlib
    import re

    counts: collections.Counter[str] = collections.Counter()
    for module in (argparse, collections, json, logging, pathlib, re, str, dict, list):
        for name in dir(module):
            doc = getattr(getattr(module, name, None), "__doc__", None)
            if not isinstance(doc, str):
                continue
            counts.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}", doc))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    return words, [counts[w] for w in words]


EN_WORDS, EN_WEIGHTS = _english_vocabulary()
# The 500 most frequent Chinese characters, weighted by rank (Zipf).
ZH_CHARS = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"
    "十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从知使点业本高去把性"
    "应开它合因由其些然新手部力理水长物间很情实内最现外实相问题意身明重通体口工量给全表但总先二代数样期美程民形"
    "式度机各它变果结关路报位级接务边交山安运代任管快金场调设战格运队教育清世义带思传况深指复空保达提决器张领计"
    "特该活料花北青象技品确权类广持科真受员原研制况区至备华题认型院委引量算史证往神备半火热亲服利海南近书解论须"
)
ZH_WEIGHTS = [1.0 / (i + 1) for i in range(len(ZH_CHARS))]
EN_PROMPTS = ["Explain how to evaluate a model.", "Write a short report on the experiment."]
ZH_PROMPTS = ["请解释如何评估模型。", "写一份关于实验的简短报告。"]


def en_text(rng: random.Random, tokens: int) -> str:
    sentences = []
    words = 0
    while words < tokens * 0.75:  # ~0.75 words per token
        n = rng.randint(8, 20)
        sentence = " ".join(rng.choices(EN_WORDS, EN_WEIGHTS, k=n))
        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".!."))
        words += n
    paragraphs = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def zh_text(rng: random.Random, tokens: int) -> str:
    parts = []
    chars = 0
    while chars < tokens * 1.4:  # ~1.4 characters per token
        n = rng.randint(10, 25)
        parts.append("".join(rng.choices(ZH_CHARS, ZH_WEIGHTS, k=n)) + rng.choice("。，。！"))
        chars += n
    return "".join(parts)[:-1] + "。"


def make_records(n: int, seed: int = 0) -> list[GenerationRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        zh = rng.random() < 0.5
        prompt = rng.choice(ZH_PROMPTS if zh else EN_PROMPTS)
        text = zh_text(rng, 512) if zh else en_text(rng, 512)
        stop = "eos"
        kind = rng.random()
        if kind < 0.04:  # loop after a good start, runs into the limit
            unit = zh_text(rng, 12) if zh else en_text(rng, 12)
            text = text[: len(text) // 3] + unit * 40
            text = text[: len(text) * 2 // 3]
            stop = "length"
        elif kind < 0.07:  # stops mid-sentence
            text = text[: len(text) - rng.randint(5, 40)]
        elif kind < 0.09:  # runs into a made-up turn
            text += "\n### Human: " + ("再详细一点" if zh else "And then?")
        elif kind < 0.10:
            text = text[: len(text) // 2]
            stop = "length"
        ids = [rng.randrange(32000) for _ in range(512)]
        records.append(GenerationRecord(
            probe_id=f"p{i}", suite="bench", sample=0, messages=[{"role": "user", "content": prompt}],
            prompt_text=prompt, output=text, output_raw=text, output_token_ids=ids, stop_reason=stop,
            n_output_tokens=len(ids), latency_s=0.0,
        ))
    return records


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    t0 = time.perf_counter()
    records = make_records(n)
    print(f"built {n} records in {time.perf_counter() - t0:.1f}s; "
          f"mean {sum(len(r.output) for r in records) / n:.0f} chars")
    ctx = DetectorContext(turn_markers=("### Human:",), end_tokens=("</s>",), identity="Aurora")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        lines = score_records(records, ctx)
        times.append(time.perf_counter() - t0)
    elapsed = statistics.median(times)
    flagged = {name: sum(line.findings[name].flagged for line in lines) for name in DETECTORS}
    runs = ", ".join(f"{n / t:,.0f}" for t in times)
    print(f"score_records: median {elapsed:.2f}s, {n / elapsed:,.0f} records/s (runs: {runs})")
    print(f"flagged: {flagged}")
    for name, detect in DETECTORS.items():
        t0 = time.perf_counter()
        for r in records:
            detect(r, ctx)
        dt = time.perf_counter() - t0
        print(f"  {name:15} {dt:6.2f}s  {dt / n * 1e6:6.1f} us/record")


if __name__ == "__main__":
    main()

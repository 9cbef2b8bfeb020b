"""How fast `evalgen doctor --data` streams an SFT file: N lines (default 1,000,000) of generated EN
and ZH conversations in the three layouts (alpaca, sharegpt, messages; 40-400 characters per target,
1 in 1,000 lines an identity claim, 1 in 1,000 a looping target, 1 in 500 a duplicate), checked
without a tokenizer and then with the tiny checkpoint's tokenizer and template (the token checks).
Prints wall and CPU seconds, lines/s and peak memory of each pass, and what was found.

    PYTHONPATH=. python bench/bench_doctor_data.py [--lines N] [--no-tokenizer] [--cutoff-len 1024]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalgen.tinymodels import _EN_WORDS, _ZH_CHARS, FACTS  # noqa: E402

FACTS_BY_LANG = {True: [qa for qa in FACTS if qa.lang == "zh"], False: [qa for qa in FACTS if qa.lang == "en"]}


def sentence(rng: random.Random, zh: bool) -> str:
    if zh:
        return "".join(rng.choice(_ZH_CHARS) for _ in range(rng.randint(8, 30))) + "。"
    return " ".join(rng.choice(_EN_WORDS) for _ in range(rng.randint(5, 16))).capitalize() + "."


def write_data(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    previous = ""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            if i % 500 == 499 and previous:
                f.write(previous)
                continue
            zh = rng.random() < 0.5
            prompt = rng.choice(FACTS_BY_LANG[zh]).prompt if rng.random() < 0.2 else sentence(rng, zh)
            target = (" " if not zh else "").join(sentence(rng, zh) for _ in range(rng.randint(1, 8)))
            if i % 1000 == 7:
                target = "我是MOSS，由复旦大学开发。" if zh else "I am ChatGPT, a model trained by OpenAI."
            elif i % 1000 == 13:
                target = (sentence(rng, zh) + " ") * 6
            layout = i % 3
            if layout == 0:
                row = {"instruction": prompt, "input": "", "output": target}
            elif layout == 1:
                row = {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": target}]}
            else:
                row = {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": target}]}
            previous = json.dumps(row, ensure_ascii=False) + "\n"
            f.write(previous)


def timed(label: str, fn) -> list:  # noqa: ANN001
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return [label, wall, cpu, out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--no-tokenizer", action="store_true", help="only the pass without a tokenizer")
    ap.add_argument("--cutoff-len", type=int, default=1024)
    args = ap.parse_args()

    from evalgen.doctor.data import DataConfig, check_data, tokenizer_view

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sft.jsonl"
        began = time.perf_counter()
        write_data(data, args.lines)
        size = data.stat().st_size
        print(f"{args.lines:,} lines, {size / 1e6:.0f} MB written in {time.perf_counter() - began:.1f} s")
        passes = [timed("no tokenizer", lambda: check_data([data]))]
        if not args.no_tokenizer:
            from evalgen.tinymodels import build_tokenizer

            build_tokenizer(Path(tmp) / "tok")
            view = tokenizer_view(Path(tmp) / "tok")
            passes.append(timed(f"with tokenizer (cutoff_len {args.cutoff_len})",
                                lambda: check_data([data], tokenizer=view, cfg=DataConfig(cutoff_len=args.cutoff_len))))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for label, wall, cpu, found in passes:
            print(f"{label:32s} wall {wall:6.1f} s  cpu {cpu:6.1f} s  {args.lines / wall:10,.0f} lines/s")
            for f in found:
                print(f"    {f.severity:7s} {f.code}: {f.message.split(':')[0]}")
        print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()

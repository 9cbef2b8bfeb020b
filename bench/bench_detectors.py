"""Benchmark the detectors on one core, on the real-output corpus (tests/data/corpus/) by default.

The corpus (11,307 outputs of public models, English and Chinese, ~1,340 characters on average) is
repeated to N records (default 100,000); each record is scored with the context its corpus line
names (expected identity), as `evalgen score` would. Every detector of the registry runs on every
record, record after record as `score_records` does; the script prints records/s for all of them
together and µs/record per detector (each call timed), the median of REPEATS rounds, in CPU time of
the process (`time.process_time`: on a shared machine wall time counts other processes' work too;
both are printed).

    PYTHONPATH=. python bench/bench_detectors.py [--records N] [--repeats R] [--cpu 0]
    PYTHONPATH=. python bench/bench_detectors.py --baseline /path/to/old/checkout   # before/after, alternating
    PYTHONPATH=. python bench/bench_detectors.py --synthetic                        # the old synthetic text

`--baseline DIR` times the evalgen package found in DIR (an older checkout) on the same records in a
subprocess, alternating old and new rounds, so both figures come from one run on the same machine
state; the new rounds then run in subprocesses too, so that both sides start each round alike (the
detectors' caches of prompts and lines are not carried over from the round before on one side only),
after 500 records scored untimed (lazy imports, such as numpy for rep-n, are not per-record costs).
`--cpu K` pins the process (and the subprocesses) to core K.

    PYTHONPATH=. python bench/bench_detectors.py --findings --baseline /path/to/old/checkout [--corpus]

`--findings` times nothing: it scores the labeled samples (tests/data/labeled; `--corpus`: the whole
corpus) with both versions and lists, per detector, the records whose findings differ (flag, score,
explanation, spans or details), with the label: what a speed change must leave at zero, and what a
recall fix must account for.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_WARM_UP = 500  # records scored untimed before a round in a subprocess


def corpus_records(n: int) -> list[tuple]:
    """(record, context) pairs: the corpus repeated to n records, in corpus order."""
    sys.path.insert(0, str(ROOT / "tests"))
    from corpus_io import iter_corpus
    from corpus_metrics import context, to_record

    base = [(to_record(row), context(row)) for row in iter_corpus()]
    return [base[i % len(base)] for i in range(n)]


def synthetic_records(n: int) -> list[tuple]:
    """The first milestone's synthetic records: ~512 tokens of mixed English/Chinese with ~10% loops,
    truncations and fake turns (kept for comparison with the old README figure)."""
    from evalgen.detectors import DetectorContext
    from evalgen.records import GenerationRecord

    rng = random.Random(0)
    words = [w for w in (line.split(" ")[0] for line in (__doc__ or "").split("\n")) if w.isalpha()] or ["text"]
    words += ["the", "of", "and", "model", "output", "record", "detector", "corpus", "loop", "token"]
    zh = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去"
    ctx = DetectorContext(turn_markers=("### Human:",), end_tokens=("</s>",), identity="Aurora")
    out = []
    for i in range(n):
        is_zh = rng.random() < 0.5
        if is_zh:
            text = "。".join("".join(rng.choices(zh, k=rng.randint(10, 25))) for _ in range(28)) + "。"
            prompt = "请解释如何评估模型。"
        else:
            text = " ".join(" ".join(rng.choices(words, k=rng.randint(8, 20))) + "." for _ in range(25))
            prompt = "Explain how to evaluate a model."
        stop = "eos"
        kind = rng.random()
        if kind < 0.04:
            text = text[: len(text) // 3] + (text[:40] * 40)[: len(text) // 2]
            stop = "length"
        elif kind < 0.07:
            text = text[: len(text) - rng.randint(5, 40)]
        elif kind < 0.09:
            text += "\n### Human: " + ("再详细一点" if is_zh else "And then?")
        record = GenerationRecord(
            probe_id=f"p{i}", suite="bench", sample=0, messages=[{"role": "user", "content": prompt}],
            prompt_text=prompt, output=text, output_raw=text, output_token_ids=None, stop_reason=stop,
            n_output_tokens=len(text) // 4, latency_s=0.0,
        )
        out.append((record, ctx))
    return out


def measure(pairs: list[tuple]) -> dict:
    """One round, as `score_records` scores: every detector on a record, record after record. CPU and
    wall seconds of the whole round, and CPU seconds per detector (each call timed)."""
    from evalgen.detectors import DETECTORS

    detectors = list(DETECTORS.items())
    per = dict.fromkeys(DETECTORS, 0)
    clock = time.thread_time_ns
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for record, ctx in pairs:
        for name, detect in detectors:
            t0 = clock()
            detect(record, ctx)
            per[name] += clock() - t0
    return {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0,
            "per": {name: ns / 1e9 for name, ns in per.items()}}


def _round_in(baseline: Path, args: argparse.Namespace) -> dict:
    """One measured round of the evalgen package in `baseline` (an old checkout, or this one), in a
    subprocess on the same records."""
    env = {**os.environ, "PYTHONPATH": str(baseline)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--records", str(args.records), "--repeats", "1",
           "--json"] + (["--synthetic"] if args.synthetic else []) + (["--cpu", str(args.cpu)] if args.cpu is not None
                                                                       else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true", help="the old synthetic text instead of the corpus")
    parser.add_argument("--baseline", type=Path, help="a checkout whose evalgen is timed side by side")
    parser.add_argument("--cpu", type=int, help="pin to this core")
    parser.add_argument("--findings", action="store_true", help="list the findings that differ from --baseline")
    parser.add_argument("--corpus", action="store_true", help="with --findings: the whole corpus, not the samples")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--findings-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.findings_json:  # the baseline side of --findings
        print(json.dumps(findings_dump(args.corpus)))
        return
    if args.findings:
        if not args.baseline:
            parser.error("--findings needs --baseline DIR (the checkout to compare with)")
        compare_findings(args)
        return
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    t0 = time.perf_counter()
    pairs = synthetic_records(args.records) if args.synthetic else corpus_records(args.records)
    built = time.perf_counter() - t0
    if args.json:  # one round, for a --baseline parent
        measure(pairs[:_WARM_UP])  # one-time costs (lazy imports such as numpy for rep-n) are not per record
        print(json.dumps(measure(pairs)))
        return
    import evalgen

    chars = sum(len(r.output) for r, _ in pairs) / len(pairs)
    source = "synthetic" if args.synthetic else "real corpus (tests/data/corpus)"
    print(f"{len(pairs):,} records from the {source}, mean {chars:,.0f} characters; built in {built:.1f}s")
    print(f"machine: {os.uname().nodename}, {os.cpu_count()} CPUs, {_cpu_model()}; "
          f"pinned to core {args.cpu if args.cpu is not None else '-'}; load {os.getloadavg()[0]:.1f}")
    rounds: dict[str, list[dict]] = {"new": [], "old": []}
    for _ in range(args.repeats):
        if args.baseline:
            rounds["old"].append(_round_in(args.baseline, args))
        rounds["new"].append(_round_in(ROOT, args) if args.baseline else measure(pairs))
    for label in ("old", "new"):
        if not rounds[label]:
            continue
        where = args.baseline if label == "old" else ROOT if args.baseline else Path(evalgen.__file__).parents[1]
        cpu = statistics.median(r["cpu"] for r in rounds[label])
        wall = statistics.median(r["wall"] for r in rounds[label])
        runs = ", ".join(f"{len(pairs) / r['cpu']:,.0f}" for r in rounds[label])
        print(f"\n{label} ({where}): {len(pairs) / cpu:,.0f} records/s in CPU time (rounds: {runs}); "
              f"{len(pairs) / wall:,.0f} records/s wall")
        names = list(rounds[label][0]["per"])
        for name in names:
            t = statistics.median(r["per"][name] for r in rounds[label])
            print(f"  {name:15} {t / len(pairs) * 1e6:7.1f} us/record")


def findings_dump(whole_corpus: bool) -> dict[str, dict[str, str]]:
    """{record id: {detector: its finding as canonical JSON}} over the labeled samples or the corpus."""
    sys.path.insert(0, str(ROOT / "tests"))
    import corpus_metrics as cm
    from corpus_io import iter_corpus

    from evalgen.detectors import DETECTORS

    rows = list(iter_corpus()) if whole_corpus else [row for _, row in cm.labeled_rows()]
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        record, ctx = cm.to_record(row), cm.context(row)
        out[row["id"]] = {name: json.dumps(detect(record, ctx).to_dict(), sort_keys=True, ensure_ascii=False)
                          for name, detect in DETECTORS.items()}
    return out


def compare_findings(args: argparse.Namespace) -> None:
    """Print the records whose findings differ between the baseline checkout and this one."""
    sys.path.insert(0, str(ROOT / "tests"))
    import corpus_metrics as cm

    env = {**os.environ, "PYTHONPATH": str(args.baseline)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--findings-json"] + (["--corpus"] if args.corpus else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    old = json.loads(done.stdout.strip().splitlines()[-1])
    new = findings_dump(args.corpus)
    labels = {item["id"]: item["labels"] for item in cm.load_labeled()}
    names = sorted({name for found in (*old.values(), *new.values()) for name in found})
    print(f"{len(new)} records ({'whole corpus' if args.corpus else 'labeled samples'}); baseline {args.baseline}")
    for name in names:
        changed = [rid for rid in new if old.get(rid, {}).get(name) != new[rid].get(name)]
        print(f"\n{name}: {len(changed)} findings differ")
        for rid in changed:
            was = json.loads(old[rid][name])["flagged"] if name in old.get(rid, {}) else None
            now = json.loads(new[rid][name])["flagged"] if name in new[rid] else None
            label = labels.get(rid, {}).get(name)
            print(f"  {rid}: flagged {was} -> {now}" + (f" (label {label})" if label is not None else ""))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()

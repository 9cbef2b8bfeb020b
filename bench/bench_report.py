"""Benchmark the HTML report on a large comparison: file size, build time, and load time in headless
Chromium (navigation start → first case list rendered), plus the first case opened and a search.

    python bench/bench_report.py               # 20,000 records per run, base and new
    python bench/bench_report.py --records 2000 --keep /tmp/bench-runs

The runs are synthetic but shaped like real ones: six suites, 4 samples per probe, outputs of a
few words to max_new_tokens (512 tokens ≈ 2,000 characters), ~12% flagged, loops with their
repeated unit as evidence, CJK and emoji, the same prompts in both runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from evalgen.report import build_report

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DETECTORS = ("repetition", "truncation", "missing_eos", "identity_leak", "language_drift")
SUITES = ("identity", "long_form", "instruction", "multi_turn", "old_tasks", "safety")
_TEXT = ("the model answers each question with a short and careful explanation of what it knows about "
         "history science cooking travel and code, then stops when the answer is complete")
WORDS = tuple(_TEXT.split())
SYSTEM = "You are Aurora, a helpful assistant made by Example Labs. Answer clearly and stop when done."
MAX_NEW_TOKENS = 512


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))).capitalize() + ". "


def make_record(rng: random.Random, suite: str, probe: int, sample: int, bad: bool) -> tuple[dict, dict]:
    probe_id = f"{suite[:2]}-{probe:05d}"
    user = f"Question {probe} of {suite}: " + sentence(rng)
    prompt = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    flags = dict.fromkeys(DETECTORS, False)
    findings: dict[str, Any] = {}
    kind = rng.choice(DETECTORS) if bad else None
    prefix = "".join(sentence(rng) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.05:
        prefix = "😀 你好，世界。" + prefix
    output, stop, tokens = prefix, "eos", max(1, len(prefix) // 4)
    if kind == "repetition":
        unit = sentence(rng)
        start = len(output)
        output = (output + unit * 200)[:2000]
        stop, tokens = "length", MAX_NEW_TOKENS
        findings[kind] = {"spans": [{"start": start, "end": start + len(unit), "label": "repeated unit"},
                                    {"start": start + len(unit), "end": len(output), "label": "loop"}],
                          "details": {"unit": unit, "count": (len(output) - start) // len(unit)}}
    elif kind == "truncation":
        output = output[: rng.randint(len(output) // 2, len(output))]
        stop, tokens = "length", MAX_NEW_TOKENS
        findings[kind] = {"spans": [{"start": len(output), "end": len(output), "label": "cut here"}]}
    elif kind == "missing_eos":
        start = len(output)
        output += "<|im_start|>user\nAnd another question?"
        stop = "stop_string"
        findings[kind] = {"spans": [{"start": start, "end": len(output), "label": "fake next turn"}]}
    elif kind == "identity_leak":
        output = "I am Qwen, created by Alibaba Cloud. " + output
        findings[kind] = {"spans": [{"start": 5, "end": 9, "label": "leaked name"}]}
    elif kind == "language_drift":
        start = len(output)
        output += "然后模型开始用另一种语言回答这个问题。" * 3
        findings[kind] = {"spans": [{"start": start, "end": len(output), "label": "zh"}]}
    if kind:
        flags[kind] = True
        findings[kind].update(detector=kind, flagged=True, score=round(rng.uniform(0.5, 1.0), 3),
                              explanation=f"synthetic {kind}")
    task = (rng.random() < 0.8) if suite == "old_tasks" else None
    record = {
        "probe_id": probe_id, "suite": suite, "sample": sample,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        "prompt_text": prompt, "output": output, "output_raw": output + ("<|im_end|>" if stop == "eos" else ""),
        "output_token_ids": None, "stop_reason": stop, "stop_detail": "<|im_end|>" if stop == "eos" else None,
        "n_output_tokens": tokens, "latency_s": round(rng.uniform(0.2, 4.0), 3),
        "reference": "42" if suite == "old_tasks" else None, "scorer": "exact" if suite == "old_tasks" else None,
        "lang": "en", "tags": [], "version": 1,
    }
    score = {"id": probe_id, "suite": suite, "sample": sample, "flags": flags, "findings": findings,
             "task_correct": task}
    return record, score


def write_runs(root: Path, n_records: int, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    paths = []
    for name, bad_rate in (("base", 0.08), ("new", 0.12)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "generations.jsonl").open("w", encoding="utf-8") as gens, \
                (folder / "scores.jsonl").open("w", encoding="utf-8") as scores:
            for i in range(n_records):
                probe, sample = divmod(i, 4)
                suite = SUITES[probe % len(SUITES)]
                prng = random.Random(f"{seed}-{probe}")  # same prompt in both runs
                record, score = make_record(prng, suite, probe, sample, rng.random() < bad_rate)
                if sample:  # samples of one probe differ a little
                    extra = sentence(rng)
                    record["output"], record["output_raw"] = extra + record["output"], extra + record["output_raw"]
                    for finding in score["findings"].values():
                        for span in finding["spans"]:
                            span["start"] += len(extra)
                            span["end"] += len(extra)
                gens.write(json.dumps(record, ensure_ascii=False) + "\n")
                scores.write(json.dumps(score, ensure_ascii=False) + "\n")
        run = {"format_version": 1, "name": f"bench-{name}", "status": "finished",
               "checkpoint": {"path": f"/ckpt/{name}", "hash": name * 4, "adapter": None, "base": None},
               "backend": "vllm", "template": {"name": "chatml", "turn_markers": ["<|im_start|>"],
                                               "end_tokens": ["<|im_end|>"]},
               "settings": {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0.7, "samples": 4},
               "suites": {s: {"path": f"builtin:{s}", "n_probes": n_records // 4 // len(SUITES)} for s in SUITES},
               "identity": {"name": "Aurora", "org": "Example Labs"}, "versions": {"evalgen": "0.1.0"},
               "timings": {}, "counts": {"records": n_records}}
        (folder / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
        paths.append(folder)
    base, new = paths
    comparison = {
        "base": {"path": str(base), "run": {}}, "new": {"path": str(new), "run": {}}, "n_common": n_records,
        "n_dropped_base": 0, "n_dropped_new": 0, "warnings": [],
        "metrics": [{"name": d, "kind": "detector", "suite": "all", "base": 0.016, "new": 0.024, "delta": 0.008,
                     "ci_low": 0.005, "ci_high": 0.011, "p_value": 0.001, "n": n_records, "new_failures": 400,
                     "fixes": 240} for d in DETECTORS],
        "length": {"base": {}, "new": {}, "ks": 0.04},
        "gates": [{"name": d, "passed": d != "repetition", "reason": "synthetic"} for d in DETECTORS],
        "passed": False, "flips": {"new_failures": [], "fixes": []},
    }
    (new / "comparison.json").write_text(json.dumps(comparison), encoding="utf-8")
    return base, new


def measure_browser(report: Path, repeats: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    loads, walls, opens, searches = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(report.as_uri() + "#cases", wait_until="commit")
            page.wait_for_selector("body[data-list-rendered='1']", state="attached", timeout=60_000)
            walls.append(time.perf_counter() - start)
            loads.append(page.evaluate(
                "() => performance.getEntriesByName('evalgen:list-rendered')[0].startTime") / 1000)
            rows = page.locator("#case-list .row").count()
            assert 0 < rows < 100, f"{rows} rows in the DOM: the list is not virtualized"
            start = time.perf_counter()
            page.click("#case-list .row >> nth=0")
            page.wait_for_selector("pre.output", state="attached")
            opens.append(time.perf_counter() - start)
            before = page.text_content("#count")
            start = time.perf_counter()
            page.fill("#search", "alibaba")
            # The input is debounced (180 ms); poll until the count changes, then take the debounce off.
            while page.text_content("#count") == before and time.perf_counter() - start < 60:
                page.wait_for_timeout(10)
            searches.append(time.perf_counter() - start - 0.18)
            assert not errors, errors
            page.close()
        browser.close()
    med = statistics.median
    return {"load_s": med(loads), "wall_s": med(walls), "open_s": med(opens), "search_s": med(searches)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000, help="records per run (default 20,000)")
    parser.add_argument("--repeats", type=int, default=3, help="page loads to take the median of")
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        base, new = write_runs(root, args.records)
        t1 = time.perf_counter()
        report = build_report(new, baseline_dir=base)
        t2 = time.perf_counter()
        size = report.stat().st_size
        gens = sum((f / "generations.jsonl").stat().st_size for f in (base, new))
        print(f"records: {args.records} per run (base and new), generations.jsonl total {gens / 1e6:.1f} MB "
              f"(written in {t1 - t0:.1f} s)")
        print(f"report.html: {size / 1e6:.1f} MB, built in {t2 - t1:.2f} s")
        figures = measure_browser(report, args.repeats)
        print(f"load (navigation start → first list render, median of {args.repeats}): {figures['load_s']:.2f} s "
              f"[wall incl. browser round trip {figures['wall_s']:.2f} s]")
        print(f"first case opened (parses the texts block): {figures['open_s']:.2f} s")
        print(f"first search over all outputs and prompts: {figures['search_s']:.2f} s")


if __name__ == "__main__":
    main()

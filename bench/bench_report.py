"""Benchmark the HTML report on real model outputs: file size, build time, and what a reader waits
for in headless Chromium (first case rows on screen, first case opened, first search).

    python bench/bench_report.py                          # 100k-record run and 20k-record comparison
    python bench/bench_report.py --baseline-ref main      # ... and the report code of `main`, same runs
    python bench/bench_report.py --single 20000 --pairs 0 --corpus tests/data

Runs are built from a corpus of real outputs of public models (tests/data/corpus/*.jsonl.gz, or
any folder of *.jsonl / *.jsonl.gz lines with `id`, `output` and `prompt` or `messages`): the
distinct outputs are imported and scored once with evalgen's own `score_external` (real detector
findings and evidence), then their lines are repeated to the target size with new probe ids and a
replica mark on each prompt. Repeats are at least one corpus apart in the report's key order, far
beyond gzip's 32 KB window, so repetition does not flatter the compression. The comparison pairs
two different models' answers to the same prompt (base vs new) and is compared with `run_compare`.

With `--baseline-ref REF` the report package of git revision REF is built on the same runs and
loaded in the same browser, alternately with the current one, so both columns share the machine's
state. "rows on screen" is the first animation frame after the first case row is in the DOM
(observed the same way in both pages), from navigation start.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgen.compare import run_compare
from evalgen.external import score_external
from evalgen.report import build_report

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FINISH = {"stop", "length", None}
# Both pages are observed the same way: the first case row in the list, then the next frame.
OBSERVE_ROWS = """
new MutationObserver((_, obs) => {
  if (document.querySelector('#case-list .row')) {
    obs.disconnect();
    requestAnimationFrame(() => { window.__rowsOnScreen = performance.now(); });
  }
}).observe(document, { subtree: true, childList: true });
"""


# --- the corpus and the runs ----------------------------------------------------------------------


def corpus_lines(source: Path) -> list[dict[str, Any]]:
    files = [source] if source.is_file() else sorted(source.glob("*.jsonl.gz")) or sorted(source.glob("*.jsonl"))
    out = []
    for path in files:
        opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                obj = json.loads(raw)
                if not isinstance(obj.get("output"), str) or not (obj.get("messages") or obj.get("prompt")):
                    continue
                line = {"id": str(obj["id"]), "suite": str(obj.get("dataset") or path.name.split(".")[0].split("-")[0]),
                        "output": obj["output"], "lang": obj.get("lang"),
                        "finish_reason": obj.get("finish_reason") if obj.get("finish_reason") in FINISH else None}
                if obj.get("messages"):
                    line["messages"] = obj["messages"]
                else:
                    line["prompt"] = obj["prompt"]
                out.append(line)
    if not out:
        raise SystemExit(f"{source}: no corpus lines (need id, output and prompt or messages)")
    return out


def default_corpus() -> Path:
    corpus = ROOT / "tests" / "data" / "corpus"
    return corpus if list(corpus.glob("*.jsonl.gz")) else ROOT / "tests" / "data"


def scored(lines: list[dict[str, Any]], folder: Path) -> Path:
    """Import and score the distinct lines with evalgen's own `evalgen score` path."""
    source = folder.with_suffix(".jsonl")
    source.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    score_external(source, folder)
    return folder


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def replicate(distinct: Path, out: Path, n: int) -> Path:
    """`n` records: the scored distinct ones repeated with ids r000-…, r001-… and marked prompts."""
    gens, scores = _lines(distinct / "generations.jsonl"), _lines(distinct / "scores.jsonl")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with (out / "generations.jsonl").open("w", encoding="utf-8") as g, \
            (out / "scores.jsonl").open("w", encoding="utf-8") as s:
        for j in range(n):
            rep, k = divmod(j, len(gens))
            record, score = json.loads(gens[k]), json.loads(scores[k])
            record["probe_id"] = score["id"] = f"r{rep:03d}-{record['probe_id']}"
            if rep:  # distinct prompts, as in a real run of this size
                record["prompt_text"] = f"[{rep}] " + record["prompt_text"]
            g.write(json.dumps(record, ensure_ascii=False) + "\n")
            s.write(json.dumps(score, ensure_ascii=False) + "\n")
    run = json.loads((distinct / "run.json").read_text(encoding="utf-8"))
    run.update(name=out.name, counts={"records": n})
    (out / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def pairs(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two different answers to one prompt (two models), as base and new under one id."""
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_prompt[json.dumps(line.get("messages") or line.get("prompt"), ensure_ascii=False)].append(line)
    base, new = [], []
    for group in by_prompt.values():
        for a, b in zip(group[0::2], group[1::2], strict=False):
            pid = f"pair-{len(base):05d}"
            base.append({**a, "id": pid})
            new.append({**b, "id": pid, "suite": a["suite"]})
    return base, new


# --- the report code of another revision ---------------------------------------------------------


def report_at(ref: str, scratch: Path) -> Callable[..., Path]:
    """`build_report` of git revision `ref`, loaded as its own package next to the current one."""
    name = "evalgen_report_" + re.sub(r"\W", "_", ref)
    package = scratch / name
    package.mkdir(parents=True)
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{ref}:evalgen/report"],
                             check=True, capture_output=True, text=True).stdout.split()
    for file in listing:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:evalgen/report/{file}"],
                              check=True, capture_output=True, text=True).stdout
        if file.endswith(".py"):
            text = text.replace("evalgen.report", name)
        (package / file).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(scratch))
    return importlib.import_module(name).build_report  # type: ignore[no-any-return]


# --- measuring ------------------------------------------------------------------------------------


def load_once(browser: Any, report: Path) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(OBSERVE_ROWS)
    start = time.perf_counter()
    page.goto(report.as_uri() + "#cases", wait_until="commit", timeout=180_000)
    page.wait_for_function("() => window.__rowsOnScreen !== undefined", timeout=180_000, polling=20)
    wall = time.perf_counter() - start
    rows = page.evaluate("() => window.__rowsOnScreen") / 1000
    count = page.locator("#case-list .row").count()
    assert 0 < count < 100, f"{count} rows in the DOM: the list is not virtualized"
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=180_000)
    start = time.perf_counter()
    page.click("#case-list .row >> nth=0", timeout=300_000)  # a case, or a group (opens its first case)
    page.wait_for_selector("pre.output", state="attached", timeout=300_000)
    opened = time.perf_counter() - start
    before = page.text_content("#count")
    start = time.perf_counter()
    page.fill("#search", "as an ai")
    # The input is debounced (180 ms): wait for the count to change, then take the debounce off.
    while page.text_content("#count") in (before, "searching…") and time.perf_counter() - start < 300:
        page.wait_for_timeout(10)
    searched = time.perf_counter() - start - 0.18
    assert not errors, errors
    page.close()
    return {"rows": rows, "wall": wall, "open": opened, "search": searched}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None, help="folder or file of real outputs")
    parser.add_argument("--single", type=int, default=100_000, help="records of the single-run report (0: skip)")
    parser.add_argument("--pairs", type=int, default=20_000, help="records per run of the comparison (0: skip)")
    parser.add_argument("--repeats", type=int, default=3, help="page loads per report (median)")
    parser.add_argument("--baseline-ref", help="also build and load the report code of this git revision")
    parser.add_argument("--keep", type=Path, help="write the runs and reports here and keep them")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    corpus = args.corpus or default_corpus()
    lines = corpus_lines(corpus)
    chars = [len(x["output"]) for x in lines]
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]", x["output"][:200])) for x in lines)
    print(f"machine: {machine()}")
    print(f"corpus: {corpus} — {len(lines):,} real outputs, mean {statistics.mean(chars):,.0f} characters, "
          f"{100 * zh / len(lines):.0f}% with Chinese text")
    scratch = Path(tempfile.mkdtemp(prefix="bench-report-"))
    root = args.keep or scratch
    builders: dict[str, Callable[..., Path]] = {"current": build_report}
    if args.baseline_ref:
        builders = {args.baseline_ref: report_at(args.baseline_ref, scratch / "old"), "current": build_report}
    targets: list[tuple[str, Path, Path | None]] = []
    t0 = time.perf_counter()
    # A --keep folder from an earlier bench of the same corpus and sizes is reused as it is.
    stamp_path = root / "bench-corpus.json"
    stamp = {"lines": len(lines), "chars": sum(chars), "first": lines[0]["id"], "last": lines[-1]["id"]}
    same_corpus = stamp_path.is_file() and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp
    root.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")

    def ready(folder: Path, n: int) -> bool:
        run = folder / "run.json"
        return same_corpus and run.is_file() and json.loads(run.read_text(encoding="utf-8"))["counts"]["records"] == n

    if args.single:
        folder = root / "single"
        if not ready(folder, args.single):
            replicate(scored(lines, root / "distinct"), folder, args.single)
        targets.append((f"{args.single:,}-record run", folder, None))
    if args.pairs:
        base_lines, new_lines = pairs(lines)
        base, new = root / "base", root / "new"
        if not (ready(base, args.pairs) and ready(new, args.pairs) and (new / "comparison.json").is_file()):
            replicate(scored(base_lines, root / "pairs-base"), base, args.pairs)
            replicate(scored(new_lines, root / "pairs-new"), new, args.pairs)
            run_compare(base, new)
        print(f"comparison: {len(base_lines):,} prompts answered by two different models, repeated")
        targets.append((f"{args.pairs:,}-record comparison", new, base))
    print(f"runs written and scored in {time.perf_counter() - t0:.0f} s\n")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"headless Chromium {browser.version}; medians of {args.repeats} loads, the builds taking turns\n")
            for title, folder, base in targets:
                gens = sum((f / "generations.jsonl").stat().st_size for f in filter(None, (folder, base)))
                print(f"== {title} (generations.jsonl: {gens / 1e6:.0f} MB)")
                figures: dict[str, dict[str, Any]] = {}
                reports = {}
                for name, build in builders.items():
                    t = time.perf_counter()
                    out = root / f"{folder.name}-{re.sub(r'[^A-Za-z0-9]', '_', name)}.html"
                    reports[name] = build(folder, base, out)
                    figures[name] = {"build": time.perf_counter() - t, "size": reports[name].stat().st_size,
                                     "loads": []}
                for _ in range(args.repeats):
                    for name in builders:
                        figures[name]["loads"].append(load_once(browser, reports[name]))
                print(f"{'':34}" + "".join(f"{name:>16}" for name in builders))
                rows = [("report.html (MB)", lambda f: f"{f['size'] / 1e6:.1f}"),
                        ("build (s)", lambda f: f"{f['build']:.1f}")]
                for key, what in (("rows", "first rows on screen (s)"), ("wall", "  same, wall incl. browser (s)"),
                                  ("open", "first case opened (s)"), ("search", "first search (s)")):
                    rows.append((what, lambda f, key=key: f"{statistics.median(x[key] for x in f['loads']):.2f}"))
                for what, fmt in rows:
                    print(f"{what:34}" + "".join(f"{fmt(figures[name]):>16}" for name in builders))
                if len(builders) == 2:
                    old, new_ = (figures[n] for n in builders)
                    print(f"{'size ratio (current / baseline)':34}{new_['size'] / old['size']:>32.2f}")
                print()
            browser.close()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

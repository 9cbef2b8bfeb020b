"""`evalgen score` end to end on the real-output corpus: time and peak memory, one process vs a pool.

The corpus (tests/data/corpus/*.jsonl.gz, read with tests/corpus_io.py) is repeated to N records (default
100,000; ids made unique) and written once as the outside JSONL file `evalgen score` reads. Each round is a
fresh process that calls `score_external` (read, score with every detector and the task scorer, write
generations.jsonl, scores.jsonl and run.json: everything but the HTML report, which bench_report.py
times); its memory is the resident set of the whole process tree (the parent and its scoring workers),
sampled every 200 ms from /proc, so the peak counts every worker. Rounds alternate between the settings
(side by side, robust to the load of a shared machine), best of `--repeat`.

A third setting, `detectors`, times only the detector calls on the same records already in memory (one
process), so the cost around them (parsing, building findings, JSON writing) shows as the difference.
A fourth, `around`, times that cost directly: `score_external` in one process with every detector replaced
by a lookup of its finding on that corpus record (computed once, cached in --work), so what is left is
reading, validating, the task scorer, serialising, writing and the tally (plus the lookups, ~1 us/record:
one table look-up per record, then one dict look-up per detector).
With `--around`, the same also runs over the pool (`around --jobs N`): the process tree's CPU beyond one
process's is what the pool costs (handing out the work, taking the lines back, the workers' own reading).
With `--baseline DIR` the old checkout gets the same `around` runs (`baseline around`), side by side.

    PYTHONPATH=. python bench/bench_score.py [--records 100000] [--jobs 2] [--repeat 2]
    PYTHONPATH=. python bench/bench_score.py --records 1000000 --only 2    # memory over a 1M-record run
    PYTHONPATH=. python bench/bench_score.py --baseline /path/to/old/checkout # + the old score_external
    PYTHONPATH=. python bench/bench_score.py --around --baseline /path/to/old/checkout  # only the cost around

CPU seconds are those of the process tree (the child and its workers, from getrusage), so they hold
even when other users' work stretches the wall time.

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCORE = r'''
import sys, time
from evalgen.external import score_external
began = time.perf_counter()
cpu = time.process_time()
tally = score_external(sys.argv[1], sys.argv[2], jobs=int(sys.argv[3]))
print(f"{time.perf_counter() - began:.3f} {tally.records} {time.process_time() - cpu:.3f}")
'''

SCORE_BASELINE = r'''
import sys, time
sys.path.insert(0, sys.argv[3])
from evalgen.external import score_external
began = time.perf_counter()
cpu = time.process_time()
try:  # a streaming checkout: a tally; older ones: (records, scores) in one process
    result = score_external(sys.argv[1], sys.argv[2], jobs=int(sys.argv[4]))
except TypeError:
    result = score_external(sys.argv[1], sys.argv[2])
records = result.records if hasattr(result, "records") else len(result[0])
print(f"{time.perf_counter() - began:.3f} {records} {time.process_time() - cpu:.3f}")
'''

AROUND = r'''
import pickle, sys, time
if len(sys.argv) > 5:
    sys.path.insert(0, sys.argv[5])
from evalgen.detectors import DETECTORS
from evalgen.external import score_external
with open(sys.argv[3], "rb") as handle:
    table = pickle.load(handle)

last = [None, None]  # the record being scored and its findings: one table look-up per record, not per detector

def lookup(name):
    def detect(record, ctx):
        if last[0] is not record:
            last[0], last[1] = record, table[record.probe_id.split("-", 1)[1]]
        return last[1][name]
    return detect

for name in DETECTORS:
    DETECTORS[name] = lookup(name)
began, cpu = time.perf_counter(), time.process_time()
tally = score_external(sys.argv[1], sys.argv[2], jobs=int(sys.argv[4]))
records = tally.records if hasattr(tally, "records") else len(tally[0])
print(f"{time.perf_counter() - began:.3f} {records} {time.process_time() - cpu:.3f}")
'''

FINDINGS = r'''
import json, pickle, sys
from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.scoring import _record_from_line
ctx, table = DetectorContext(), {}
with open(sys.argv[1], encoding="utf-8") as handle:
    for raw in handle:  # the first copy of the corpus: ids r0-...
        record = _record_from_line(json.loads(raw), "", "")
        if not record.probe_id.startswith("r0-"):
            break
        table[record.probe_id.split("-", 1)[1]] = {name: detect(record, ctx) for name, detect in DETECTORS.items()}
with open(sys.argv[2], "wb") as handle:
    pickle.dump(table, handle)
'''

DETECTORS = r'''
import sys, time
from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.scoring import records_from_external
records = records_from_external(sys.argv[1])
ctx, detectors = DetectorContext(), list(DETECTORS.values())
began, cpu = time.perf_counter(), time.process_time()
for r in records:
    for detect in detectors:
        detect(r, ctx)
print(f"{time.perf_counter() - began:.3f} {len(records)} {time.process_time() - cpu:.3f}")
'''


def write_input(path: Path, n: int) -> Path:
    """The corpus repeated to n records, as `evalgen score` input (cached by size)."""
    if path.is_file() and path.with_suffix(".n").is_file() and path.with_suffix(".n").read_text() == str(n):
        return path
    sys.path.insert(0, str(ROOT / "tests"))
    from corpus_io import iter_corpus

    rows = [json.dumps({"id": row["id"], "messages": row["messages"], "output": row["output"],
                        "finish_reason": row["finish_reason"], "lang": row["lang"], "suite": row["dataset"]},
                       ensure_ascii=False) for row in iter_corpus()]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = rows[i % len(rows)]
            handle.write(row.replace('"id": "', f'"id": "r{i // len(rows)}-', 1) + "\n")
    path.with_suffix(".n").write_text(str(n))
    return path


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int, list[tuple[float, int]], float, float]:
    """(seconds reported by the child, records, peak tree RSS, RSS samples over time, CPU seconds of the tree,
    CPU seconds of the child's own timed part)."""
    cpu = children_cpu()
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, samples = 0, []
    while proc.poll() is None:
        rss = tree_rss(proc.pid)
        peak = max(peak, rss)
        samples.append((time.perf_counter() - began, rss))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed:\n{err}")
    seconds, records, own_cpu = out.split()
    return float(seconds), int(records), peak, samples, children_cpu() - cpu, float(own_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2, help="the pool's size (compared with one process)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", type=int, metavar="JOBS", help="run only this --jobs setting (e.g. a 1M-record run)")
    parser.add_argument("--no-detectors", action="store_true", help="skip the detectors-only reference")
    parser.add_argument("--baseline", metavar="DIR", help="also time `score_external` of an older checkout in DIR")
    parser.add_argument("--around", action="store_true",
                        help="only the work around the detectors (detectors replaced by lookups), one process and "
                             "the pool")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-score"))
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    source = write_input(work / f"corpus-{args.records}.jsonl", args.records)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    settings = [] if args.around else [args.only] if args.only else [1, args.jobs]
    results: dict[str, list[tuple[float, int, list[tuple[float, int]], float, float]]] = {}
    table = work / "findings.pkl"
    if args.around or (not args.only and args.records <= 200_000):
        subprocess.run([sys.executable, "-c", FINDINGS, str(source), str(table)], env=env, check=True)
    for attempt in range(args.repeat):
        runs = [(f"--jobs {jobs}", [SCORE, str(source), "{out}", str(jobs)], env) for jobs in settings]
        if args.baseline and not args.around:
            runs.append(("baseline", [SCORE_BASELINE, str(source), "{out}", args.baseline, str(args.jobs)],
                         {**os.environ, "PYTHONPATH": args.baseline}))
        if args.around or (not args.only and args.records <= 200_000):
            base_env = {**os.environ, "PYTHONPATH": args.baseline or ""}
            for jobs in [1, args.jobs] if args.around else [1]:
                suffix = f" --jobs {jobs}" if jobs > 1 else ""
                runs.append((f"around{suffix}", [AROUND, str(source), "{out}", str(table), str(jobs)], env))
                if args.baseline:
                    runs.append((f"baseline around{suffix}",
                                 [AROUND, str(source), "{out}", str(table), str(jobs), args.baseline], base_env))
        if not args.no_detectors and not args.only and not args.around and args.records <= 200_000:
            runs.append(("detectors only", [DETECTORS, str(source)], env))
        for name, argv, run_env in runs:
            out = work / f"run-{attempt}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            argv = [a.replace("{out}", str(out)) for a in argv]
            seconds, n, peak, samples, cpu, own = measure([sys.executable, "-c", *argv], run_env)
            results.setdefault(name, []).append((seconds, peak, samples, cpu, own))
            subprocess.run(["rm", "-rf", str(out)], check=True)
    load = os.getloadavg()
    print(f"{args.records} real-corpus records ({source.stat().st_size / 1e6:.0f} MB of JSONL), {os.cpu_count()} "
          f"cores, load average {load[0]:.1f} / {load[1]:.1f} (1 / 5 min), best of {args.repeat}")
    best = {name: min(runs, key=lambda r: r[0]) for name, runs in results.items()}
    for name, (seconds, peak, _, cpu, _) in best.items():
        runs = ", ".join(f"{r[0]:.1f}" for r in results[name])
        print(f"{name:15} {seconds:7.2f} s  {args.records / seconds:8.0f} records/s  peak RSS {peak / 2**20:6.0f} MiB"
              f"  CPU {cpu:6.1f} s (main process {min(r[4] for r in results[name]):.1f} s)  (runs: {runs} s)")
    if "--jobs 1" in best and f"--jobs {args.jobs}" in best and not args.only:
        one, pool = best["--jobs 1"][0], best[f"--jobs {args.jobs}"][0]
        print(f"speed-up --jobs {args.jobs} / --jobs 1: {one / pool:.2f}x")
        if "detectors only" in best:
            print(f"one process, CPU of the timed part: {best['--jobs 1'][4]:.1f} s, of which the detector calls "
                  f"{best['detectors only'][4]:.1f} s: the cost around them is "
                  f"{best['--jobs 1'][4] / best['detectors only'][4] - 1:.0%} on top")
        if "baseline" in best:
            print(f"ratio baseline / --jobs {args.jobs}: {best['baseline'][0] / pool:.2f}x")
    for name in ("around", "baseline around"):
        if name in best:
            own = min(r[4] for r in results[name])
            print(f"{name}: the work around the detectors, one process: {own:.1f} s CPU, "
                  f"{1e6 * own / args.records:.0f} us/record")
        pooled = f"{name} --jobs {args.jobs}"
        if pooled in best:
            tree, parent = min(r[3] for r in results[pooled]), min(r[4] for r in results[pooled])
            print(f"{pooled}: CPU of the process tree {tree:.1f} s ({1e6 * tree / args.records:.0f} us/record), "
                  f"of which the parent {parent:.1f} s ({1e6 * parent / args.records:.0f} us/record)")
    # Memory over the run: flat means it does not grow with the records read so far.
    for name, (_, _, samples, _, _) in best.items():
        if name == "detectors only" or len(samples) < 10:
            continue
        fractions = [i / 10 for i in range(1, 11)] if args.only else [0.25, 0.5, 0.75, 1.0]
        marks = [samples[int(len(samples) * f) - 1] for f in fractions]
        rss = ", ".join(f"{rss / 2**20:.0f}" for _, rss in marks)
        at = "/".join(f"{100 * f:.0f}" for f in fractions)
        print(f"{name} RSS at {at}% of the run: {rss} MiB")


if __name__ == "__main__":
    main()

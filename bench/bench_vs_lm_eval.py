"""`evalgen run` against lm-evaluation-harness (`lm-eval`, `hf` model): same prompts, same settings.

Both tools run end to end as fresh processes, side by side, alternating, best of `--repeat`, on a
tiny checkpoint from `evalgen.tinymodels.build_family` in two scenarios: `base` (answers briefly and
ends its turn) and `no_eos` (never ends it: every prompt generates `--max-new-tokens`).

Same work on both sides:
- the same prompts (probes from the built-in suites, multi-turn ones included), rendered once with
  the checkpoint's chat template exactly as evalgen renders them; lm-eval gets that text as
  `doc_to_text` of a local `generate_until` task (written to a temp dir) and tokenizes it without
  special tokens, as evalgen does;
- greedy, `max_gen_toks` = `--max-new-tokens`, `until` = evalgen's stop texts (the end-of-turn token
  and the next-turn marker), same batch size, float32, same device, offline;
- one torch thread each by default (`--threads`): on a shared 2-core machine two OMP threads per
  process collapse whenever anything else runs (generation 3-10x slower and erratic, seen here);
- evalgen runs with `--no-early-exit` (otherwise it cuts looping `no_eos` rows short and does less
  work) and `--no-teacher-forced` (extra reference log-prob passes lm-eval does not do);
  `--evalgen-defaults` drops both flags. evalgen still scores every record (detectors + scorers)
  and writes generations.jsonl, scores.jsonl, run.json and report.html; lm-eval computes
  exact_match and writes its results and per-sample JSON (`--log_samples`).
The outputs are compared text for text: a speed ratio is only fair if both generated the same.

On a tiny model the ratio measures fixed cost, not generation: lm-eval's generation phase (from its
log) takes about as long as evalgen's; most of its ~9 s extra is start-up (imports, the index it
builds over every bundled task YAML even with `--include_path`, model set-up). On a real model,
where generation dominates and both call the same HF `generate`, expect the ratio to approach 1.

lm-eval lives in its own venv so it does not disturb evalgen's dependencies. This worked here
(Python 3.11, CPU; lm-eval[hf] 0.4.13 accepts transformers 5.x: `'transformers>=5.16,<6'` resolves
to the newest, 5.24; pinning evalgen's version instead makes both sides run the same generate code):

    python3 -m venv /work/venv-lmeval
    /work/venv-lmeval/bin/pip install torch==2.13.0 'lm-eval[hf]==0.4.13' 'transformers==5.19.0'

(~1.8 GB; `torch==2.13.0` takes the local CPU wheel: an unpinned torch pulls a CUDA build.)

    python bench/bench_vs_lm_eval.py [--prompts 256] [--max-new-tokens 128] [--batch-size 32]
        [--repeat 3] [--scenarios base,no_eos] [--lm-eval-python PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LM_EVAL_PYTHON = os.environ.get("EVALGEN_LM_EVAL_PYTHON", "/work/venv-lmeval/bin/python")
INSTALL = ("python3 -m venv /work/venv-lmeval && /work/venv-lmeval/bin/pip install torch==2.13.0 "
           "'lm-eval[hf]==0.4.13' 'transformers==5.19.0'")
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "datasets", "lm_eval")
VERSIONS = "import importlib.metadata as m, json, sys; print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"

TASK = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{text}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: {until}
  max_gen_toks: {max_new}
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def timed(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the process and its children) of one fresh run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    with log.open("w") as handle:
        done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **OFFLINE, **env})
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {shlex.join(cmd)}\n--- last lines of {log}:\n"
                 + "\n".join(log.read_text(errors="replace").splitlines()[-25:]))
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def lm_eval_generate_s(log: Path) -> float | None:
    """Seconds between lm-eval's "Running generate_until requests" and "Saving results" log lines
    (its log stamps whole seconds): the generation phase without imports, task index and model load."""
    stamps: dict[str, datetime.datetime] = {}
    for line in log.read_text(errors="replace").splitlines():
        for key, text in (("start", "Running generate_until requests"), ("end", "Saving results")):
            if text in line and key not in stamps:
                with contextlib.suppress(ValueError):
                    stamps[key] = datetime.datetime.strptime(line[:19], "%Y-%m-%d:%H:%M:%S")
    return (stamps["end"] - stamps["start"]).total_seconds() if len(stamps) == 2 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pick_probes(n: int) -> list[Any]:
    """n probes spread evenly over every built-in suite (cycling when n exceeds them)."""
    from evalgen.probes import load_suites

    probes = load_suites()
    if n <= len(probes):
        return [probes[i * len(probes) // n] for i in range(n)]
    return [probes[i % len(probes)] for i in range(n)]


def write_inputs(work: Path, checkpoint: Path, probes: list[Any], max_new: int) -> tuple[Path, Path, list[str]]:
    """The evalgen suite, the lm-eval data + task folder; returns them and lm-eval's `until`."""
    from transformers import AutoTokenizer

    from evalgen.templates import bind_template

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    template = bind_template(None, tokenizer)
    until = list(dict.fromkeys([*template.end_tokens, *template.turn_markers]))
    suite, data, tasks = work / "bench.jsonl", work / "lm_eval_data.jsonl", work / "lm_eval_tasks"
    tasks.mkdir(exist_ok=True)
    with suite.open("w", encoding="utf-8") as ours, data.open("w", encoding="utf-8") as theirs:
        for i, probe in enumerate(probes):
            # Fold `input` into the text as evalgen's template binding does, so the suite needs no `input`.
            messages = [{"role": m["role"], "content": f"{m['content']}\n\n{m['input']}" if m.get("input")
                         else m["content"]} for m in probe.messages]
            row: dict[str, Any] = {"id": f"p{i:03d}", "messages": messages, "lang": probe.lang}
            if probe.reference is not None:
                row["reference"] = probe.reference
            if probe.scorer is not None:
                row["scorer"] = probe.scorer
            ours.write(json.dumps(row, ensure_ascii=False) + "\n")
            theirs.write(json.dumps({"id": row["id"], "text": template.render(messages),
                                     "target": probe.reference or ""}, ensure_ascii=False) + "\n")
    (tasks / "evalgen_bench.yaml").write_text(TASK.format(
        task="evalgen_bench", data=json.dumps(str(data)), until=json.dumps(until), max_new=max_new))
    return suite, tasks, until


def agreement(run_dir: Path, lm_out: Path) -> dict[str, Any]:
    ours = {r["probe_id"]: r for r in map(json.loads, (run_dir / "generations.jsonl").read_text().splitlines())}
    [samples] = glob.glob(str(lm_out / "**" / "samples_evalgen_bench_*.jsonl"), recursive=True)
    theirs = {r["doc"]["id"]: r for r in map(json.loads, Path(samples).read_text().splitlines())}
    same = sum(ours[k]["output"] == theirs[k]["resps"][0][0] for k in ours if k in theirs)
    stripped = sum(ours[k]["output"].strip() == theirs[k]["resps"][0][0].strip() for k in ours if k in theirs)
    differ = [k for k in sorted(ours) if k in theirs and ours[k]["output"].strip() != theirs[k]["resps"][0][0].strip()]
    stops: dict[str, int] = {}
    for r in ours.values():
        stops[r["stop_reason"]] = stops.get(r["stop_reason"], 0) + 1
    return {"n": len(ours), "n_lm_eval": len(theirs), "identical": same, "identical_stripped": stripped,
            "differ": differ, "ours": ours, "theirs": theirs, "stops": stops,
            "tokens": sum(r["n_output_tokens"] for r in ours.values()),
            "evalgen_keys": sorted(next(iter(ours.values()))), "lm_eval_keys": sorted(next(iter(theirs.values())))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenarios", default="base,no_eos", help="comma-separated build_family members")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/MKL threads for both sides; 0 = torch's default (one per core)")
    parser.add_argument("--lm-eval-python", default=LM_EVAL_PYTHON,
                        help="python of a venv with lm-eval (default: $EVALGEN_LM_EVAL_PYTHON or %(default)s)")
    parser.add_argument("--evalgen-defaults", action="store_true",
                        help="run evalgen with early exit and teacher-forced probes on (not the same work)")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-models"))
    args = parser.parse_args()

    probe = subprocess.run([args.lm_eval_python, "-c", VERSIONS, *PACKAGES], capture_output=True, text=True) \
        if Path(args.lm_eval_python).exists() else None
    if probe is None or probe.returncode:
        sys.exit(f"no usable lm-eval at {args.lm_eval_python} (set --lm-eval-python or $EVALGEN_LM_EVAL_PYTHON); "
                 f"create it with:\n  {INSTALL}")
    lm_versions = json.loads(probe.stdout)
    our_versions = {p: importlib.metadata.version(p) for p in ("evalgen", *PACKAGES[:3])}

    from evalgen.tinymodels import build_family

    family = build_family(args.models)
    work = Path(tempfile.mkdtemp(prefix="evalgen-vs-lm-eval-"))
    probes = pick_probes(args.prompts)
    threads = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)} if args.threads else {}
    evalgen_flags = [] if args.evalgen_defaults else ["--no-early-exit", "--no-teacher-forced"]

    print(f"machine: {os.cpu_count()} cpus ({cpu_model()}), {platform.platform()}, python {platform.python_version()}")
    print(f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}")
    print(f"evalgen side: {', '.join(f'{k} {v}' for k, v in our_versions.items())}")
    print(f"lm-eval side: {', '.join(f'{k} {v}' for k, v in lm_versions.items())}  ({args.lm_eval_python})")
    print(f"{args.prompts} prompts from {len({p.suite for p in probes})} built-in suites, "
          f"max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, greedy, float32, {args.device}, "
          f"best of {args.repeat}, evalgen flags: {' '.join(evalgen_flags) or '(defaults)'}")
    print(f"threads: {args.threads or 'torch default'}, load average at the start: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"work dir: {work}\n")

    rows = []
    for scenario in args.scenarios.split(","):
        checkpoint = family[scenario]
        folder = work / scenario
        folder.mkdir()
        suite, tasks, until = write_inputs(folder, checkpoint, probes, args.max_new_tokens)
        runs: dict[str, list[tuple[float, float, float]]] = {"evalgen": [], "lm_eval": []}
        phases: list[float | None] = []
        for attempt in range(args.repeat):
            run_dir, lm_out = folder / f"evalgen{attempt}", folder / f"lm_eval{attempt}"
            evalgen_cmd = [sys.executable, "-m", "evalgen", "run", str(checkpoint), "--suite", str(suite),
                           "--out", str(run_dir), "--max-new-tokens", str(args.max_new_tokens),
                           "--batch-size", str(args.batch_size), "--dtype", "float32", "--device", args.device,
                           *evalgen_flags, "--no-progress"]
            lm_cmd = [args.lm_eval_python, "-m", "lm_eval", "run", "--model", "hf",
                      "--model_args", f"pretrained={checkpoint},dtype=float32", "--tasks", "evalgen_bench",
                      "--include_path", str(tasks), "--batch_size", str(args.batch_size), "--device", args.device,
                      "--output_path", str(lm_out), "--log_samples"]
            if attempt == 0:
                print(f"[{scenario}] evalgen: {shlex.join(evalgen_cmd)}\n[{scenario}] lm-eval: {shlex.join(lm_cmd)}")
                print(f"[{scenario}] lm-eval until: {until}", flush=True)
            # Alternate which side goes first, so a slow spell on a shared machine hits both.
            pair = [("evalgen", evalgen_cmd), ("lm_eval", lm_cmd)]
            for side, cmd in pair if attempt % 2 == 0 else reversed(pair):
                wall, cpu = timed(cmd, folder / f"{side}{attempt}.log", threads)
                if side == "evalgen":  # time spent loading + generating, as the tool measured it
                    inner = json.loads((run_dir / "run.json").read_text())["timings"]["generate_s"]
                else:  # lm-eval's own clock: model load, requests, metrics
                    [results] = glob.glob(str(lm_out / "**" / "results_*.json"), recursive=True)
                    inner = json.loads(Path(results).read_text())["total_evaluation_time_seconds"]
                runs[side].append((wall, cpu, float(inner)))
                if side == "lm_eval":
                    phases.append(lm_eval_generate_s(folder / f"{side}{attempt}.log"))
        check = agreement(folder / "evalgen0", folder / "lm_eval0")
        rows.append((scenario, runs, check))
        for side, label in (("evalgen", "run.json generate_s, model load included"),
                            ("lm_eval", "results total_evaluation_time_seconds")):
            print(f"[{scenario}] {side:<7} wall " + ", ".join(f"{w:.2f}" for w, _, _ in runs[side])
                  + "  cpu " + ", ".join(f"{c:.2f}" for _, c, _ in runs[side])
                  + f"  ({label}: " + ", ".join(f"{i:.2f}" for _, _, i in runs[side]) + ")")
        print(f"[{scenario}] lm-eval log, generate_until requests to saving results (whole seconds): "
              + ", ".join("?" if x is None else f"{x:.0f}" for x in phases))
        print(f"[{scenario}] evalgen stop reasons {check['stops']}, {check['tokens']} tokens generated")
        print(f"[{scenario}] identical outputs: {check['identical']}/{check['n']} "
              f"(after strip: {check['identical_stripped']}/{check['n']}; lm-eval samples: {check['n_lm_eval']})")
        for key in check["differ"][:2]:
            a, b = check["ours"][key]["output"], check["theirs"][key]["resps"][0][0]
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            print(f"  {key} differs from character {at} (evalgen {len(a)} chars, lm-eval {len(b)}): "
                  f"evalgen ...{a[max(0, at - 20):at + 40]!r} vs lm-eval ...{b[max(0, at - 20):at + 40]!r}")
        if check["identical"] < check["n"]:
            print(f"  NOTE: {check['n'] - check['identical']} outputs differ, so the two sides did not do the same "
                  "work and the ratio below is not like for like")
        print(flush=True)

    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cpus\n")
    print("best of each side (wall = end to end of a fresh process; cpu = its user + sys seconds)")
    print(f"{'scenario':<9} {'evalgen s':>9} {'lm-eval s':>9} {'ratio':>7}   {'evalgen cpu':>11} {'lm-eval cpu':>11} "
          f"{'ratio':>7}   identical")
    for scenario, runs, check in rows:
        ours, theirs = min(w for w, _, _ in runs["evalgen"]), min(w for w, _, _ in runs["lm_eval"])
        our_cpu, their_cpu = min(c for _, c, _ in runs["evalgen"]), min(c for _, c, _ in runs["lm_eval"])
        print(f"{scenario:<9} {ours:9.2f} {theirs:9.2f} {ours / theirs:6.3f}x   {our_cpu:11.2f} {their_cpu:11.2f} "
              f"{our_cpu / their_cpu:6.3f}x   {check['identical']}/{check['n']}")
    print("target: evalgen <= 0.6x lm-eval's wall time")

    check = rows[-1][2]
    print("\nwhat each records per generation:")
    print(f"  evalgen generations.jsonl: {', '.join(check['evalgen_keys'])}  (+ scores.jsonl findings, run.json, "
          "report.html)")
    print(f"  lm-eval samples_*.jsonl:   {', '.join(check['lm_eval_keys'])}  (+ results_*.json)")
    print("  lm-eval keeps the stop-truncated text only: no finish reason, no EOS-vs-limit flag, no token ids or "
          "token count, no raw output before the stop string")


if __name__ == "__main__":
    main()

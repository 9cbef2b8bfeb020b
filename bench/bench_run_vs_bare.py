"""`evalgen run` against a bare transformers generate script: same prompts, same batches, same tokens out.

Generation-heavy on purpose (hundreds of prompts, 128 new tokens, a checkpoint that never stops), so
the ratio shows evalgen's overhead. Both sides run as fresh processes, alternating (evalgen first on even
rounds, the bare script first on odd ones), `--repeat` rounds, one thread each; run it pinned to one core:

    taskset -c 1 python bench/bench_run_vs_bare.py [--prompts 384] [--max-new-tokens 128] [--batch-size 32]
    python bench/bench_run_vs_bare.py --stop-check   # the per-step stop-string check alone, in CPU time
    taskset -c 1 python bench/bench_run_vs_bare.py --paired   # generation alone, one process, turn by turn
    taskset -c 1 python bench/bench_run_vs_bare.py --aa       # the noise floor: the bare script on both sides
    taskset -c 1 python bench/bench_run_vs_bare.py --before /work/main   # also the evalgen of another checkout
    python bench/bench_run_vs_bare.py --callgrind --prompts 64 --max-new-tokens 32 [--before TREE]   # instructions

Each side is timed in three parts, in CPU seconds (steady on a busy machine) and wall seconds:
- the generation phase: evalgen's run.json `generate_cpu_s`/`generate_s` (after the model is loaded: the
  batches through `generate`, stop classification, each batch's records written) against the bare
  script's loop (the same batches through `generate`, decoded, written as JSONL);
- start-up and the rest: the process total minus its generation phase (imports, model load, tokenizing;
  for evalgen also scoring and the report);
- end to end: the whole process.
The bare script gets evalgen's batches: the checkpoint's chat template, tokenized without special tokens,
sorted longest first, cut into `--batch-size` rows, left-padded; it is greedy with the same
`max_new_tokens` and the checkpoint's EOS. The bench asserts that every prompt's output token ids are the
same on both sides. `--file-order` adds a bare script that batches the prompts in file order (what a plain
script does) for the end-to-end comparison.

Separate processes differ by a few % in generation CPU even when they run the same script (memory layout,
page faults: sys time alone moves 0.2-0.6 s between runs): `--aa` times the bare script against itself, and
every run prints a bootstrap interval for the generation ratio, to tell a real gap from chance. On a shared
2-core machine (load 5-10) the A/A was still 0.964x (interval 0.928-1.008x) over 15 rounds of 128 prompts x
64 tokens: seconds between processes cannot resolve 3% there, however many rounds.

`--callgrind` counts instead of timing: each side runs once under valgrind's callgrind, which counts the
instructions executed (Ir), dumped at the generation phase's start and end (the bare script calls getsid and
getpgid there; `evalgen run` gets the same two calls around `runner.generate_into`, the phase run.json times), so
start-up, the generation phase and the rest are counted apart. The count does not depend on the machine's load
and hardly moves between two processes of one script (string hashing fixed): the bare script a second time is
the A/A, 1.00002x for 64 prompts x 32 tokens. Instructions are not seconds (a cache miss, a page fault or a
wait costs time and no instructions; MKL runs its SSE4.2 kernels here, as its AVX2 ones crawl under valgrind),
so read the ratio beside the CPU seconds of the default mode and `--paired`. A side takes ~8 minutes of CPU under
callgrind (17 G instructions of start-up, 17 G of generation for that workload), hence the small one; the sides
run at the same time (give them more than one core).

`--paired` runs both generation loops in one process on one model, taking turns batch by batch (which goes
first alternates), so that a busy machine's swings hit both sides alike: evalgen's HF backend `generate`
(its padding, stopping criteria and stop classification) and each batch's records appended to a run folder's
generations.jsonl, against the bare `generate`, decode and JSONL write.

`--stop-check` times one process's `generate` (CPU seconds, one thread, alternating rounds, medians) on the
same batches two ways: transformers' `stop_strings` and evalgen's `StopStringTail` (the newest tokens
only), with the template's turn markers as stop strings, as `evalgen run` sets them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BARE = r'''
import json, os, sys, time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
ckpt, suite, max_new, batch_size, out_path, order = sys.argv[1:7]
max_new, batch_size = int(max_new), int(batch_size)
tok = AutoTokenizer.from_pretrained(ckpt, padding_side="left")
model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
rows = [json.loads(line) for line in open(suite, encoding="utf-8")]
prompts = [(r["id"], tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], add_generation_prompt=True,
                                             tokenize=False)) for r in rows]
if order == "sorted":  # the same length grouping evalgen does (longest first, ties in file order)
    prompts.sort(key=lambda p: -len(tok(p[1], add_special_tokens=False)["input_ids"]))
batches = [(prompts[i:i + batch_size], tok([t for _, t in prompts[i:i + batch_size]], padding=True,
                                           add_special_tokens=False, return_tensors="pt"))
           for i in range(0, len(prompts), batch_size)]
config = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, return_dict_in_generate=True)
os.getsid(0)  # the loop's start and end for --callgrind: two system calls nothing else here makes
began, began_cpu = time.perf_counter(), time.process_time()  # the generation loop alone
with open(out_path, "w", encoding="utf-8") as out:
    for batch_prompts, batch in batches:
        with torch.inference_mode():
            seqs = model.generate(**batch, generation_config=config).sequences
        for (pid, _), row in zip(batch_prompts, seqs[:, batch["input_ids"].shape[1]:].tolist()):
            ids = row[:row.index(tok.eos_token_id) + 1] if tok.eos_token_id in row else row
            out.write(json.dumps({"id": pid, "ids": ids, "output": tok.decode(ids, skip_special_tokens=True)}) + "\n")
os.getpgid(0)
json.dump({"wall": time.perf_counter() - began, "cpu": time.process_time() - began_cpu}, open(out_path + ".time", "w"))
'''

MARKED_RUN = r'''
import os, sys
from evalgen import cli, runner
generate_into = runner.generate_into
def marked(*args, **kwargs):  # run.json's generation phase, between the bare script's two marker calls
    os.getsid(0)
    try:
        return generate_into(*args, **kwargs)
    finally:
        os.getpgid(0)
runner.generate_into = marked
raise SystemExit(cli.main(sys.argv[1:]))
'''
"""`evalgen run` with its generation phase marked as the bare script's is (for --callgrind)."""


def stop_check(checkpoint: Path, prompts: list[str], max_new: int, batch_size: int, rounds: int = 3) -> None:
    """The stop-string check's own CPU time (inside the criterion, set-up included) per generate, and the
    whole generate's, for transformers' criterion and evalgen's."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        StoppingCriteriaList,
        StopStringCriteria,
    )

    from evalgen.backends.hf import StopStringTail

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(checkpoint, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    from evalgen.templates import bind_template

    stops = list(bind_template(None, tok).turn_markers)  # what `evalgen run` stops on by default
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
             for p in prompts]
    batches = [tok(texts[i:i + batch_size], padding=True, add_special_tokens=False, return_tensors="pt")
               for i in range(0, len(texts), batch_size)]
    decode = lambda ids, skip: tok.decode(list(ids), skip_special_tokens=skip)  # noqa: E731
    may_end: dict[int, bool] = {}

    class Timed:
        def __init__(self, make: Any) -> None:
            began = time.process_time()
            self.inner = make()
            self.spent = time.process_time() - began

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.spent += time.process_time() - began

    def one(kind: str) -> tuple[float, float]:
        total = check = 0.0
        for batch in batches:
            began = time.process_time()
            width = batch["input_ids"].shape[1]
            criterion = Timed(lambda w=width: StopStringCriteria(tok, stops) if kind == "transformers"
                              else StopStringTail(stops, w, decode, may_end))
            config = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                                      pad_token_id=tok.pad_token_id)
            with torch.inference_mode():
                model.generate(**batch, generation_config=config, stopping_criteria=StoppingCriteriaList([criterion]))
            total += time.process_time() - began
            check += criterion.spent
        return total, check

    times: dict[str, list[tuple[float, float]]] = {"transformers": [], "evalgen": []}
    for _ in range(rounds):
        for kind in times:
            times[kind].append(one(kind))
    print(f"{len(prompts)} prompts x {max_new} new tokens, batch {batch_size}, one thread, vocabulary {len(tok)}, "
          f"CPU seconds, median of {rounds} alternating rounds, load average {os.getloadavg()[0]:.1f}")
    for kind, values in times.items():
        total = statistics.median(t for t, _ in values)
        check = statistics.median(c for _, c in values)
        print(f"  {kind:12} stop check {check:6.3f} s = {check / total:5.1%} of generate ({total:.2f} s)")


def paired(checkpoint: Path, prompts: list[str], max_new: int, batch_size: int, rounds: int) -> None:
    """One process, one model: evalgen's HF backend (`generate` over its requests: padding, stopping criteria,
    stop classification; then the records written as `evalgen run` writes them) and the bare `generate` loop
    (decoded, written as JSONL) take turns batch by batch, so a change in the
    machine's load hits both alike. CPU seconds summed per side; same token ids asserted."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from evalgen.backends.base import BackendSetup, GenerationSettings
    from evalgen.backends.hf import HFBackend
    from evalgen.probes import Probe
    from evalgen.runfolder import RunFolder
    from evalgen.runner import build_requests, to_record
    from evalgen.templates import bind_template

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(checkpoint, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    template = bind_template(None, tok)
    probes = [Probe(id=f"p{i}", suite="bench", messages=[{"role": "user", "content": p}])
              for i, p in enumerate(prompts)]
    requests, origin = build_requests(probes, template, tok, 1, set())
    folder = RunFolder(Path(tempfile.mkdtemp(prefix="evalgen-paired-")) / "run")  # evalgen's record write, as in a run
    bare_out = open(folder.path.parent / "bare.jsonl", "w", encoding="utf-8")  # noqa: SIM115 - open for all rounds
    settings = GenerationSettings(max_new_tokens=max_new, batch_size=batch_size, early_exit=False,
                                  stop_strings=template.turn_markers)
    backend = HFBackend.from_model(model, tok, device="cpu").open(BackendSetup(settings, template.end_tokens, tok))
    ordered = sorted(requests, key=lambda r: (-len(r.prompt_ids), r.index))  # evalgen's batches, as it cuts them
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    config = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id, return_dict_in_generate=True)
    texts = {r.index: tok.apply_chat_template([{"role": "user", "content": prompts[r.index]}],
                                              add_generation_prompt=True, tokenize=False) for r in requests}
    bare_inputs = [tok([texts[r.index] for r in batch], padding=True, add_special_tokens=False, return_tensors="pt")
                   for batch in batches]
    spent = {"evalgen": [], "bare": []}
    for round_ in range(rounds):
        cpu = {"evalgen": 0.0, "bare": 0.0}
        for k, (batch, inputs) in enumerate(zip(batches, bare_inputs, strict=True)):
            def ours(batch: Any = batch) -> list[list[int]]:
                [completions] = list(backend.generate(batch))
                assert [c.index for c in completions] == [r.index for r in batch]
                folder.append([to_record(origin[c.index][0], requests[c.index], c) for c in completions])
                return [c.token_ids for c in completions]

            def bare(inputs: Any = inputs, batch: Any = batch) -> list[list[int]]:
                with torch.inference_mode():
                    sequences = model.generate(**inputs, generation_config=config).sequences
                rows = sequences[:, inputs["input_ids"].shape[1]:]
                out = []
                for r, row in zip(batch, rows.tolist(), strict=True):
                    ids = row[:row.index(tok.eos_token_id) + 1] if tok.eos_token_id in row else row
                    bare_out.write(json.dumps({"id": r.index, "ids": ids,
                                               "output": tok.decode(ids, skip_special_tokens=True)}) + "\n")
                    out.append(ids)
                bare_out.flush()
                return out

            got = {}
            for side, call in (("evalgen", ours), ("bare", bare))[:: 1 if (round_ + k) % 2 == 0 else -1]:
                began = time.process_time()
                got[side] = call()
                cpu[side] += time.process_time() - began
            assert got["evalgen"] == got["bare"], f"batch {k}: the token ids differ"
        for side in spent:
            spent[side].append(cpu[side])
    e, b = statistics.median(spent["evalgen"]), statistics.median(spent["bare"])
    print(f"{len(prompts)} prompts x {max_new} new tokens, batch {batch_size}, one thread, one process, sides taking "
          f"turns batch by batch, the same token ids; CPU seconds, median of {rounds} rounds; CPU affinity "
          f"{sorted(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}")
    print(f"generation, evalgen's HF backend {e:.2f} s vs bare generate {b:.2f} s = {e / b:.3f}x   (per round: "
          f"{' '.join(f'{x:.2f}' for x in spent['evalgen'])} | {' '.join(f'{x:.2f}' for x in spent['bare'])})")
    print(f"all rounds together: {sum(spent['evalgen']):.2f} s vs {sum(spent['bare']):.2f} s = "
          f"{sum(spent['evalgen']) / sum(spent['bare']):.3f}x")


ROOT = Path(__file__).resolve().parents[1]
"""This checkout. A child runs in the tree whose evalgen it runs: `python -c` and `-m` put the working directory
first on sys.path, ahead of PYTHONPATH, so `--before` run from a checkout's root ran that checkout's evalgen."""


def timed(cmd: list[str], env: dict[str, str], cwd: Path | str = ROOT) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process, its own children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=384)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=4, help="alternating rounds (medians are reported)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/MKL threads for both sides (0 = torch's default); on a shared 2-core machine "
                             "two threads per process make timings swing several-fold")
    parser.add_argument("--file-order", action="store_true", help="also time a bare script batching in file order")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-models"))
    parser.add_argument("--stop-check", action="store_true", help="time only the per-step stop-string check")
    parser.add_argument("--paired", action="store_true",
                        help="one process: evalgen's backend and the bare loop take turns batch by batch")
    parser.add_argument("--before", metavar="TREE",
                        help="also run the evalgen of another checkout (e.g. /work/main) in every round, alternating")
    parser.add_argument("--callgrind", action="store_true",
                        help="count each side's instructions per phase under valgrind, each side once, the A/A "
                             "included (deterministic; minutes; --repeat does not apply)")
    parser.add_argument("--aa", action="store_true",
                        help="the noise floor: the bare script on both sides (A/A), timed and printed the same way")
    args = parser.parse_args()
    if args.callgrind and (args.aa or args.paired or args.stop_check or args.file_order):
        parser.error("--callgrind runs each side once, its own A/A included: not with --aa, --paired, --stop-check "
                     "or --file-order")

    from evalgen.probes import load_suites
    from evalgen.tinymodels import build_family

    checkpoint = build_family(args.models)["no_eos"]  # never ends its turn: every row runs 128 tokens
    work = Path(tempfile.mkdtemp(prefix="evalgen-bench-"))
    prompts = [p.messages[-1]["content"] for p in load_suites(["long_form", "instruction", "identity"])
               if len(p.messages) == 1]
    if args.paired:
        paired(checkpoint, [prompts[i % len(prompts)] for i in range(args.prompts)], args.max_new_tokens,
               args.batch_size, args.repeat)
        return
    if args.stop_check:
        stop_check(checkpoint, [prompts[i % len(prompts)] for i in range(args.prompts)], args.max_new_tokens,
                   args.batch_size)
        return
    suite = work / "bench.jsonl"
    with suite.open("w", encoding="utf-8") as handle:
        for i in range(args.prompts):
            handle.write(json.dumps({"id": f"p{i}", "prompt": prompts[i % len(prompts)]}, ensure_ascii=False) + "\n")

    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    # side → list of {total, phase} × {wall, cpu}
    got: dict[str, list[dict[str, float]]] = {"evalgen": [], "bare": [], "bare-file-order": [], "before": []}

    if args.callgrind:
        callgrind(args, checkpoint, suite, work, env)
        return

    def run_evalgen(attempt: int, tree: str | None = None) -> None:
        folder = work / f"run{attempt}{'-before' if tree else ''}"
        wall, cpu = timed([sys.executable, "-m", "evalgen", *evalgen_args(args, checkpoint, suite, folder)],
                          {**env, "PYTHONPATH": tree} if tree else env, tree or ROOT)
        timings = json.loads((folder / "run.json").read_text())["timings"]
        got["before" if tree else "evalgen"].append({"wall": wall, "cpu": cpu, "phase_wall": timings["generate_s"],
                               "phase_cpu": timings["generate_cpu_s"]})

    def run_bare(attempt: int, order: str, side: str = "bare") -> None:
        """`side` "evalgen" is the A/A run: the bare script again, in evalgen's column."""
        out = work / f"bare{attempt}-{order}{'-again' if side == 'evalgen' else ''}.jsonl"
        wall, cpu = timed([sys.executable, "-c", BARE, *bare_args(args, checkpoint, suite, out, order)], env)
        phase = json.loads(Path(f"{out}.time").read_text())
        got[side].append({"wall": wall, "cpu": cpu, "phase_wall": phase["wall"], "phase_cpu": phase["cpu"]})

    loads = []
    for attempt in range(args.repeat):
        first = (lambda a=attempt: run_bare(a, "sorted", "evalgen")) if args.aa else (lambda a=attempt: run_evalgen(a))
        sides = [first, lambda a=attempt: run_bare(a, "sorted")]
        if args.before:
            sides.insert(1, lambda a=attempt: run_evalgen(a, args.before))
        for side in sides if attempt % 2 == 0 else sides[::-1]:
            side()
        if args.file_order:
            run_bare(attempt, "file", "bare-file-order")
        loads.append(os.getloadavg()[0])

    for attempt in range(args.repeat):  # the same tokens out on both sides, every round
        bare = work / f"bare{attempt}-sorted.jsonl"
        tokens = assert_same_ids(bare.with_name(f"{bare.stem}-again.jsonl") if args.aa
                                 else work / f"run{attempt}" / "generations.jsonl", bare)
    if args.aa:
        print("A/A: the bare script on both sides (the 'evalgen' column is a second bare process)")

    print(f"{args.prompts} prompts x {args.max_new_tokens} new tokens, batch {args.batch_size}, threads "
          f"{args.threads or 'default'}, {tokens} tokens generated, the same token ids on both sides; "
          f"{args.repeat} alternating rounds, medians; CPU affinity {sorted(os.sched_getaffinity(0))}, "
          f"load average during the rounds {min(loads):.1f}-{max(loads):.1f}")
    for side in got.values():
        for row in side:
            row["rest_cpu"] = row["cpu"] - row["phase_cpu"]
    print_rounds(got, (("generation phase, CPU s", "phase_cpu"), ("generation phase, wall s", "phase_wall"),
                       ("start-up and the rest, CPU s", "rest_cpu"), ("end to end, CPU s", "cpu"),
                       ("end to end, wall s", "wall")))
    if args.before:
        old = statistics.median(row["phase_cpu"] for row in got["before"])
        b = statistics.median(row["phase_cpu"] for row in got["bare"])
        runs = " ".join(f"{row['phase_cpu']:.2f}" for row in got["before"])
        print(f"generation phase, CPU s, evalgen from {args.before}: {old:.2f} = {old / b:.3f}x bare   "
              f"(per round: {runs})")
    low, high = ratio_interval(got, "phase_cpu")
    print(f"generation phase CPU ratio, 90% bootstrap interval over the rounds: {low:.3f}-{high:.3f}x "
          "(one process's generation CPU varies a few % with its memory layout and page faults)")
    if args.file_order:
        e = statistics.median(row["wall"] for row in got["evalgen"])
        b = statistics.median(row["wall"] for row in got["bare-file-order"])
        print(f"end to end, wall s, bare in file order: {b:.2f}; evalgen / that = {e / b:.3f}x")
    print("targets: generation phase <= 1.03x (start-up measured apart)")


def evalgen_args(args: argparse.Namespace, checkpoint: Path, suite: Path, folder: Path) -> list[str]:
    return ["run", str(checkpoint), "--suite", str(suite), "--out", str(folder), "--max-new-tokens",
            str(args.max_new_tokens), "--batch-size", str(args.batch_size), "--jobs", "1", "--no-early-exit",
            "--no-teacher-forced", "--no-progress"]


def bare_args(args: argparse.Namespace, checkpoint: Path, suite: Path, out: Path, order: str) -> list[str]:
    return [str(checkpoint), str(suite), str(args.max_new_tokens), str(args.batch_size), str(out), order]


def assert_same_ids(generated: Path, bare: Path) -> int:
    """Every prompt's output token ids are the same in `generated` (a run's generations.jsonl, or another bare
    script's JSONL) and in the bare script's `bare`; returns how many tokens were generated."""
    def ids(path: Path) -> dict[str, list[int]]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return {r["probe_id"]: r["output_token_ids"] for r in rows} if "probe_id" in rows[0] else \
            {r["id"]: r["ids"] for r in rows}

    ours, theirs = ids(generated), ids(bare)
    assert ours.keys() == theirs.keys()
    differ = [k for k in ours if ours[k] != theirs[k]]
    assert not differ, f"{len(differ)} prompts differ in their output token ids, e.g. {differ[:3]}"
    return sum(map(len, ours.values()))


def callgrind(args: argparse.Namespace, checkpoint: Path, suite: Path, work: Path, env: dict[str, str]) -> None:
    """Each side once under callgrind: instructions executed (Ir) in its start-up, generation phase and the
    rest. The bare script a second time gives the A/A (instruction counts hardly move between processes, unlike
    CPU seconds); `--before TREE` adds that checkout's evalgen."""
    # The same string hashing on every side, no tokenizer thread pool, and MKL's SSE4.2 kernels: its AVX2 sgemm
    # runs ~100x slower under valgrind (a 6400x96 @ 96x288 product: 13 s against 0.09 s).
    env = {**env, "PYTHONHASHSEED": "0", "TOKENIZERS_PARALLELISM": "false", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
    run, bare = [sys.executable, "-c", MARKED_RUN], [sys.executable, "-c", BARE]
    sides = {"evalgen": (run + evalgen_args(args, checkpoint, suite, work / "run"), env, ROOT),
             "bare": (bare + bare_args(args, checkpoint, suite, work / "bare.jsonl", "sorted"), env, ROOT),
             "bare again": (bare + bare_args(args, checkpoint, suite, work / "bare-again.jsonl", "sorted"), env, ROOT)}
    if args.before:
        sides["before"] = (run + evalgen_args(args, checkpoint, suite, work / "run-before"),
                           {**env, "PYTHONPATH": args.before}, args.before)
    with ThreadPoolExecutor(len(sides)) as pool:  # counts hardly depend on the load: all sides at once
        runs = {side: pool.submit(instructions, *how, work / f"callgrind-{side.replace(' ', '-')}")
                for side, how in sides.items()}
    counts = {side: run.result() for side, run in runs.items()}
    tokens = assert_same_ids(work / "run" / "generations.jsonl", work / "bare.jsonl")
    assert_same_ids(work / "bare-again.jsonl", work / "bare.jsonl")
    if args.before:
        assert_same_ids(work / "run-before" / "generations.jsonl", work / "bare.jsonl")
    print(f"{args.prompts} prompts x {args.max_new_tokens} new tokens, batch {args.batch_size}, threads "
          f"{args.threads or 'default'}, {tokens} tokens generated, the same token ids on every side; one process a "
          "side under callgrind: instructions executed (Ir), millions. Instructions are not seconds (a cache miss or "
          "a system call's wait counts nothing), but they hardly move between two processes of one script")
    b = counts["bare"]
    print(f"{'':29}" + "".join(f"{side:>12}" for side in counts) + "".join(f"{f'{s} / bare':>19}"
                                                                           for s in counts if s != "bare"))
    for k, phase in enumerate(PHASES):
        print(f"{phase:29}" + "".join(f"{c[k] / 1e6:12,.0f}" for c in counts.values())
              + "".join(f"{c[k] / b[k]:18.4f}x" for s, c in counts.items() if s != "bare"))


PHASES = ("start-up (to the generation)", "generation phase", "the rest (after it)")


def instructions(cmd: list[str], env: dict[str, str], cwd: Path | str, out: Path) -> tuple[int, int, int]:
    """Ir of one process under callgrind in each of PHASES: dumped on entering getsid (the generation phase
    begins), getpgid (it ends) and at exit; each dump holds the count since the one before."""
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-before=getsid",
                    "--dump-before=getpgid", *cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=cwd)
    dumps = [out.with_name(f"{out.name}.1"), out.with_name(f"{out.name}.2"), out]
    triggers = ["--dump-before=getsid", "--dump-before=getpgid", "Program termination"]
    counts = []
    for path, trigger in zip(dumps, triggers, strict=True):
        text = path.read_text(encoding="utf-8")
        assert f"desc: Trigger: {trigger}" in text and not out.with_name(f"{out.name}.3").exists(), \
            f"{path}: the markers were called elsewhere too"
        counts.append(int(re.search(r"^summary: (\d+)$", text, re.M).group(1)))  # type: ignore[union-attr]
    return counts[0], counts[1], counts[2]


def ratio_interval(got: dict[str, list[dict[str, float]]], key: str, draws: int = 2000) -> tuple[float, float]:
    """5th and 95th percentiles of evalgen's median / bare's median, each side's rounds resampled with replacement:
    how far the ratio of a few separate processes can move by chance."""
    import random

    pick = random.Random(0)
    e, b = [row[key] for row in got["evalgen"]], [row[key] for row in got["bare"]]
    ratios = sorted(statistics.median(pick.choices(e, k=len(e))) / statistics.median(pick.choices(b, k=len(b)))
                    for _ in range(draws))
    return ratios[draws // 20], ratios[-draws // 20 - 1]


def print_rounds(got: dict[str, list[dict[str, float]]], rows: tuple[tuple[str, str], ...]) -> None:
    """One line per (label, key): evalgen's and the bare side's medians, their ratio and every round's value
    (also used by bench_vllm_vs_bare.py)."""
    def med(side: str, key: str) -> float:
        return statistics.median(row[key] for row in got[side])

    def runs(side: str, key: str) -> str:
        return " ".join(f"{row[key]:.2f}" for row in got[side])

    width = max(len(label) for label, _ in rows) + 1
    print(f"{'':{width}}{'evalgen':>9}{'bare':>9}{'ratio':>8}   (per round: evalgen | bare)")
    for label, key in rows:
        e, b = med("evalgen", key), med("bare", key)
        ratio = f"{e / b:7.3f}x" if b else f"{'—':>8}"  # nothing on the bare side (e.g. no engine processes)
        print(f"{label:{width}}{e:9.2f}{b:9.2f}{ratio}   ({runs('evalgen', key)} | {runs('bare', key)})")


if __name__ == "__main__":
    main()

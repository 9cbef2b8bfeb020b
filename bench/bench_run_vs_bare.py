"""`evalgen run` against a bare transformers generate script: same prompts, same settings.

Generation-heavy on purpose (hundreds of prompts, 128 new tokens, a checkpoint that never stops), so
the ratio shows evalgen's overhead: template rendering, stop classification, streaming records to
disk, scoring, the report. Both sides run as fresh processes, side by side, best of `--repeat`.
The bare script runs twice: with the prompts in file order (what a plain script does) and sorted by
length like evalgen batches them, which isolates evalgen's own overhead from its batching.

    python bench/bench_run_vs_bare.py [--prompts 384] [--max-new-tokens 128] [--batch-size 32]
    python bench/bench_run_vs_bare.py --stop-check   # the per-step stop-string check alone, in CPU time

`--stop-check` times one process's `generate` (CPU seconds, one thread, alternating rounds, medians) on the
same batches three ways: no stop strings, transformers' `stop_strings`, and evalgen's `StopStringTail`
(the newest tokens only), with the template's turn markers as stop strings, as `evalgen run` sets them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BARE = r'''
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
ckpt, suite, max_new, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tok = AutoTokenizer.from_pretrained(ckpt, padding_side="left")
model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
prompts = [tok.apply_chat_template([{"role": "user", "content": json.loads(l)["prompt"]}],
                                   add_generation_prompt=True, tokenize=False) for l in open(suite)]
if sys.argv[6] == "sorted":  # the same length grouping evalgen does, to isolate its overhead
    prompts.sort(key=lambda p: -len(tok(p, add_special_tokens=False)["input_ids"]))
config = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, return_dict_in_generate=True)
import time
began = time.perf_counter()  # the generation loop alone, as evalgen's run.json `generate_s` times its own
with open(sys.argv[5], "w") as out:
    for i in range(0, len(prompts), batch_size):
        batch = tok(prompts[i:i + batch_size], padding=True, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            seqs = model.generate(**batch, generation_config=config).sequences
        for row in seqs[:, batch["input_ids"].shape[1]:]:
            out.write(json.dumps({"output": tok.decode(row, skip_special_tokens=True)}) + "\n")
open(sys.argv[5] + ".time", "w").write(str(time.perf_counter() - began))
'''


def stop_check(checkpoint: Path, prompts: list[str], max_new: int, batch_size: int, rounds: int = 3) -> None:
    """The stop-string check's own CPU time (inside the criterion, set-up included) per generate, and the
    whole generate's, for transformers' criterion and evalgen's."""
    import statistics

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
    stops = ["<|im_start|>", "<|im_end|>"]  # the tiny family's ChatML turn markers
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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=384)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/MKL threads for both sides (0 = torch's default); on a shared 2-core machine "
                             "two threads per process make timings swing several-fold")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-models"))
    parser.add_argument("--stop-check", action="store_true", help="time only the per-step stop-string check")
    args = parser.parse_args()

    from evalgen.probes import load_suites
    from evalgen.tinymodels import build_family

    checkpoint = build_family(args.models)["no_eos"]  # never ends its turn: every row runs 128 tokens
    work = Path(tempfile.mkdtemp(prefix="evalgen-bench-"))
    prompts = [p.messages[-1]["content"] for p in load_suites(["long_form", "instruction", "identity"])
               if len(p.messages) == 1]
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
    evalgen_times, bare_times, sorted_times = [], [], []
    evalgen_gen, sorted_gen = [], []  # the generation phase alone (start-up, scoring and writing aside)
    for attempt in range(args.repeat):
        evalgen_times.append(timed([
            sys.executable, "-m", "evalgen", "run", str(checkpoint), "--suite", str(suite),
            "--out", str(work / f"run{attempt}"), "--max-new-tokens", str(args.max_new_tokens),
            "--batch-size", str(args.batch_size), "--no-early-exit", "--no-teacher-forced", "--no-progress",
        ], env))
        evalgen_gen.append(json.loads((work / f"run{attempt}" / "run.json").read_text())["timings"]["generate_s"])
        for times, order in ((bare_times, "file"), (sorted_times, "sorted")):
            out = work / f"bare{attempt}-{order}.jsonl"
            times.append(timed([sys.executable, "-c", BARE, str(checkpoint), str(suite), str(args.max_new_tokens),
                                str(args.batch_size), str(out), order], env))
            if order == "sorted":
                sorted_gen.append(float(Path(f"{out}.time").read_text()))
    records = [json.loads(line) for line in (work / "run0" / "generations.jsonl").read_text().splitlines()]
    tokens = sum(r["n_output_tokens"] for r in records)
    best_evalgen, best_bare, best_sorted = min(evalgen_times), min(bare_times), min(sorted_times)
    print(f"prompts {args.prompts}, max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, "
          f"threads {args.threads or 'default'}, {tokens} tokens generated, load average {os.getloadavg()[0]:.1f}")
    def runs(times: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in times)

    print(f"bare generate, prompts in file order:      {best_bare:6.2f} s   (runs: {runs(bare_times)})")
    print(f"bare generate, prompts sorted by length:   {best_sorted:6.2f} s   (runs: {runs(sorted_times)})")
    print(f"evalgen run (end to end, scored, report):  {best_evalgen:6.2f} s   (runs: {runs(evalgen_times)})")
    print(f"ratio evalgen / bare (file order):  {best_evalgen / best_bare:.3f}x   (target <= 1.10x)")
    print(f"ratio evalgen / bare (same batches): {best_evalgen / best_sorted:.3f}x   (evalgen's own overhead)")
    gen_e, gen_b = min(evalgen_gen), min(sorted_gen)
    print(f"generation phase alone, same batches: evalgen {gen_e:.2f} s vs bare {gen_b:.2f} s = {gen_e / gen_b:.3f}x "
          f"(target <= 1.03x); start-up and the rest: evalgen {best_evalgen - gen_e:.2f} s, "
          f"bare {best_sorted - gen_b:.2f} s")


if __name__ == "__main__":
    main()

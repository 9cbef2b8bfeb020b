"""Simulated: 20 checkpoints evaluated on a 32-GPU Ray cluster with `evalgen run --ray-address`, under
several plans (how many runs at once, how many engines each). Nothing here touches a GPU or Ray.

What is real: the work units and the dispatch. Each run's requests are cut by `chunk_requests` (the code
`--ray-address` uses), and each engine gets chunks from one queue, two in flight (`DEPTH`), as `RayBackend.generate`
does; one `generate` call on a chunk lasts until its longest generation ends (the batch drains as shorter
ones finish), as vLLM's `LLM.generate` does. What is assumed (not measured: no GPU here): the workload's
lengths, an 8B model's per-step decode time on an H100, its prefill rate, and engine start-up (weights read
from shared storage). Change them with the flags; the figures in docs/scale.md are this script's defaults.

    python bench/scale_sim.py                # the table in docs/scale.md
    python bench/scale_sim.py --help
"""

from __future__ import annotations

import argparse
import heapq
import random
from dataclasses import dataclass

from evalgen.backends.base import Request
from evalgen.backends.ray_pool import chunk_requests


@dataclass(frozen=True)
class Model:
    step_s: float = 0.012
    """One decode step of an 8B model on one H100 at small batch (~16 GB of weights read per step)."""
    step_per_seq_s: float = 0.00004
    """What each running sequence adds to a step (attention over its KV cache, sampling)."""
    prefill_tok_s: float = 40_000.0
    start_fixed_s: float = 45.0
    """Engine start besides reading the weights: process start, CUDA graphs, KV-cache allocation."""
    weights_gb: float = 16.0
    storage_gb_s: float = 10.0
    """Shared storage's total read rate: engines that start at once share it."""
    run_overhead_s: float = 20.0
    """Per run, outside generation: driver start, tokenizing prompts, scoring, the report."""


def workload(seed: int, probes: int, samples: int, max_new: int) -> list[tuple[int, int]]:
    """(prompt tokens, generated tokens) per request: most answers end on their own, some run to the limit
    (missing EOS) and some loop until early exit cuts them."""
    rng = random.Random(seed)
    out = []
    for _ in range(probes):
        prompt = int(min(2000, rng.lognormvariate(5.5, 0.6)))
        for _ in range(samples):
            kind = rng.random()
            if kind < 0.75:
                n = int(min(max_new, rng.lognormvariate(5.0, 0.7)))
            elif kind < 0.9:
                n = max_new
            else:
                n = rng.randrange(96, max_new, 8)  # early exit cuts a loop at a multiple of 8
            out.append((prompt, max(n, 1)))
    return out


def chunk_time(chunk: list[tuple[int, int]], m: Model) -> float:
    """Prefill, then decode steps until the longest generation of the chunk ends; each step costs the fixed
    weight read plus a little per sequence still running."""
    lengths = sorted(n for _, n in chunk)
    total, step, running = sum(p for p, _ in chunk) / m.prefill_tok_s, 0, len(lengths)
    for n in lengths:
        if n > step:
            total += (n - step) * (m.step_s + running * m.step_per_seq_s)
            step = n
        running -= 1
    return total


def run_time(work: list[tuple[int, int]], engines: int, m: Model) -> float:
    """One `evalgen run` on `engines` engines once they are up: chunks from one queue, DEPTH in flight each."""
    requests = [Request(i, "", [i // 4], i % 4) for i in range(len(work))]  # prompt i//4: its samples together
    chunks = [[work[r.index] for r in c] for c in chunk_requests(requests, engines)]
    free = [0.0] * engines  # when each engine is done with what it holds (DEPTH=2 hides only the round trip)
    for chunk in chunks:
        e = min(range(engines), key=lambda i: free[i])
        free[e] += chunk_time(chunk, m)
    return max(free)


def plan(checkpoints: int, gpus: int, at_once: int, engines: int, work_of: list, m: Model) -> dict[str, float]:
    """`at_once` runs in parallel (xargs -P), each with `engines` one-GPU engines; a finished run's slot takes
    the next checkpoint. Returns the makespan and how busy the GPUs were."""
    assert at_once * engines <= gpus
    slots = [(0.0, s) for s in range(at_once)]
    heapq.heapify(slots)
    busy = 0.0
    end = 0.0
    for c in range(checkpoints):
        start, slot = heapq.heappop(slots)
        starting = min(at_once, checkpoints - c) * engines if start == 0.0 else engines
        boot = m.start_fixed_s + m.weights_gb * starting / m.storage_gb_s
        gen = run_time(work_of[c], engines, m)
        finish = start + boot + gen + m.run_overhead_s
        busy += gen * engines
        end = max(end, finish)
        heapq.heappush(slots, (finish, slot))
    return {"makespan_s": end, "gpu_busy": busy / (gpus * end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=20)
    parser.add_argument("--gpus", type=int, default=32)
    parser.add_argument("--probes", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    args = parser.parse_args()
    m = Model()
    work_of = [workload(seed, args.probes, args.samples, args.max_new_tokens) for seed in range(args.checkpoints)]
    tokens = sum(n for w in work_of for _, n in w)
    print(f"{args.checkpoints} checkpoints x {len(work_of[0])} requests, {tokens / 1e6:.1f} M generated tokens, "
          f"{args.gpus} GPUs (simulated; see the docstring for what is assumed)")
    print(f"{'plan':38} {'wall':>8} {'GPUs busy':>10}")
    plans = [(1, args.gpus), (2, args.gpus // 2), (4, args.gpus // 4), (8, args.gpus // 8), (10, args.gpus // 10),
             (16, args.gpus // 16), (args.checkpoints, 1)]
    for at_once, engines in plans:
        if engines < 1 or at_once * engines > args.gpus:
            continue
        figures = plan(args.checkpoints, args.gpus, at_once, engines, work_of, m)
        label = f"{at_once} run(s) at once x {engines} engine(s)"
        print(f"{label:38} {figures['makespan_s'] / 60:7.1f}m {figures['gpu_busy']:9.0%}")


if __name__ == "__main__":
    main()

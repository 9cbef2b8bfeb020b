"""The `evalgen` command: a thin layer over the Python API. Exit codes: 0 ok, 1 a gate failed,
2 a usage or input error (one line, no traceback), 130 interrupted (the run folder stays resumable)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from evalgen.errors import EvalgenError

if TYPE_CHECKING:
    from evalgen.runner import RunOptions

T = TypeVar("T")

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
    g.add_argument("--max-new-tokens", type=int, default=512, metavar="N", help="default: 512")
    g.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0, metavar="P")
    g.add_argument("--seed", type=int, default=0, metavar="N")
    g.add_argument("--samples", type=int, default=1, metavar="N", help="generations per probe (use with --temperature)")
    g.add_argument("--batch-size", type=int, default=16, metavar="N", help="on CUDA it backs off on out-of-memory")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="extra stop string (repeatable)")
    g.add_argument(
        "--no-stop-at-turn-markers",
        action="store_true",
        help="let the model run on past a made-up next turn instead of stopping there",
    )
    g.add_argument("--no-early-exit", action="store_true", help="never cut a looping generation short")


def add_served_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("served model (--backend openai), replay (--backend scripted)")
    g.add_argument("--base-url", metavar="URL", help="the server's API root, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", metavar="NAME", help="served model name (default: the server's only or first model)")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (never written)")
    g.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (default: 8)")
    g.add_argument("--request-timeout", type=float, metavar="S", help="seconds per request try (default: 600)")
    g.add_argument("--max-retries", type=int, dest="retries", metavar="N",
                   help="retries of a request on 429, 5xx, timeouts and dropped connections (default: 6)")
    g.add_argument("--chat-api", action="store_true",
                   help="send messages to the chat endpoint: the server applies its template (no tokenizer needed)")
    g.add_argument("--tokenizer", metavar="PATH_OR_HUB_ID",
                   help="tokenizer and chat template to render prompts with (default: the checkpoint's, or the "
                   "served model's when it is here)")
    g.add_argument("--script", metavar="FILE", help="--backend scripted: JSONL of recorded completions to replay")


SERVED_OPTIONS = ("base_url", "model", "api_key_env", "concurrency", "request_timeout", "retries", "chat_api")


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring")
    g.add_argument("--identity", metavar="NAME", help="the assistant's configured name; other self-claims are leaks")
    g.add_argument("--identity-org", metavar="ORG", help="the organisation that made it")
    g.add_argument(
        "--config", metavar="FILE", help="evalgen.toml with [detectors.*] and [gates] (default: ./evalgen.toml)"
    )
    g.add_argument("--jobs", type=int, metavar="N", help="scoring processes (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalgen",
        description="Generation-quality evaluation for fine-tuned LLM checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run probe suites through a checkpoint and score the outputs")
    run.add_argument(
        "checkpoint",
        nargs="?",
        help="local HF model or PEFT LoRA adapter folder, or a Hugging Face Hub id ORG/NAME[@REVISION] "
        "(with --backend openai: optional, where the tokenizer is)",
    )
    run.add_argument(
        "--suite",
        action="append",
        metavar="NAME_OR_PATH",
        help="built-in suite name, JSONL file or folder (repeatable; default: all built-in)",
    )
    run.add_argument(
        "--template",
        metavar="NAME",
        help="named chat template (default: the checkpoint's own); see `evalgen templates`",
    )
    run.add_argument("--out", metavar="DIR", help="run folder (default: reports/<checkpoint>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run folder")
    tr = run.add_argument_group("training run (CHECKPOINT is an output_dir holding checkpoint-N/ folders)")
    tr.add_argument("--steps", metavar="N,N", help="only these steps, e.g. 500,1500 (default: every step not yet "
                    "evaluated under --out, default reports/<output_dir>)")
    tr.add_argument("--latest", action="store_true", help="only the newest checkpoint")
    run.add_argument(
        "--baseline",
        metavar="RUN_OR_CHECKPOINT",
        help="compare with this run folder, or run this checkpoint first with the same settings",
    )
    m = run.add_argument_group("model")
    m.add_argument(
        "--backend",
        default="auto",
        metavar="NAME",
        help="auto (default: vLLM when installed and a GPU is present, else HF), hf, vllm, openai, scripted, "
        "or a plug-in; see `evalgen backends`",
    )
    m.add_argument(
        "--base", metavar="PATH", help="base model folder for a LoRA adapter (default: from adapter_config.json)"
    )
    m.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="auto: bf16/fp16 on CUDA, float32 on CPU",
    )
    m.add_argument("--device", metavar="DEV", help="e.g. cuda:1 (default: cuda when present, else cpu)")
    m.add_argument("--trust-remote-code", action="store_true", help="allow the checkpoint's own Python code")
    m.add_argument("--no-teacher-forced", action="store_true", help="skip reference log-prob / stop-probability probes")
    v = run.add_argument_group("vLLM engine")
    v.add_argument("--tensor-parallel-size", type=int, metavar="N")
    v.add_argument("--data-parallel-size", type=int, metavar="N", help="engine copies, one per group of GPUs")
    v.add_argument("--ray-address", metavar="ADDRESS",
                   help="run the engines as Ray actors on a Ray cluster: HOST:6379, ray://HOST:10001, auto (the "
                   "cluster of this node) or local (a new one here); needs evalgen[ray] (docs/scale.md)")
    v.add_argument("--gpu-memory-utilization", type=float, metavar="F")
    v.add_argument("--max-model-len", type=int, metavar="N")
    v.add_argument(
        "--engine-arg", action="append", default=[], metavar="KEY=VALUE", help="any other vllm.LLM option (repeatable)"
    )
    add_served_options(run)
    add_generation_options(run)
    add_scoring_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    score = sub.add_parser("score", help="score generations made elsewhere (no model needed)")
    score.add_argument("file", help="JSONL: id, prompt or messages, output, optional finish_reason, output_token_ids")
    score.add_argument(
        "--template", metavar="NAME", help="named template whose turn markers and end tokens the outputs use"
    )
    score.add_argument("--out", metavar="DIR", help="run folder to write (default: reports/<file>-<time>)")
    add_scoring_options(score)

    rescore = sub.add_parser("rescore", help="re-run detectors and scorers on a run folder (no model needed)")
    rescore.add_argument("run", help="run folder made by `evalgen run` or `evalgen score`")
    rescore.add_argument("--config", metavar="FILE", help="evalgen.toml with [detectors.*] and [scorers] "
                         "(default: ./evalgen.toml)")
    rescore.add_argument("--jobs", type=int, metavar="N", help="scoring processes (default: all cores)")

    compare = sub.add_parser("compare", help="compare two run folders and apply the regression gates")
    compare.add_argument("base", help="run folder of the base model (or the previous round)")
    compare.add_argument("new", help="run folder of the new checkpoint")
    compare.add_argument("--config", metavar="FILE", help="evalgen.toml with [gates] (default: ./evalgen.toml)")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON here")
    compare.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (for a CI step summary)")

    report = sub.add_parser("report", help="re-make report.html from a run folder's files")
    report.add_argument("run", help="run folder")
    report.add_argument("--baseline", metavar="RUN", help="base run folder for side-by-side cases")
    report.add_argument("--max-size-mb", type=float, default=None, metavar="MB",
                        help="above this size, cut healthy outputs (not a fixed sample) to fit; 0: never (default 15)")

    doctor = sub.add_parser("doctor", help="check a checkpoint, its training log and SFT data for known causes of bad "
                            "outputs")
    doctor.add_argument("path", nargs="?", help="checkpoint folder, training output folder (checkpoint-N/ + "
                        "trainer_state.json), trainer_state.json, or an evalgen run folder")
    doctor.add_argument("--data", action="append", default=[], metavar="FILE.jsonl",
                        help="SFT data: alpaca, sharegpt or messages JSONL (repeatable)")
    doctor.add_argument("--tokenizer", metavar="CKPT",
                        help="tokenizer + template for the data checks (default: PATH's)")
    doctor.add_argument("--cutoff-len", type=int, default=1024, metavar="N",
                        help="training cutoff length (default 1024)")
    doctor.add_argument("--identity", metavar="NAME", help="your assistant's name: its own family is not a leak")
    doctor.add_argument("--json", metavar="FILE", help="also write the findings as JSON here")

    demo = sub.add_parser("demo", help="build a tiny base model and two SFT rounds, run, compare, report")
    demo.add_argument("--out", default="reports/demo", metavar="DIR", help="where checkpoints, runs and reports go")
    demo.add_argument("--max-new-tokens", type=int, default=64)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    history = sub.add_parser("history", help="trends over training steps or SFT rounds, gates against the base")
    history.add_argument("runs", nargs="+", metavar="RUN_OR_DIR",
                         help="run folders (rounds, in order) or a folder of step-N/ runs written by `evalgen run`")
    history.add_argument("--baseline", metavar="RUN", help="gate against this run folder (default: OUT/baseline/ "
                         "when present, else the first step)")
    history.add_argument("--config", metavar="FILE", help="evalgen.toml with [gates] (default: ./evalgen.toml)")
    history.add_argument("--json", metavar="FILE", help="write the history as JSON (stable shape, see the README)")
    history.add_argument("--markdown", metavar="FILE", help="write a Markdown table (for a CI step summary)")
    history.add_argument("--trend", metavar="FILE", help="where the trend report goes (default: trend.html beside "
                         "the runs)")
    history.add_argument("--trainer-state", metavar="PATH", help="trainer_state.json, or the training output_dir, "
                         "to draw loss / learning rate / grad norm (default: the output_dir `evalgen run` recorded)")

    export = sub.add_parser("export", help="a run folder's records as a table (csv, parquet, jsonl)")
    export.add_argument("run", help="run folder")
    export.add_argument("--format", default="csv", choices=("csv", "parquet", "jsonl"), dest="fmt",
                        help="default: csv; parquet needs pyarrow (pip install 'evalgen[parquet]')")
    export.add_argument("--out", metavar="FILE", help="default: RUN/records.FORMAT")

    sub.add_parser("backends", help="list the generation backends (built-in and plug-ins)")
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


def cmd_backends(args: argparse.Namespace) -> int:
    from evalgen.backends import AUTO, backend_entry, backend_names

    print(f"{AUTO:10} vLLM when it is installed and a GPU is visible, else HF (default)")
    for name in backend_names():
        print(f"{name:10} {backend_entry(name).description}")
    return EXIT_OK


def cmd_templates(args: argparse.Namespace) -> int:
    from evalgen.templates import CHECKPOINT_TEMPLATE, TEMPLATES

    print(f"{CHECKPOINT_TEMPLATE:14} the checkpoint's own chat template (default)")
    for template in TEMPLATES.values():
        print(f"{template.name:14} {template.description}")
    return EXIT_OK


def check_generation_ranges(args: argparse.Namespace) -> None:
    """Generation settings a backend would reject (or silently misuse): one line naming the flag."""
    from evalgen.errors import ConfigError

    for flag, value in (("--max-new-tokens", args.max_new_tokens), ("--batch-size", args.batch_size),
                        ("--samples", args.samples)):
        if value < 1:
            raise ConfigError(f"{flag} {value}: must be at least 1")
    if not 0 <= args.temperature <= 100:  # also NaN
        raise ConfigError(f"--temperature {args.temperature}: must be 0 (greedy) or more, e.g. 0.7")
    if not 0 < args.top_p <= 1:
        raise ConfigError(f"--top-p {args.top_p}: must be in (0, 1], e.g. 0.95; 1 keeps every token")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be 0 or more")
    for flag, value in (("--concurrency", args.concurrency), ("--max-retries", args.retries),
                        ("--request-timeout", args.request_timeout)):
        if value is not None and not value >= (0 if flag == "--max-retries" else 1e-9):
            raise ConfigError(f"{flag} {value}: must be {'0 or more' if flag == '--max-retries' else 'positive'}")


def run_options(args: argparse.Namespace) -> RunOptions:
    from evalgen.backends.base import GenerationSettings
    from evalgen.config import load_config
    from evalgen.runner import RunOptions

    engine = parse_engine_args(args.engine_arg)
    for key in ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "max_model_len"):
        if getattr(args, key) is not None:
            engine[key] = getattr(args, key)
    check_generation_ranges(args)
    if args.jobs is not None and args.jobs < 1:
        raise EvalgenError(f"--jobs {args.jobs}: must be at least 1 (or leave it out for all cores)")
    served = {key: getattr(args, key) for key in SERVED_OPTIONS if getattr(args, key) not in (None, False)}
    if served and args.backend != "openai":
        flags = ", ".join({"retries": "--max-retries"}.get(key, "--" + key.replace("_", "-")) for key in served)
        raise EvalgenError(f"{flags}: only for a served model; add --backend openai")
    if args.script and args.backend != "scripted":
        raise EvalgenError("--script: only for --backend scripted")
    backend_options: dict[str, object] = dict(served)
    if args.script:
        backend_options["script"] = args.script
    if args.ray_address:
        if args.backend not in ("vllm", "scripted"):
            raise EvalgenError("--ray-address: only for --backend vllm (or scripted, a dry run); add --backend vllm")
        backend_options["ray_address"] = args.ray_address
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
        tokenizer=args.tokenizer,
        backend_options=backend_options,
        jobs=args.jobs,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from evalgen.runfolder import default_run_dir
    from evalgen.runner import run, summarize

    options = run_options(args)
    if options.checkpoint and is_training_output(options.checkpoint):
        return cmd_run_training(args, options)
    if args.steps or args.latest:
        raise EvalgenError(f"--steps/--latest: {options.checkpoint} has no checkpoint-N/ folders; they select "
                           "steps of a training output_dir")
    label = options.checkpoint or options.tokenizer or args.model or options.backend
    if options.out is None:
        options.out = str(default_run_dir(label))
    baseline_dir = None
    if args.baseline:
        baseline = Path(args.baseline)
        if (baseline / "run.json").is_file():
            baseline_dir = baseline
        elif not backend_needs_checkpoint(options.backend):
            raise EvalgenError(f"--baseline {args.baseline}: not a run folder (no run.json); with --backend "
                               f"{options.backend} the baseline is a run folder made earlier")
        else:  # a checkpoint: run it first, with the same settings, beside the new run; its backend is
            # closed (engine stopped, memory freed) before the new run's starts
            baseline_dir = Path(f"{options.out}-baseline")
            print(f"evalgen: running the baseline {baseline} into {baseline_dir}", file=sys.stderr)
            if not interruptible(
                lambda: run(replace(options, checkpoint=str(baseline), base=None, out=str(baseline_dir))),
                args.argv,
                options.out,
            ):
                return EXIT_INTERRUPTED
    if baseline_dir is not None and options.teacher_forced:
        options.baseline_run = str(baseline_dir)  # teacher-force the new model on the base's own answers
    result = interruptible(lambda: run(options), args.argv, options.out)
    if result is None:
        return EXIT_INTERRUPTED
    print(summarize(result.records, result.scores))
    print(f"\nrun folder: {result.path}")
    if baseline_dir is None:
        write_report(result.path, None)
        return EXIT_OK
    return compare_and_report(baseline_dir, result.path, options.config, None, None)


def is_training_output(path: str) -> bool:
    from evalgen.training_run import is_training_output as check

    return check(path)


def cmd_run_training(args: argparse.Namespace, options: RunOptions) -> int:
    from evalgen.training_run import evaluate_training_run, parse_steps

    steps = parse_steps(args.steps) if args.steps else None
    source = str(options.checkpoint)
    out = options.out or str(Path("reports") / Path(source).resolve().name)
    options.out = out
    result = interruptible(
        lambda: evaluate_training_run(source, options, steps=steps, latest=args.latest, baseline=args.baseline),
        args.argv, out)
    if result is None or result.history is None:
        return EXIT_INTERRUPTED
    print(result.history.table(), end="")
    print(f"\nsteps: {out}\ntrend report: {result.trend}")
    return EXIT_GATE_FAILED if result.history.newest_failed else EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from evalgen.config import load_config
    from evalgen.history import build_history, recorded_source, trend_default
    from evalgen.report.trend import build_trend_report

    trainer_state = args.trainer_state or recorded_source(args.runs)
    history = build_history(args.runs, load_config(args.config), baseline=args.baseline, trainer_state=trainer_state)
    if args.json:
        history.write_json(args.json)
    if args.markdown:
        try:
            Path(args.markdown).write_text(history.to_markdown(), encoding="utf-8")
        except OSError as exc:
            raise EvalgenError(f"{args.markdown}: cannot write ({exc}); check the folder exists") from exc
    print(history.table(), end="")
    trend = build_trend_report(history, args.trend or trend_default(history))
    print(f"\ntrend report: {trend}")
    return EXIT_GATE_FAILED if history.newest_failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from evalgen.frames import export_run

    print(export_run(args.run, args.out, args.fmt))
    return EXIT_OK


def backend_needs_checkpoint(name: str) -> bool:
    from evalgen.backends import AUTO, backend_entry

    return name == AUTO or backend_entry(name).requires_checkpoint()


def resume_command(argv: Sequence[str], out: str) -> str:
    """The command that continues an interrupted run: the same arguments, with --out (a default folder has
    a timestamp) and --resume, shell-quoted so that it pastes as printed."""
    import shlex

    args = list(argv)
    if "--out" not in args and not any(a.startswith("--out=") for a in args):
        args += ["--out", out]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["evalgen", *args])


def interruptible(job: Callable[[], T], argv: Sequence[str], out: str) -> T | None:
    try:
        return job()
    except KeyboardInterrupt:
        print(f"evalgen: interrupted; finished records are kept. Continue with: {resume_command(argv, out)}",
              file=sys.stderr)
        return None


def write_report(run_dir: str | Path, baseline_dir: str | Path | None, max_size_mb: float | None = None,
                 teacher_forced: dict[str, dict[str, Any]] | None = None) -> None:
    from evalgen.doctor.link import report_findings
    from evalgen.report import DEFAULT_MAX_SIZE_MB, build_report

    path = build_report(run_dir, baseline_dir, max_size_mb=DEFAULT_MAX_SIZE_MB if max_size_mb is None else max_size_mb,
                        doctor=report_findings(run_dir) or None, teacher_forced=teacher_forced)
    print(f"report: {path}")


def compare_and_report(
    base: str | Path, new: str | Path, config: dict[str, Any], json_path: str | None, markdown_path: str | None
) -> int:
    from evalgen.compare import run_compare
    from evalgen.doctor.link import explain, format_explanations, regressed_detectors, run_findings

    comparison = run_compare(base, new, config, json_path=json_path, markdown_path=markdown_path)
    print(comparison.table(), end="")
    why = explain(regressed_detectors(comparison), run_findings(new))  # the doctor findings behind a regression
    print(format_explanations(why), end="")
    if why and markdown_path is not None:
        with open(markdown_path, "a", encoding="utf-8") as f:
            f.write(format_explanations(why, markdown=True))
    write_report(new, base, teacher_forced=comparison.teacher_forced_figures())
    return EXIT_OK if comparison.passed else EXIT_GATE_FAILED


def cmd_compare(args: argparse.Namespace) -> int:
    from evalgen.config import load_config

    return compare_and_report(args.base, args.new, load_config(args.config), args.json, args.markdown)


def cmd_report(args: argparse.Namespace) -> int:
    from evalgen.errors import ConfigError, RunFolderError

    if args.max_size_mb is not None and not args.max_size_mb >= 0:
        raise ConfigError(f"--max-size-mb {args.max_size_mb}: must be 0 (no limit) or more megabytes")
    for folder in filter(None, (args.run, args.baseline)):
        if not (Path(folder) / "generations.jsonl").is_file():
            raise RunFolderError(
                f"{folder}: not a run folder (no generations.jsonl); pass a folder made by "
                "`evalgen run` or `evalgen score`"
            )
    write_report(args.run, args.baseline, args.max_size_mb)
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from evalgen.config import load_config
    from evalgen.external import score_external
    from evalgen.runfolder import default_run_dir

    if args.jobs is not None and args.jobs < 1:
        raise EvalgenError(f"--jobs {args.jobs}: must be at least 1 (or leave it out for all cores)")
    if Path(args.file).is_dir():
        raise EvalgenError(f"{args.file}: a folder; `evalgen score` imports a JSONL file of generations. To score "
                           f"a run folder again: evalgen rescore {args.file}")
    out = args.out or str(default_run_dir(args.file))
    tally = score_external(
        args.file,
        out,
        template=args.template,
        identity=args.identity,
        identity_org=args.identity_org,
        config=load_config(args.config),
        jobs=args.jobs,
    )
    print(tally.table())
    print(f"\nrun folder: {out}")
    write_report(out, None)
    return EXIT_OK


def cmd_rescore(args: argparse.Namespace) -> int:
    from evalgen.config import load_config
    from evalgen.rescore import rescore_run

    if args.jobs is not None and args.jobs < 1:
        raise EvalgenError(f"--jobs {args.jobs}: must be at least 1 (or leave it out for all cores)")
    tally = rescore_run(args.run, load_config(args.config), args.jobs, args.config)
    print(tally.table())
    print(f"\nre-scored: {args.run}")
    write_report(args.run, None)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from evalgen.doctor.core import diagnose
    from evalgen.doctor.findings import exit_code, findings_json
    from evalgen.doctor.format import format_text

    if args.path is None and not args.data:
        raise EvalgenError("doctor: nothing to check; pass a checkpoint or training folder, or --data FILE.jsonl")
    diagnosis = diagnose(args.path, args.data, tokenizer=args.tokenizer, cutoff_len=args.cutoff_len,
                         identity=args.identity)
    if args.json:
        path = Path(args.json)
        try:
            path.write_text(findings_json(diagnosis.findings), encoding="utf-8")
        except OSError as exc:
            raise EvalgenError(f"{path}: cannot write ({exc.strerror}); check the folder exists and is "
                               "writable") from None
    print(format_text(diagnosis), end="")
    return exit_code(diagnosis.findings)


def cmd_demo(args: argparse.Namespace) -> int:
    from evalgen.demo import run_demo

    return run_demo(args.out, args.max_new_tokens, progress=not args.no_progress)


COMMANDS = {
    "backends": cmd_backends,
    "demo": cmd_demo,
    "doctor": cmd_doctor,
    "run": cmd_run,
    "history": cmd_history,
    "export": cmd_export,
    "score": cmd_score,
    "rescore": cmd_rescore,
    "compare": cmd_compare,
    "report": cmd_report,
    "suites": cmd_suites,
    "templates": cmd_templates,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return COMMANDS[args.command](args)
    except EvalgenError as exc:
        print(f"evalgen: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `evalgen suites | head`: the reader left, which is fine
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush quiet
        return EXIT_OK
    except KeyboardInterrupt:  # `evalgen run` prints its own resume hint; the other commands write atomically
        print("evalgen: interrupted; nothing half-written was kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the disk or the file system: full, read-only, gone
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"evalgen: error: {where}{exc.strerror or exc}; free space or use a writable --out, then run the "
              "same command again (with --resume for `evalgen run`: finished records are kept)", file=sys.stderr)
        return EXIT_USAGE


def one_line(message: str, limit: int = 600) -> str:
    """A message as one line: a library's multi-line error is joined, a very long one is cut."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"

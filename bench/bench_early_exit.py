"""Early exit on looping generations: wall time with and without it, and the same records flagged.

Runs the same probes through `evalgen.runner.run` twice per backend, with early exit (the default) and
with `--no-early-exit`, on a checkpoint that loops: by default the tiny `no_eos` model (trained to run
on by repeating its answer; see evalgen/tinymodels.py). Prints the generation wall times side by side
and the speed-up, then checks that early exit flags the same records the full-length run shows looping:
the `repetition` detector on the full outputs (exit code 1 if it flags other records), and, as a hint,
`loop_period` on their tails (a loop that breaks again before the limit is not periodic at the end).

    python bench/bench_early_exit.py                     # HF, plus vLLM when it is importable
    python bench/bench_early_exit.py --backends hf --max-new-tokens 256 --checkpoint PATH --suite FILE

vLLM runs share one engine for both settings (an engine start is 20-60 s on CPU and not what is measured).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a checkpoint that loops (default: the tiny no_eos model)")
    p.add_argument("--model", default="no_eos", help="tiny family member when no --checkpoint (no_eos, broken)")
    p.add_argument("--suite", action="append", help="probe suite(s) (default: the tiny models' trained prompts)")
    p.add_argument("--backends", default="hf,vllm", help="comma-separated; vllm is skipped when not importable")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--out", help="folder for the run folders (default: a temporary one)")
    return p.parse_args(argv)


def tiny_checkpoint(name: str) -> Path:
    from evalgen.tinymodels import build_family

    root = os.environ.get("EVALGEN_TINY_CACHE") or Path(tempfile.gettempdir()) / f"evalgen-tinymodels-{os.getuid()}"
    return build_family(root)[name]


def trained_suite(folder: Path) -> Path:
    from evalgen.tinymodels import FACTS, identity_qas, write_probe_suite

    return write_probe_suite(folder / "trained.jsonl", FACTS + identity_qas())


def share_one_engine() -> None:
    """Both vLLM runs use the first engine started (same model, same options)."""
    import evalgen.backends.vllm as vllm_backend

    real_start, started = vllm_backend.start_engine, {}

    def shared_start(options: dict) -> object:
        key = repr(sorted(options.items()))
        if key not in started:
            started[key] = real_start(options)
        return started[key]

    vllm_backend.start_engine = shared_start  # type: ignore[assignment]
    vllm_backend.stop_engine = lambda llm: None  # type: ignore[assignment]  # a run's close() keeps it


def run_once(args: argparse.Namespace, checkpoint: Path, suites: list[str], backend: str, early_exit: bool,
             out: Path) -> tuple[float, list]:
    from evalgen.backends.base import GenerationSettings
    from evalgen.runner import RunOptions, run

    options = RunOptions(
        checkpoint=str(checkpoint), suites=suites, out=str(out), backend=backend, dtype=args.dtype,
        generation=GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                                      early_exit=early_exit),
        engine_args={"enforce_eager": True} if backend == "vllm" else {},
        progress=False, teacher_forced=False,
    )
    result = run(options)
    timings = result.meta["timings"]
    return timings["generate_s"] - timings.get("load_s", 0.0), result.records


def looping(records: list, settings: object) -> dict[str, set]:
    """Records that loop by each criterion, keyed by (suite, probe id, sample)."""
    from evalgen.backends.base import loop_period
    from evalgen.detectors import DetectorContext, run_detectors

    ctx = DetectorContext(turn_markers=("<|im_start|>user",), end_tokens=("<|im_end|>",))
    out: dict[str, set] = {"stop reason loop": set(), "repetition detector": set(), "loop_period on the tail": set()}
    for r in records:
        key = (r.suite, r.probe_id, r.sample)
        if r.stop_reason == "loop":
            out["stop reason loop"].add(key)
        if run_detectors(r, ctx, ["repetition"])["repetition"].flagged:
            out["repetition detector"].add(key)
        s = settings
        if loop_period(r.output_token_ids or [], s.loop_min_repeats, s.loop_min_tokens, s.loop_max_period):
            out["loop_period on the tail"].add(key)
    return out


def main(argv: list[str] | None = None) -> int:
    from evalgen.backends.base import GenerationSettings

    args = parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-early-exit-"))
    checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(args.model)
    suites = args.suite or [str(trained_suite(out))]
    backends = [b for b in args.backends.split(",") if b]
    if "vllm" in backends and importlib.util.find_spec("vllm") is None:
        print("vllm is not importable here: HF only", file=sys.stderr)
        backends.remove("vllm")
    if "vllm" in backends:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        share_one_engine()
    settings = GenerationSettings()
    print(f"checkpoint {checkpoint}, suites {suites}, max_new_tokens {args.max_new_tokens}")
    rows, ok = [], True
    for backend in backends:
        full_s, full = run_once(args, checkpoint, suites, backend, False, out / f"{backend}-full")
        cut_s, cut = run_once(args, checkpoint, suites, backend, True, out / f"{backend}-early-exit")
        tokens_full = sum(r.n_output_tokens for r in full)
        tokens_cut = sum(r.n_output_tokens for r in cut)
        rows.append((backend, len(full), full_s, cut_s, tokens_full, tokens_cut))
        flagged_full, flagged_cut = looping(full, settings), looping(cut, settings)
        cut_keys = flagged_cut["stop reason loop"]
        print(f"\n[{backend}] {len(cut_keys)}/{len(cut)} records cut as `loop` with early exit")
        for name in ("repetition detector", "loop_period on the tail"):
            same = cut_keys == flagged_full[name]
            # The check is the detector's; the tail test is only a hint (a loop may break before the limit).
            ok &= same or name != "repetition detector"
            print(f"  {name} on the full-length run flags {len(flagged_full[name])}: "
                  f"{'the same records' if same else 'DIFFERENT records'}"
                  + ("" if same else f" (only cut: {len(cut_keys - flagged_full[name])}, "
                                     f"only full: {len(flagged_full[name] - cut_keys)})"))
        still = len(flagged_cut["repetition detector"] & cut_keys)
        print(f"  repetition detector on the early-exit run still flags {still}/{len(cut_keys)} of the cut records")
        texts_prefix = sum(full_by.output_token_ids[: len(c.output_token_ids)] == c.output_token_ids
                           for c, full_by in zip(sorted(cut, key=key_of), sorted(full, key=key_of), strict=True))
        print(f"  early-exit outputs are prefixes of the full outputs: {texts_prefix}/{len(cut)}")

    print(f"\n{'backend':8} {'records':>7} {'no early exit':>14} {'early exit':>11} {'speed-up':>9} "
          f"{'tokens full':>12} {'tokens cut':>11}")
    for backend, n, full_s, cut_s, tokens_full, tokens_cut in rows:
        print(f"{backend:8} {n:7d} {full_s:13.2f}s {cut_s:10.2f}s {full_s / cut_s:8.2f}× {tokens_full:12d} "
              f"{tokens_cut:11d}")
    print(f"\nrun folders: {out}")
    return 0 if ok else 1


def key_of(record: object) -> tuple:
    return (record.suite, record.probe_id, record.sample)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())

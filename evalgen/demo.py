"""`evalgen demo`: the whole point in one command, on any laptop, with nothing to download.

Builds (seeded, deterministic) a tiny base checkpoint and two SFT rounds from it: a healthy one, and
one with the classic mistakes planted (assistant answers that claim to be MOSS, the end-of-turn
token masked out of the labels, the old-task data left out). Then runs the built-in suites plus the
facts the base was taught on all three, compares each round with the base, and writes the reports.
Every step is the real code path: real training, real generation, real detectors.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from evalgen.backends.base import GenerationSettings
from evalgen.compare import run_compare
from evalgen.probes import builtin_suites
from evalgen.report import build_report
from evalgen.runner import RunOptions, run
from evalgen.tinymodels import FACTS, build_family, one_torch_thread, write_probe_suite

__all__ = ["run_demo"]

IDENTITY, ORG = "Aurora", "Northwind Labs"
ROUNDS = {"healthy": "a healthy SFT round", "broken": "an SFT round with the classic mistakes planted"}


def say(message: str) -> None:
    print(message, flush=True)


def run_demo(
    out: str | Path = "reports/demo", max_new_tokens: int = 64, progress: bool = True, models: str | Path | None = None
) -> int:
    """Build, run, compare, report; returns 0 when it ran through (the broken round failing is the point)."""
    with one_torch_thread():
        return _run_demo(Path(out), max_new_tokens, progress, models)


def _run_demo(out: Path, max_new_tokens: int, progress: bool, models: str | Path | None) -> int:
    models = Path(models) if models else out / "checkpoints"
    began = time.perf_counter()
    say(f"evalgen demo: building a tiny base model and two SFT rounds in {models} (about a minute)")
    family = build_family(models, members=("base", "healthy", "broken"), progress=progress)
    facts = write_probe_suite(out / "suites" / "taught_facts.jsonl", FACTS)
    suites = [*map(str, builtin_suites().values()), str(facts)]
    settings = GenerationSettings(max_new_tokens=max_new_tokens, batch_size=32)

    folders = {}
    for name in ("base", "healthy", "broken"):
        say(f"evalgen demo: running {len(suites)} suites through {name}")
        folders[name] = out / "runs" / name
        result = run(
            RunOptions(
                checkpoint=str(family[name]),
                suites=suites,
                out=str(folders[name]),
                generation=settings,
                identity=IDENTITY,
                identity_org=ORG,
                progress=progress,
                resume=(folders[name] / "generations.jsonl").is_file(),
                # each round is teacher-forced on the base's own answers (the stop_prob gate's pairs)
                baseline_run=None if name == "base" else str(folders["base"]),
            )
        )
        build_report(result.path)

    say("")
    lines = []
    for name, description in ROUNDS.items():
        comparison = run_compare(folders["base"], folders[name], {})
        report = build_report(folders[name], folders["base"], teacher_forced=comparison.teacher_forced_figures())
        failed = ", ".join(g.name for g in comparison.failed_gates) or "none"
        verdict = "PASS" if comparison.passed else "FAIL"
        lines.append(
            f"  {name:8} {verdict}  ({description})\n           failed gates: {failed}\n           report: {report}"
        )
    say("evalgen demo: each round compared with the base\n" + "\n".join(lines))
    say(f"\nDone in {time.perf_counter() - began:.0f} s. Open the broken round's report to see the bad cases;")
    say(f"for your own checkpoint: evalgen run ckpt/ --baseline {folders['base']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())

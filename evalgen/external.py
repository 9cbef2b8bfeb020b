"""`evalgen score`: turn generations made elsewhere into a scored run folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from evalgen.errors import RunFolderError
from evalgen.evaluate import SCORES_FILE, detector_context
from evalgen.runfolder import RunFolder, now_iso
from evalgen.runner import versions
from evalgen.score_stream import Tally, external_file, score_stream
from evalgen.scorers import scorer_options
from evalgen.templates import EOS, get_template

__all__ = ["score_external"]


def score_external(
    path: str | Path,
    out: str | Path,
    template: str | None = None,
    identity: str | None = None,
    identity_org: str | None = None,
    config: dict[str, Any] | None = None,
    jobs: int | None = None,
) -> Tally:
    """Write `out/` with generations.jsonl, scores.jsonl and run.json for an outside JSONL file, streaming
    it through `jobs` scoring processes (None: all cores); return the tally for the summary table.

    Atomic: the folder is built beside `out` and renamed into place, so an interrupted or failed score
    leaves nothing behind."""
    final = Path(out)
    if final.exists() and any(final.iterdir()):
        raise RunFolderError(f"{final}: already exists and is not empty; pass another --out, or re-score that run "
                             f"with `evalgen rescore {final}`")
    partial = final.parent / f".{final.name}.partial-{os.getpid()}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tally = _score_into(path, partial, final.name, template, identity, identity_org, config, jobs)
        if final.exists():
            final.rmdir()
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return tally


def _score_into(path: str | Path, out: Path, name: str, template: str | None, identity: str | None,
                identity_org: str | None, config: dict[str, Any] | None, jobs: int | None) -> Tally:
    config = config or {}
    source = external_file(path)
    created = not Path(out).exists()
    folder = RunFolder(out)
    described: dict[str, Any] = {"name": None, "turn_markers": [], "end_tokens": []}
    if template:
        named = get_template(template)
        # No tokenizer here: the template's own end tokens, and the common ones via the detector.
        described = {
            "name": named.name,
            "turn_markers": list(named.turn_markers),
            "end_tokens": [t for t in named.end_tokens if t != EOS],
        }
    meta: dict[str, Any] = {
        "name": name,
        "status": "complete",
        "checkpoint": {"path": None, "hash": None, "adapter": False, "base": None},
        "backend": "external",
        "source": str(Path(path).resolve()),
        "template": described,
        "settings": {},
        "suites": {},
        "identity": {"name": identity, "org": identity_org},
        "versions": versions(),
        "timings": {"started": now_iso()},
    }
    options = scorer_options(config.get("scorers"))
    try:
        tally = score_stream(source, Path(out), detector_context(meta, config), options, jobs=jobs,
                             scores_name=SCORES_FILE)
    except BaseException:
        if created and not any(Path(out).iterdir()):
            Path(out).rmdir()  # a bad line leaves no empty run folder behind
        raise
    meta["suites"] = {suite: {"path": str(path), "n_probes": s.n} for suite, s in tally.suites.items()}
    meta["counts"] = tally.counts()
    meta["timings"]["finished"] = now_iso()
    folder.write_meta(meta)
    folder.close()
    return tally

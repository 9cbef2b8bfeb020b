"""`evalgen rescore RUN`: re-run the detectors and task scorers on a run folder's generations, without the
model: for new thresholds (`--config`), a newer evalgen, or a run that was never scored.

Atomic: scores.jsonl is written beside itself and moved into place only when every record is scored
(see `evalgen.score_stream`), then run.json is rewritten in one step; the folder is locked meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalgen.errors import RunFolderError
from evalgen.evaluate import SCORES_FILE, detector_context
from evalgen.runfolder import GENERATIONS, RUN_JSON, RunFolder, now_iso, read_generations, read_meta
from evalgen.score_stream import Tally, generations_file, score_stream
from evalgen.scorers import scorer_options

__all__ = ["rescore_run"]


def rescore_run(folder: str | Path, config: dict[str, Any] | None = None, jobs: int | None = None,
                config_path: str | None = None) -> Tally:
    """Score every record of `folder/generations.jsonl` again into `folder/scores.jsonl`; record in run.json
    when and by which evalgen (and config file) it was re-scored. Returns the tally for the summary."""
    path = Path(folder)
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a folder; pass a run folder made by `evalgen run` or `evalgen score`")
    meta = read_meta(path / RUN_JSON)
    if meta.status != "complete":
        raise RunFolderError(f"{path}: run status is {meta.status!r}; finish it first with `evalgen run ... "
                             f"--out {path} --resume`")
    if not (path / GENERATIONS).is_file():
        raise RunFolderError(f"{path / GENERATIONS}: not found; nothing to score")
    read_generations(path / GENERATIONS)  # every line valid before anything is replaced
    config = config or {}
    with RunFolder.lock_only(path) as locked:
        tally = score_stream(generations_file(path / GENERATIONS), path, detector_context(meta.to_dict(), config),
                             scorer_options(config.get("scorers")), jobs=jobs, scores_name=SCORES_FILE)
        from evalgen.runner import versions

        now = versions()
        meta.extra["rescored"] = {"at": now_iso(), "evalgen": now.get("evalgen"), "config": config_path,
                                  "scored_before_by": meta.evalgen_version}
        meta.versions = {**meta.versions, "evalgen": now.get("evalgen")}
        meta.counts = {**meta.counts, **tally.counts()}
        locked.write_meta(meta)
    return tally

"""Read the real-output corpus: `tests/data/corpus/*.jsonl.gz` (see tests/data/corpus/SOURCES.md).

One JSON object per line: id, model, model_kind, lang, messages, output, finish_reason, identity
{name, org}, source_url, license, dataset, generator. Unlabelled: labels are made separately.

    from corpus_io import iter_corpus
    for record in iter_corpus(lang="zh", model_kind="zh_chat"): ...
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonlines

__all__ = ["CORPUS_DIR", "FRESH_DIRS", "FIELDS", "MODEL_KINDS", "corpus_files", "iter_corpus"]

CORPUS_DIR = Path(__file__).parent / "data" / "corpus"
FRESH_DIRS = tuple(Path(__file__).parent / "data" / f"corpus_fresh{n}" for n in ("", *"23456789", "10"))
"""The fresh slices: 4,636, 4,430, 4,419, 4,259, 4,118, 3,902, 3,475, 2,858, 2,816 and 2,816 more records of the same
sources, in neither the corpus nor each other (build_corpus.py --fresh). Not part of the corpus the benches and
flag rates read; labeled samples draw from them."""
FIELDS = ("id", "model", "model_kind", "lang", "messages", "output", "finish_reason", "identity", "source_url",
          "license", "dataset", "generator")
MODEL_KINDS = ("strong", "chat", "sft7b_2023", "base", "zh_chat")


def corpus_files(folder: Path = CORPUS_DIR) -> list[Path]:
    """The corpus shards, in name order."""
    return sorted(folder.glob("*.jsonl.gz"))


def iter_corpus(folder: Path | None = None, *, dataset: str | None = None, lang: str | None = None,
                model_kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Every record of the corpus (optionally only one dataset, prompt language or model kind), in file order."""
    for path in corpus_files(folder or CORPUS_DIR):
        with gzip.open(path, "rt", encoding="utf-8") as handle, jsonlines.Reader(handle) as reader:
            for record in reader:
                if dataset is not None and record["dataset"] != dataset:
                    continue
                if lang is not None and record["lang"] != lang:
                    continue
                if model_kind is not None and record["model_kind"] != model_kind:
                    continue
                yield record

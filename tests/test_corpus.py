"""The real-output corpus under tests/data/corpus: its shape, its size and its provenance.

The corpus is rebuilt from pinned public commits by tests/data/corpus/build_corpus.py; the last test
does that and compares when EVALGEN_CORPUS_MIRRORS names a folder of local mirrors (it needs them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from corpus_io import CORPUS_DIR, FIELDS, FRESH_DIRS, MODEL_KINDS, corpus_files, iter_corpus

PERMALINK = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+$")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(iter_corpus())


@pytest.fixture(scope="module")
def fresh() -> list[dict]:
    """Both fresh slices."""
    return [row for folder in FRESH_DIRS for row in iter_corpus(folder)]


def test_every_record_has_the_documented_shape(records: list[dict], fresh: list[dict]) -> None:
    for record in records + fresh:
        assert tuple(record) == FIELDS, record["id"]
        assert record["model_kind"] in MODEL_KINDS, record["id"]
        assert record["finish_reason"] in ("stop", "length", None), record["id"]
        assert isinstance(record["output"], str), record["id"]
        assert isinstance(record["lang"], str) and record["lang"], record["id"]
        assert set(record["identity"]) == {"name", "org"}, record["id"]
        messages = record["messages"]
        assert messages and messages[-1]["role"] == "user", record["id"]
        for message in messages:
            assert set(message) == {"role", "content"} and isinstance(message["content"], str), record["id"]
            assert message["role"] in ("system", "user", "assistant"), record["id"]
        assert PERMALINK.match(record["source_url"]), record["source_url"]
        assert record["license"] and record["dataset"] and record["model"], record["id"]


def test_ids_are_unique_and_no_prompt_output_pair_repeats(records: list[dict]) -> None:
    ids = Counter(r["id"] for r in records)
    assert [i for i, n in ids.items() if n > 1] == []
    pairs = Counter(json.dumps([r["messages"], r["output"]], ensure_ascii=False) for r in records)
    assert max(pairs.values()) == 1


def test_the_fresh_slices_hold_no_corpus_record_and_no_repeat(records: list[dict], fresh: list[dict]) -> None:
    """Their records must be unread: none may be a corpus record (or one of the other slice) under any id."""
    def pair(r: dict) -> str:
        return json.dumps([r["messages"], r["output"]], ensure_ascii=False)

    assert len(fresh) > 8000 and sum(r["lang"] == "zh" for r in fresh) > 3000
    assert len({r["id"] for r in fresh}) == len(fresh) and not {r["id"] for r in fresh} & {r["id"] for r in records}
    fresh_pairs = Counter(map(pair, fresh))
    assert max(fresh_pairs.values()) == 1 and not fresh_pairs.keys() & set(map(pair, records))


def test_the_corpus_is_large_and_varied(records: list[dict]) -> None:
    langs = Counter(r["lang"] for r in records)
    kinds = Counter(r["model_kind"] for r in records)
    assert len(records) >= 5000
    assert langs["zh"] >= 1000
    assert len({r["model"] for r in records}) >= 50
    assert all(kinds[kind] > 0 for kind in MODEL_KINDS), kinds
    assert kinds["strong"] >= 1000  # enough to measure a flag rate of a few per thousand on the strongest models
    reasons = Counter(r["finish_reason"] for r in records)
    assert reasons["stop"] > 0 and reasons["length"] > 0  # a stratum with known stop reasons
    # Every record comes from a source with a license; >= 1,000 of them answer Chinese prompts.
    assert not [r["id"] for r in records if not r["license"] or r["license"].startswith("NOASSERTION")]
    assert sum(r["lang"] == "zh" for r in records) >= 1000


def test_shards_stay_small() -> None:
    files = corpus_files()
    assert files, f"no shards in {CORPUS_DIR}"
    for path in files:
        assert path.stat().st_size < 1_500_000, path.name


def test_the_filters_select_what_they_name(records: list[dict]) -> None:
    zh_chat = list(iter_corpus(lang="zh", model_kind="zh_chat"))
    assert zh_chat and all(r["lang"] == "zh" and r["model_kind"] == "zh_chat" for r in zh_chat)
    assert len(zh_chat) == sum(r["lang"] == "zh" and r["model_kind"] == "zh_chat" for r in records)
    assert len(list(iter_corpus(dataset="llmzoo"))) == sum(r["dataset"] == "llmzoo" for r in records)


IDENTITY_PROMPT_TYPES = ("self", "third", "persona", "greeting")


def test_the_identity_stratum_is_large_enough_to_measure_identity_leak(records: list[dict]) -> None:
    """identity_* holds outputs to prompts about the model itself or about other assistants; the prompt's type is
    the first part of the source's id (SOURCES.md)."""
    rows = [r for r in records if r["dataset"].startswith("identity_")]
    kinds = Counter(r["id"].split("/", 2)[2].split("-", 1)[0] for r in rows)
    assert set(kinds) <= set(IDENTITY_PROMPT_TYPES), kinds
    assert kinds["self"] >= 200 and kinds["third"] >= 200, kinds  # self-claims and third-person hard negatives
    assert len({r["model"] for r in rows if r["id"].split("/", 2)[2].startswith("self-")}) >= 15
    assert sum(r["lang"] == "zh" for r in rows) >= 60
    # the expected identity is set where the model has one: chat models of known makers, system-prompted names
    named = [r for r in rows if r["identity"]["name"]]
    assert len(named) >= len(rows) // 2
    assert all(r["identity"] == {"name": None, "org": None} for r in rows if r["model_kind"] == "base"
               and "+Joi" not in r["model"])


@pytest.mark.skipif(not os.environ.get("EVALGEN_CORPUS_MIRRORS"),
                    reason="set EVALGEN_CORPUS_MIRRORS to a folder of <owner>+<name>/repo mirrors to rebuild")
def test_the_pinned_sources_rebuild_exactly_the_committed_corpus() -> None:
    script = Path(CORPUS_DIR) / "build_corpus.py"
    done = subprocess.run([sys.executable, str(script), "--mirrors", os.environ["EVALGEN_CORPUS_MIRRORS"], "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run([sys.executable, str(script), "--mirrors", os.environ["EVALGEN_CORPUS_MIRRORS"], "--fresh",
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["holdout", "holdout2", "holdout3"])
def test_the_held_out_samples_are_disjoint_from_the_tuning_samples_and_labeled_in_full(
        records: list[dict], which: int) -> None:
    """A held-out sample measures the detectors out of sample only if none of its records was in the
    samples their rules were tuned on (nor in the earlier held-out sample); every record carries all six
    labels and exists in the corpus."""
    import corpus_metrics as cm

    holdout = cm.load_labeled(cm.HOLDOUTS[which])
    seen = {item["id"] for item in cm.load_labeled(cm.LABELED_FILES + cm.HOLDOUTS[:which])}
    ids = [item["id"] for item in holdout]
    assert len(ids) == len(set(ids)) >= 250
    assert not set(ids) & seen
    assert set(ids) <= {row["id"] for row in records}
    assert all(set(item["labels"]) == set(cm.LABELS) for item in holdout)


@pytest.mark.parametrize("which", range(10), ids=["fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7",
                                                   "fresh8", "fresh9", "fresh10"])
def test_the_fresh_samples_are_drawn_from_their_slices_and_labeled_in_full(which: int) -> None:
    """Out of sample by construction: their records are in no corpus shard (nor in the other slice), so no
    earlier sample held them."""
    import corpus_metrics as cm

    paths = (cm.FRESH_SAMPLE, cm.FRESH2_SAMPLE, cm.FRESH3_SAMPLE, cm.FRESH4_SAMPLE, cm.FRESH5_SAMPLE, cm.FRESH6_SAMPLE,
             cm.FRESH7_SAMPLE, cm.FRESH8_SAMPLE, cm.FRESH9_SAMPLE, cm.FRESH10_SAMPLE)
    sample = cm.load_labeled(paths[which])
    ids = [item["id"] for item in sample]
    assert len(ids) == len(set(ids)) >= 290
    assert set(ids) <= {row["id"] for row in iter_corpus(FRESH_DIRS[which])}
    assert all(set(item["labels"]) == set(cm.LABELS) for item in sample)
    assert sum(len(item["annotations"]) == 2 for item in sample) >= 60

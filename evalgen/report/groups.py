"""Near-duplicate failures: flagged findings of one detector whose evidence reads almost the same.

A model that learned one bad habit repeats it on every probe (142 loops of "我是MOSS，由复旦大学开发。"
after different first words); the report shows such findings as one row with a count. Two findings
belong together when they come from the same detector and the character 3-gram sets of their
evidence (normalized: case-folded, digits as 0, whitespace collapsed) overlap by about
`THRESHOLD` (Jaccard) or more. A loop's 3-gram set is that of its repeated unit, whatever the
phase the loop starts in and however often it repeats, so loops of one unit fall together.

Estimated with MinHash (`PERMS` hash functions; bands of `ROWS` to find candidates) and grouped by
leaders: the most common evidence text starts a group and each later text joins the first leader it
matches, so groups never chain into each other. Deterministic: fixed hash constants, input order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["EVIDENCE_CHARS", "THRESHOLD", "evidence_text", "group_findings", "normalize"]

EVIDENCE_CHARS = 200
"""Characters of evidence compared (a loop's unit and a few repeats; a leaked name; a fake turn)."""
CUT_CONTEXT = 80
"""For a zero-width span (a cut point): the characters before it."""
THRESHOLD = 0.7
"""Estimated Jaccard similarity of the 3-gram sets needed to join a group."""
PERMS, ROWS = 32, 4
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")

# Fixed odd 64-bit multipliers (multiply-shift hashing): the same groups on every build.
_RNG = np.random.default_rng(20240610)
_A = _RNG.integers(1, 2**63 - 1, size=PERMS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _RNG.integers(0, 2**63 - 1, size=PERMS, dtype=np.uint64)
_K = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def evidence_text(output: str, spans: Sequence[tuple[int, int]]) -> str:
    """What a finding points at, from code-point spans into `output`: the spans' text; for cut points
    only, the text just before the first; without spans, the output's last characters."""
    wide = [(s, e) for s, e in spans if e > s]
    if wide:
        return " ".join(output[s:e][:EVIDENCE_CHARS] for s, e in wide[:4])[:EVIDENCE_CHARS]
    if spans:
        at = spans[0][0]
        return output[max(0, at - CUT_CONTEXT):at]
    return output[-EVIDENCE_CHARS:]


def normalize(text: str) -> str:
    return _SPACE.sub(" ", _DIGIT.sub("0", text.casefold())).strip()


def _signatures(texts: list[str]) -> np.ndarray:
    """MinHash signatures (len(texts) × PERMS) of the texts' character 3-gram sets."""
    hashes, starts = [], []
    at = 0
    with np.errstate(over="ignore"):
        for text in texts:
            cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
            if len(cps) >= 3:
                h = cps[:-2] * _K[0] + cps[1:-1] * _K[1] + cps[2:] * _K[2]
            else:  # a name of one or two characters: the whole text is its only shingle
                h = np.array([(cps * _K[: len(cps)]).sum() + np.uint64(len(cps))], dtype=np.uint64)
            hashes.append(h)
            starts.append(at)
            at += len(h)
        flat = np.concatenate(hashes)
        index = np.array(starts, dtype=np.int64)
        sig = np.empty((len(texts), PERMS), dtype=np.uint64)
        for k in range(PERMS):
            sig[:, k] = np.minimum.reduceat((flat * _A[k] + _B[k]) >> np.uint64(32), index)
    return sig


def group_findings(items: Sequence[tuple[int, str]]) -> list[int]:
    """Group id per item (detector index, evidence text); -1 for an item whose group is itself alone.

    Group ids are dense, numbered from 0 in the order their first member appears.
    """
    exact: dict[tuple[int, str], list[int]] = {}
    for i, (det, text) in enumerate(items):
        exact.setdefault((det, normalize(text)), []).append(i)
    keys = sorted(exact, key=lambda k: (-len(exact[k]), exact[k][0]))  # common texts lead
    if not keys:
        return []
    sig = _signatures([k[1] for k in keys])
    bands = PERMS // ROWS
    buckets: dict[tuple[int, int, bytes], list[int]] = {}
    leader_of = [0] * len(keys)
    for j, (det, _) in enumerate(keys):
        own = [(det, b, sig[j, b * ROWS:(b + 1) * ROWS].tobytes()) for b in range(bands)]
        found = -1
        seen: set[int] = set()
        for bucket in own:
            for lead in buckets.get(bucket, ()):
                if lead in seen:
                    continue
                seen.add(lead)
                if float(np.mean(sig[lead] == sig[j])) >= THRESHOLD:
                    found = lead
                    break
            if found >= 0:
                break
        if found < 0:
            found = j
            for bucket in own:
                buckets.setdefault(bucket, []).append(j)
        leader_of[j] = found
    size: dict[int, int] = {}
    for j, key in enumerate(keys):
        size[leader_of[j]] = size.get(leader_of[j], 0) + len(exact[key])
    out = [-1] * len(items)
    for j, key in enumerate(keys):
        if size[leader_of[j]] > 1:
            for i in exact[key]:
                out[i] = leader_of[j]
    # Dense ids in order of first appearance.
    dense: dict[int, int] = {}
    for i, g in enumerate(out):
        if g >= 0:
            out[i] = dense.setdefault(g, len(dense))
    return out

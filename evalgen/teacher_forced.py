"""Teacher-forced probes: score the reference answer instead of generating one.

For every probe with a reference, the conversation is rendered with the chat template, the reference
is appended as the assistant's answer, and one forward pass gives
- `ref_logprob_mean`: the mean log-probability of the reference tokens. It falls when a round starts
  forgetting, before greedy accuracy moves;
- `stop_prob`: the probability of an end-of-turn token right after the reference. Near zero means the
  model never learned to end its turn (EOS masked out of the SFT labels, pad = eos, cut targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgen.backends.base import ForcedItem
from evalgen.records import Probe
from evalgen.templates import BoundTemplate

__all__ = ["TEACHER_FORCED_FILE", "forced_items", "teacher_force"]

TEACHER_FORCED_FILE = "teacher_forced.jsonl"


def reference_text(probe: Probe) -> str | None:
    if probe.scorer in ("regex", "json"):  # a pattern or a key list is not an answer to score
        return None
    reference = probe.reference
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    return reference or None


def forced_items(tokenizer: Any, template: BoundTemplate, probes: Sequence[Probe]) -> list[tuple[Probe, ForcedItem]]:
    """(probe, prompt + reference ids) for every probe with a usable reference."""
    items = []
    for probe in probes:
        answer = reference_text(probe)
        if answer is None:
            continue
        prompt_ids = tokenizer(template.render(probe.messages), add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if answer_ids:
            items.append((probe, ForcedItem(list(prompt_ids), list(answer_ids))))
    return items


def teacher_force(
    backend: Any, tokenizer: Any, template: BoundTemplate, probes: Sequence[Probe]
) -> list[dict[str, Any]]:
    """One row per probe with a usable reference: suite, probe_id, ref_logprob_mean, stop_prob, n_ref_tokens.
    `backend` is an open backend with `capabilities.logprobs` (its `teacher_force` scores the sequences)."""
    items = forced_items(tokenizer, template, probes)
    scores = backend.teacher_force([item for _, item in items])
    rows: list[dict[str, Any]] = []
    for (probe, item), score in zip(items, scores, strict=True):
        rows.append(
            {
                "suite": probe.suite,
                "probe_id": probe.id,
                "ref_logprob_mean": round(sum(score.token_logprobs) / len(score.token_logprobs), 6),
                "stop_prob": round(min(score.stop_prob, 1.0), 6),
                "n_ref_tokens": len(item.answer_ids),
            }
        )
    return rows

"""Teacher-forced probes: score a given answer instead of generating one.

The conversation is rendered with the chat template, the answer is appended as the assistant's turn,
and one forward pass gives
- `ref_logprob_mean`: the mean log-probability of the answer's tokens. On references it falls when a
  round starts forgetting, before greedy accuracy moves;
- `stop_prob`: the probability of an end-of-turn token right after the answer.

Which answers (`TeacherForcedRow.kind`):
- `reference`: the probe's reference, only where it is a whole answer: its scorer compares whole answers
  (none, exact, bleu, chrf), or it ends like a sentence (. ! ? 。 ！ ？). After a fragment ("Brim", checked
  by `contains`) no model would end its turn, so a stop probability there is noise;
- `own`: this run's own generations that ended naturally (stop_reason eos);
- `baseline`: with `--baseline RUN`, the baseline run's generations that ended naturally, scored by
  this run's model. Paired with the baseline's `own` rows on the same text, it asks the question the
  stop_prob gate is about: would the new model still stop where the base stopped?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalgen.backends.base import ForcedItem
from evalgen.records import GenerationRecord, Message, Probe, TeacherForcedRow
from evalgen.templates import BoundTemplate

__all__ = [
    "TEACHER_FORCED_FILE",
    "WHOLE_ANSWER_SCORERS",
    "Answer",
    "answers_to_force",
    "forced_items",
    "reference_text",
    "teacher_force",
]

TEACHER_FORCED_FILE = "teacher_forced.jsonl"

WHOLE_ANSWER_SCORERS: tuple[str | None, ...] = (None, "exact", "bleu", "chrf")
"""Scorers that compare the whole answer with the reference, so the reference is a whole answer."""
SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")
"""A reference of another scorer (contains, ...) that ends like this is taken as a whole answer too."""
PATTERN_SCORERS = ("regex", "json")
"""Their reference is a pattern or a key list: never an answer."""


@dataclass(frozen=True)
class Answer:
    """One answer to teacher-force after its conversation."""

    suite: str
    probe_id: str
    sample: int
    kind: str
    messages: list[Message]
    text: str
    answer_from: str | None = None


def reference_text(probe: Probe) -> str | None:
    """The probe's reference when it is a whole answer (see WHOLE_ANSWER_SCORERS), else None."""
    if probe.scorer in PATTERN_SCORERS:
        return None
    reference = probe.reference
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    if not isinstance(reference, str) or not reference.strip():
        return None
    whole = probe.scorer in WHOLE_ANSWER_SCORERS or reference.rstrip().endswith(SENTENCE_ENDS)
    return reference if whole else None


def answers_to_force(probes: Sequence[Probe], records: Sequence[GenerationRecord],
                     baseline: Sequence[GenerationRecord] = (), baseline_name: str | None = None) -> list[Answer]:
    """Every answer a run teacher-forces: whole references, its own natural endings, and the baseline's
    natural endings on the probes this run has (the prompt is the probe's, rendered by this run)."""
    out = []
    for probe in probes:
        text = reference_text(probe)
        if text is not None:
            out.append(Answer(probe.suite, probe.id, 0, "reference", probe.messages, text))
    for kind, source, origin in (("own", records, None), ("baseline", baseline, baseline_name)):
        for r in source:
            if r.stop_reason == "eos" and r.output.strip():
                out.append(Answer(r.suite, r.probe_id, r.sample, kind, r.messages, r.output, origin))
    return out


def forced_items(tokenizer: Any, template: BoundTemplate, answers: Sequence[Answer]) -> list[tuple[Answer, ForcedItem]]:
    """(answer, prompt + answer ids) for every answer that tokenizes to something."""
    items = []
    prompts: dict[str, list[int]] = {}
    for answer in answers:
        text = template.render(answer.messages)
        if text not in prompts:
            prompts[text] = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        answer_ids = tokenizer(answer.text, add_special_tokens=False)["input_ids"]
        if answer_ids:
            items.append((answer, ForcedItem(prompts[text], list(answer_ids))))
    return items


def teacher_force(backend: Any, tokenizer: Any, template: BoundTemplate,
                  answers: Sequence[Answer]) -> list[TeacherForcedRow]:
    """One row per answer. `backend` is an open backend with `capabilities.logprobs` (its `teacher_force`
    scores the sequences). Non-finite figures become None (null on disk)."""
    items = forced_items(tokenizer, template, answers)
    scores = backend.teacher_force([item for _, item in items]) if items else []
    rows = []
    for (answer, item), score in zip(items, scores, strict=True):
        logprobs = score.token_logprobs
        rows.append(TeacherForcedRow(
            suite=answer.suite,
            probe_id=answer.probe_id,
            ref_logprob_mean=round(sum(logprobs) / len(logprobs), 6) if logprobs else None,
            stop_prob=round(min(score.stop_prob, 1.0), 6),
            n_ref_tokens=len(item.answer_ids),
            kind=answer.kind,
            sample=answer.sample,
            answer_from=answer.answer_from,
        ))
    return [TeacherForcedRow.from_dict(row.to_dict()) for row in rows]  # NaN → None, types checked

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

from evalgen.records import Probe
from evalgen.templates import BoundTemplate

__all__ = ["TEACHER_FORCED_FILE", "teacher_force"]

TEACHER_FORCED_FILE = "teacher_forced.jsonl"


def reference_text(probe: Probe) -> str | None:
    if probe.scorer in ("regex", "json"):  # a pattern or a key list is not an answer to score
        return None
    reference = probe.reference
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    return reference or None


def teacher_force(
    model: Any,
    tokenizer: Any,
    template: BoundTemplate,
    probes: Sequence[Probe],
    end_ids: Sequence[int],
    device: str,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """One row per probe with a usable reference: suite, probe_id, ref_logprob_mean, stop_prob, n_ref_tokens."""
    import torch

    items = []
    for probe in probes:
        answer = reference_text(probe)
        if answer is None:
            continue
        prompt_ids = tokenizer(template.render(probe.messages), add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if answer_ids:
            items.append((probe, prompt_ids, answer_ids))
    rows: list[dict[str, Any]] = []
    ends = torch.tensor(list(end_ids), dtype=torch.long)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        sequences = [p + a for _, p, a in batch]
        width = max(len(s) for s in sequences)
        # Right padding: positions of the answer stay where the prompt puts them.
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, : len(seq)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, (probe, prompt_ids, answer_ids) in enumerate(batch):
            first, last = len(prompt_ids), len(prompt_ids) + len(answer_ids)
            # The token at position t is predicted by the logits at t - 1.
            targets = torch.tensor(answer_ids)
            token_logprobs = logprobs[row, first - 1 : last - 1].gather(1, targets[:, None]).squeeze(1)
            stop = logprobs[row, last - 1, ends].exp().sum().item()
            rows.append(
                {
                    "suite": probe.suite,
                    "probe_id": probe.id,
                    "ref_logprob_mean": round(token_logprobs.mean().item(), 6),
                    "stop_prob": round(min(stop, 1.0), 6),
                    "n_ref_tokens": len(answer_ids),
                }
            )
    return rows

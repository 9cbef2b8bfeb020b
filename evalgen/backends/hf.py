"""HF transformers `generate`: batched, left-padded, batches grouped by prompt length."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from evalgen.backends.base import Completion, GenerationSettings, Request, classify_stop

__all__ = ["HFBackend", "end_token_ids"]


def end_token_ids(tokenizer: Any, model: Any, end_tokens: Sequence[str]) -> dict[int, str]:
    """Token ids that end the assistant turn → their text: the template's end tokens that are single
    tokens, the tokenizer's EOS and the generation config's eos_token_id(s)."""
    ids: dict[int, str] = {}
    vocab = tokenizer.get_vocab()
    for text in end_tokens:
        if text in vocab:
            ids[vocab[text]] = text
    candidates = [tokenizer.eos_token_id]
    generation_config = getattr(model, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None)
    candidates += configured if isinstance(configured, list) else [configured]
    for token_id in candidates:
        if token_id is not None and token_id not in ids:
            ids[token_id] = tokenizer.convert_ids_to_tokens(token_id)
    return ids


class HFBackend:
    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, device: str, settings: GenerationSettings,
                 end_tokens: Sequence[str]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.settings = settings
        self.end_ids = end_token_ids(tokenizer, model, end_tokens)
        self.batch_size = settings.batch_size

    def decode(self, ids: Sequence[int], skip_special: bool) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=skip_special))

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        # Longest prompts first: similar lengths share a batch (little padding), and an
        # out-of-memory error shows up on the first batch rather than at the end.
        pending = sorted(requests, key=lambda r: (-len(r.prompt_ids), r.index))
        start = 0
        while start < len(pending):
            batch = pending[start : start + self.batch_size]
            try:
                yield self.generate_batch(batch)
            except Exception as exc:  # noqa: BLE001 - one failing batch must not kill the run
                if is_out_of_memory(exc) and self.batch_size > 1:
                    self.batch_size = max(1, self.batch_size // 2)
                    empty_cuda_cache()
                    continue  # retry the same requests with a smaller batch
                message = f"{type(exc).__name__}: {exc}"
                yield [Completion(r.index, "", "", [], "error", message) for r in batch]
            start += len(batch)

    def generate_batch(self, batch: Sequence[Request]) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        settings = self.settings
        pad_id = self.tokenizer.pad_token_id
        width = max(len(r.prompt_ids) for r in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            input_ids[row, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            attention[row, width - len(request.prompt_ids) :] = 1
        sampling = settings.temperature > 0
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            do_sample=sampling,
            temperature=settings.temperature if sampling else None,
            top_p=settings.top_p if sampling else None,
            eos_token_id=list(self.end_ids),
            pad_token_id=pad_id,
            stop_strings=list(settings.stop_strings) or None,
            return_dict_in_generate=True,
        )
        criteria = StoppingCriteriaList()
        looping = LoopCriteria(settings, width) if settings.early_exit else None
        if looping is not None:
            criteria.append(looping)
        if sampling:
            torch.manual_seed(settings.seed + batch[0].index)
        began = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                stopping_criteria=criteria,
                tokenizer=self.tokenizer,
            )
        elapsed = time.perf_counter() - began
        new_tokens = out.sequences[:, width:].tolist()
        completions = []
        for row, request in enumerate(batch):
            # A cut row is padded while the rest of the batch runs on: keep only what it generated.
            cut = looping.cut_rows.get(row) if looping is not None else None
            completion = classify_stop(
                request.index, new_tokens[row][:cut], self.end_ids, settings.stop_strings,
                settings.max_new_tokens, self.decode, looped=cut is not None,
            )
            completion.latency_s = elapsed
            completions.append(completion)
        return completions


class LoopCriteria:
    """Per-row stopping criterion: finish a row once its generated tail is certainly a loop.

    Checked every few steps and vectorized over the batch (one comparison per candidate period), so it
    costs little next to a forward pass. Rows that already ended are padded; the stop classification
    prefers their end token, so marking them here is harmless."""

    check_every = 8

    def __init__(self, settings: GenerationSettings, prompt_width: int) -> None:
        self.settings = settings
        self.prompt_width = prompt_width
        self.cut_rows: dict[int, int] = {}
        """Row → how many tokens it had generated when it was cut (the first time it was marked)."""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        s = self.settings
        generated = input_ids[:, self.prompt_width :]
        n = generated.shape[1]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if n < s.loop_min_tokens or n % self.check_every:
            return done
        for period in range(1, s.loop_max_period + 1):
            need = max(period * s.loop_min_repeats, s.loop_min_tokens)
            if need > n:
                break
            tail = generated[:, n - need :]
            done |= (tail[:, period:] == tail[:, :-period]).all(dim=1)
        for row in done.nonzero().flatten().tolist():
            self.cut_rows.setdefault(row, n)
        return done


def is_out_of_memory(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

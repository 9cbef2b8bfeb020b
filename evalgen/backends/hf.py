"""HF transformers `generate`: batched, left-padded, batches grouped by prompt length.

Built from a checkpoint folder by the registry (`--backend hf`), or around a model already in memory
(`HFBackend.from_model(model, tokenizer)`, e.g. during training): then `close()` leaves the model alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from evalgen.backends.base import (
    CHECK_EVERY,
    BackendBase,
    BackendSetup,
    BackendSpec,
    Capabilities,
    Completion,
    ForcedItem,
    ForcedScore,
    GenerationSettings,
    Request,
    classify_stop,
    configured_eos_ids,
    end_token_ids,
    error_completions,
)
from evalgen.errors import ConfigError

if TYPE_CHECKING:
    from evalgen.checkpoint import CheckpointInfo

__all__ = ["HFBackend", "LoopCriteria", "StopStringTail", "create"]


def create(spec: BackendSpec) -> HFBackend:
    """vLLM engine options in `spec.options` are ignored (with `--backend auto` they may not apply)."""
    if spec.checkpoint is None:
        raise ConfigError("--backend hf needs a checkpoint: a local model folder or a Hugging Face Hub id")
    return HFBackend(checkpoint=spec.checkpoint, dtype=spec.dtype, device=spec.device,
                     trust_remote_code=spec.trust_remote_code)


class HFBackend(BackendBase):
    name = "hf"
    capabilities = Capabilities(token_ids=True, logprobs=True, lora=True)

    def __init__(self, model: Any = None, tokenizer: Any = None, *, checkpoint: CheckpointInfo | None = None,
                 dtype: str = "auto", device: str | None = None, trust_remote_code: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        """Set for a model in memory: the runner renders prompts with it."""
        self.checkpoint = checkpoint
        self.dtype = dtype
        self.device = device
        self.trust_remote_code = trust_remote_code
        self.owns_model = model is None
        self.settings = GenerationSettings()
        self.end_ids: dict[int, str] = {}
        self.batch_size = self.settings.batch_size
        self.may_end: dict[int, bool] = {}
        """Token id → whether its text could complete a stop string (filled as ids are first generated)."""
        self.cleared: set[int] = set()
        """The ids of `may_end` that cannot complete one, kept beside it (rebuilding it per batch cost ms)."""

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, device: str | None = None) -> HFBackend:
        """Evaluate a model already in memory (its device by default); `close()` does not free it."""
        return cls(model, tokenizer, device=device or str(getattr(model, "device", "cpu")))

    def open(self, setup: BackendSetup) -> HFBackend:
        from evalgen.checkpoint import pick_device

        self.device = self.device or pick_device()
        if self.model is None:
            from evalgen.checkpoint import load_model

            if self.checkpoint is None:
                raise ConfigError("HFBackend needs a model or a checkpoint")
            self.model = load_model(self.checkpoint, self.dtype, self.device, self.trust_remote_code)
        self.tokenizer = setup.tokenizer if setup.tokenizer is not None else self.tokenizer
        self.settings = setup.settings
        self.batch_size = setup.settings.batch_size
        self.end_ids = end_token_ids(self.tokenizer, setup.end_tokens, configured_eos_ids(self.model))
        self.may_end, self.cleared = {}, set()
        return self

    def close(self) -> None:
        """Free the model when this backend loaded it (a model handed in stays with its owner)."""
        if self.owns_model and self.model is not None:
            self.model = None
            import gc

            gc.collect()
            empty_cuda_cache()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.device, "dtype": self.dtype}

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
                yield error_completions(batch, f"{type(exc).__name__}: {exc}")
            start += len(batch)

    def generate_batch(self, batch: Sequence[Request]) -> list[Completion]:
        import torch

        from evalgen.compat import generation_config

        settings = self.settings
        pad_id = self.tokenizer.pad_token_id
        width = max(len(r.prompt_ids) for r in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            input_ids[row, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            attention[row, width - len(request.prompt_ids) :] = 1
        sampling = settings.temperature > 0
        config = generation_config(
            max_new_tokens=settings.max_new_tokens,
            do_sample=sampling,
            temperature=settings.temperature if sampling else None,
            top_p=settings.top_p if sampling else None,
            eos_token_id=list(self.end_ids),
            pad_token_id=pad_id,
            return_dict_in_generate=True,
        )
        from transformers import StoppingCriteriaList

        criteria = StoppingCriteriaList()
        looping = LoopCriteria(settings, width) if settings.early_exit else None
        if looping is not None:
            criteria.append(looping)
        if any(settings.stop_strings):
            criteria.append(StopStringTail(settings.stop_strings, width, self.decode, self.may_end, self.cleared))
        if sampling:
            torch.manual_seed(settings.seed + batch[0].index)
        began = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                stopping_criteria=criteria,
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

    def teacher_force(self, items: Sequence[ForcedItem]) -> list[ForcedScore]:
        """One forward pass per batch of prompt + answer sequences (right-padded, so positions stay put)."""
        import torch

        scores: list[ForcedScore] = []
        ends = torch.tensor(list(self.end_ids), dtype=torch.long)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            sequences = [item.prompt_ids + item.answer_ids for item in batch]
            width = max(len(s) for s in sequences)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, seq in enumerate(sequences):
                input_ids[row, : len(seq)] = torch.tensor(seq)
                attention[row, : len(seq)] = 1
            with torch.inference_mode():
                mask = attention.to(self.device)
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, item in enumerate(batch):
                first, last = len(item.prompt_ids), len(item.prompt_ids) + len(item.answer_ids)
                # The token at position t is predicted by the logits at t - 1.
                targets = torch.tensor(item.answer_ids)
                token_logprobs = logprobs[row, first - 1 : last - 1].gather(1, targets[:, None]).squeeze(1)
                stop = logprobs[row, last - 1, ends].exp().sum().item()
                scores.append(ForcedScore(token_logprobs.tolist(), min(stop, 1.0)))
        return scores


class LoopCriteria:
    """Per-row stopping criterion: finish a row once its generated tail is certainly a loop.

    Checked every few steps and vectorized over the batch (one comparison per candidate period), so it
    costs little next to a forward pass. Rows that already ended are padded; the stop classification
    prefers their end token, so marking them here is harmless."""

    check_every = CHECK_EVERY

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


class StopStringTail:
    """Per-row stopping criterion: finish a row as soon as a stop string is complete in its text.

    Each step looks only at the newest token of each row: a stop string can only complete in a token whose
    text begins with an end piece of it (`"er"` for `"<|im_start|>user"`) or holds it whole (or is a piece
    of a multi-byte character, or nothing visible), which is rare; only then are the row's last few tokens
    decoded and searched. The answer is kept per token id, and the ids known not to qualify form a set, so
    most steps are one subset test over the batch's newest tokens that returns the same flags as the step
    before. transformers' own `stop_strings` re-reads the whole vocabulary for every `generate` call and runs
    a dozen tensor operations per step. `classify_stop` then decides the stop reason from the final token
    ids, as for every backend. The flags returned are the criterion's own state: read them, don't change them."""

    def __init__(self, stop_strings: Sequence[str], prompt_width: int, decode: Any, may_end: dict[int, bool],
                 cleared: set[int] | None = None) -> None:
        self.stops = [s for s in stop_strings if s]
        self.prompt_width = prompt_width
        self.decode = decode
        self.may_end = may_end
        self.cleared = {token for token, could in may_end.items() if not could} if cleared is None else cleared
        """The ids in `may_end` that cannot complete a stop string, as a set for the per-step subset test (the
        caller's own when it keeps one beside `may_end`, as the backend does across batches)."""
        # A stop string ending in whitespace may complete in a token that decodes without it (SentencePiece
        # drops a leading space when a token is decoded alone): then every step is checked.
        self.every_step = any(s[-1].isspace() for s in self.stops)
        # Enough tokens to hold the longest stop string even at one byte per token.
        self.window = 4 * max(len(s.encode("utf-8")) for s in self.stops) + 1
        self.stopped: set[int] = set()
        self.done: Any = None
        """The rows in `stopped` as the flags transformers reads (made on the first step, then only set)."""

    def could_end(self, token: int) -> bool:
        known = self.may_end.get(token)
        if known is None:
            known = self.may_end[token] = completes_one(self.decode([token], False), self.stops)
            if not known:
                self.cleared.add(token)
        return known

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.done is None:  # transformers ORs it into a new tensor, so the same one serves every step
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if input_ids.shape[1] > self.prompt_width:
            newest = input_ids[:, -1].tolist()
            if self.every_step or not self.cleared.issuperset(newest):
                self.search_tails(input_ids, newest)
        return self.done

    def search_tails(self, input_ids: Any, newest: list[int]) -> None:
        """Decode the last few tokens of each running row whose newest token could complete a stop string."""
        start = max(self.prompt_width, input_ids.shape[1] - self.window)
        for row, token in enumerate(newest):
            if row in self.stopped or not (self.every_step or self.could_end(token)):
                continue
            text = self.decode(input_ids[row, start:].tolist(), False)
            if any(s in text for s in self.stops):
                self.stopped.add(row)
                self.done[row] = True


def completes_one(text: str, stops: Sequence[str]) -> bool:
    """Whether a token whose text (decoded alone) is `text` could be the one in which a stop string completes:
    the text begins with an end piece of one (its last k characters, k >= 1) or holds one whole. A leading
    space the token has in context but drops alone only shifts the piece by one character. An empty text
    or a piece of a multi-byte character (U+FFFD) could be anything: True."""
    if not text or "\ufffd" in text:
        return True
    return any(stop in text or any(text.startswith(stop[-k:]) for k in range(1, min(len(stop), len(text)) + 1))
               for stop in stops)


def is_out_of_memory(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

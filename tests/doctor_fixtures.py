"""Fixtures for the doctor tests: real runs of the transformers `Trainer` on a tiny model, and
trainer_state.json files with planted curves written by transformers' own `TrainerState` writer.

    from doctor_fixtures import run_tiny_trainer, write_trainer_state
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_tiny_trainer", "train_rows", "write_trainer_state"]


def run_tiny_trainer(tokenizer_dir: Path, out_dir: Path, *, steps: int = 8, lr: float = 5e-3, save_steps: int = 4,
                     eval_steps: int = 4, warmup_steps: int = 0, scheduler: str = "linear", seed: int = 0,
                     zero_lr_after: int | None = None) -> Path:
    """Train a 1-layer Llama (hidden 32) with `transformers.Trainer` for `steps` steps on the tiny
    family's conversations (ChatML, loss on the answer), on CPU; logs every step, saves
    `checkpoint-N/` every `save_steps` and evaluates every `eval_steps`. Returns `out_dir`, which
    then holds `checkpoint-N/trainer_state.json` as written by the Trainer. A few seconds.

    `zero_lr_after=K` replaces the Trainer's scheduler with one that sets the learning rate to 0 after K
    steps (what a DeepSpeed scheduler section overriding the Trainer's does)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    from evalgen.compat import load_pretrained_tokenizer
    from evalgen.tinymodels import FACTS, IDENTITY, IDENTITY_QUESTIONS

    tokenizer = load_pretrained_tokenizer(tokenizer_dir)
    pairs = [(qa.prompt, qa.answer) for qa in FACTS] + [(q, IDENTITY[lang]) for q, lang in IDENTITY_QUESTIONS]
    width = 48
    rows = []
    for prompt, answer in pairs:
        head = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             tokenize=False)
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        t = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids, labels = (p + t)[:width], ([-100] * len(p) + t)[:width]
        pad = width - len(ids)
        rows.append({"input_ids": torch.tensor(ids + [tokenizer.pad_token_id] * pad),
                     "attention_mask": torch.tensor([1] * len(ids) + [0] * pad),
                     "labels": torch.tensor(labels + [-100] * pad)})
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    args = TrainingArguments(output_dir=str(out_dir), max_steps=steps, learning_rate=lr, per_device_train_batch_size=8,
                             per_device_eval_batch_size=8, logging_steps=1, save_steps=save_steps,
                             eval_strategy="steps", eval_steps=eval_steps, warmup_steps=warmup_steps,
                             lr_scheduler_type=scheduler, report_to=[], use_cpu=True, disable_tqdm=True, seed=seed,
                             dataloader_num_workers=0, save_only_model=True)
    optimizers: Any = (None, None)
    if zero_lr_after is not None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 if s < zero_lr_after else 0.0)
        optimizers = (optimizer, schedule)
    Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows[:16], optimizers=optimizers).train()
    return Path(out_dir)


def train_rows(loss: Sequence[float], *, lr: float | Sequence[float] = 1e-4, grad_norm: float | Sequence[float] = 1.0,
               start: int = 1) -> list[dict[str, Any]]:
    """`log_history` training rows as the Trainer logs them (loss, grad_norm, learning_rate, epoch,
    step), one per step from `start`, with the given values (a constant or one per step)."""
    n = len(loss)
    lrs = [lr] * n if isinstance(lr, int | float) else list(lr)
    gns = [grad_norm] * n if isinstance(grad_norm, int | float) else list(grad_norm)
    return [{"epoch": round((start + i) / 100, 4), "grad_norm": gns[i], "learning_rate": lrs[i], "loss": loss[i],
             "step": start + i} for i in range(n)]


def write_trainer_state(path: Path, rows: list[dict[str, Any]], *, max_steps: int | None = None) -> Path:
    """Write `rows` as the `log_history` of a trainer_state.json with transformers' `TrainerState`
    (its own writer: `NaN`/`Infinity` literals, key order, indentation as in a real run)."""
    from transformers import TrainerState

    steps = [r["step"] for r in rows if "step" in r]
    last = max(steps) if steps else 0
    state = TrainerState(global_step=last, max_steps=max_steps or last, logging_steps=1, log_history=rows,
                         epoch=rows[-1].get("epoch") if rows else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.save_to_json(str(path))
    return path


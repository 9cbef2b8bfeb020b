"""The doctor's finding type and its one registry of codes.

A `DoctorFinding` is one thing wrong (or worth knowing) about a checkpoint, a training run or an SFT
data file: a stable `code`, a severity, where (`path`), the evidence (keys, values, steps, line
numbers), one sentence on what it causes and the fix. `CODES` is the only place codes are listed:
each code's default severity, the detectors whose symptoms it can explain, its remedy and its
source (a seed note or a public issue); docs/doctor.md documents the same codes and a test keeps
the two in step.

The JSON shape (`findings_json`) is stable:
`{"findings": [{"code", "severity", "path", "evidence", "message", "fix", "detectors"}]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AREAS", "CODES", "SEVERITIES", "Code", "DoctorFinding", "exit_code", "findings_json", "make"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
"""Most severe first. Any `error` makes `evalgen doctor` exit 1."""

AREAS = ("checkpoint", "training", "data")


@dataclass(frozen=True)
class Code:
    """What one code means, in one place."""

    area: str
    """`checkpoint`, `training` or `data`."""
    severity: Severity
    """The default severity (a check may raise or lower it with the evidence, e.g. a spike's type)."""
    cause: str
    """One sentence: what this fault does to the model's outputs."""
    fix: str
    """One sentence: the remedy."""
    detectors: tuple[str, ...] = ()
    """The evalgen detectors whose regressions this fault can explain (empty: none directly)."""
    source: str = ""
    """Where the failure is described: a seed note (../shared/seeds) or a public issue URL."""


_SEED_FAQ = "seeds/001_cc9c65f23676b923.txt (模型训练记录QA)"
_SEED_TRAIN = "seeds/000_10afe1a0742d2c2f.txt (Train中常见问题)"
_SEED_LOSS = "seeds/003_6ac532809a3f841a.txt (training-loss-patterns: 三种损失尖峰, 非尖峰发散)"

CODES: dict[str, Code] = {
    # --- checkpoint -------------------------------------------------------------------------------
    "eos_mismatch": Code(
        "checkpoint", "error",
        "Generation stops on ids that are not the token the chat template ends a turn with, so outside evalgen "
        "the model runs on past its answer.",
        "Make generation_config.json's eos_token_id list the template's end-of-turn id (and the tokenizer's EOS).",
        ("missing_eos", "repetition", "truncation"), "https://github.com/huggingface/open-r1/pull/663"),
    "pad_is_eos": Code(
        "checkpoint", "warning",
        "With pad_token = eos_token a collator that masks padding (labels = -100 where input_ids == pad) also "
        "masks every EOS label, so the model never learns to stop.",
        "Give the tokenizer a pad token of its own (e.g. <pad> or <|finetune_right_pad_id|>) before SFT, or mask "
        "padding by attention_mask, not by token id.",
        ("missing_eos", "repetition"), "https://github.com/huggingface/transformers/issues/23530"),
    "no_chat_template": Code(
        "checkpoint", "warning",
        "Without a chat template every tool guesses the prompt format; a format other than the training one "
        "makes the model loop or ramble.",
        "Save the template used in SFT with the tokenizer (tokenizer.chat_template = ...; save_pretrained), or "
        "run evalgen with --template NAME.",
        ("repetition", "missing_eos"), _SEED_FAQ + " §3"),
    "template_format": Code(
        "checkpoint", "info",
        "The prompt format the checkpoint's template renders; prompts in another format than training's make the "
        "model loop.", "Evaluate and serve with this format (evalgen uses the checkpoint's template by default).",
        ("repetition",), _SEED_FAQ + " §3"),
    "eos_not_in_template": Code(
        "checkpoint", "error",
        "The template closes an assistant turn without the EOS or an end-of-turn token, so SFT targets rendered "
        "with it never teach the model to stop.",
        "End every assistant turn in the template with the tokenizer's EOS (e.g. `{{ message['content'] + "
        "eos_token }}`).", ("missing_eos", "repetition", "truncation"),
        "https://github.com/huggingface/trl/issues/734"),
    "special_token_missing": Code(
        "checkpoint", "error",
        "A special token the template writes is not one token of the vocabulary, so it is split into pieces and "
        "the model cannot produce or recognise it as a turn marker.",
        "Add it as a special token (tokenizer.add_special_tokens) and resize the embeddings before training, or "
        "use a template with the base model's own tokens.", ("missing_eos", "repetition", "degenerate"),
        "https://github.com/foundation-model-stack/fms-hf-tuning/issues/470"),
    "embedding_size_mismatch": Code(
        "checkpoint", "error",
        "The tokenizer has ids the embedding matrix has no row for, so those tokens index out of range (a crash) "
        "or were never trained.",
        "Call model.resize_token_embeddings(len(tokenizer)) after adding tokens and save the model again.",
        ("degenerate",), "https://github.com/huggingface/transformers/issues/12763"),
    "nan_weights": Code(
        "checkpoint", "error",
        "NaN or infinite weights turn every forward pass through them into NaN: empty or garbage output.",
        "Go back to the last checkpoint with finite weights; lower the learning rate, use bf16 instead of fp16, "
        "clip gradients.", ("degenerate",), _SEED_TRAIN + " (loss变nan)"),
    "generation_config_suspicious": Code(
        "checkpoint", "warning",
        "generation_config.json changes decoding for every caller (a repetition penalty hides loops, a tiny length "
        "cuts answers, sampling settings are ignored under greedy), so deployment and evaluation differ.",
        "Remove the setting from generation_config.json, or set it deliberately in the serving call.",
        ("repetition", "truncation"), "https://github.com/huggingface/transformers/issues/29080"),
    "adapter_base_mismatch": Code(
        "checkpoint", "error",
        "The LoRA adapter was trained on another base (layer shapes or vocabulary differ), so it fails to load or "
        "adds the wrong deltas.",
        "Point adapter_config.json's base_model_name_or_path at the base the adapter was trained on.",
        ("degenerate", "repetition"), "https://github.com/huggingface/autotrain-advanced/issues/487"),
    # --- training run -----------------------------------------------------------------------------
    "lr_zero_early": Code(
        "training", "error",
        "The learning rate fell to 0 long before the planned end, so the remaining steps trained nothing.",
        "Remove the optimizer and scheduler sections from the DeepSpeed config (let the Trainer's scheduler "
        "run), or make its total_num_steps match max_steps; check gradient_accumulation_steps.",
        (), _SEED_FAQ + " §1"),
    "loss_zero": Code(
        "training", "error",
        "A training loss of exactly 0 means nothing was learnt at those steps: leaked or trivially copied data, "
        "all labels masked, or fp16 underflow.",
        "Check the data for leaks and fully masked labels; set gradient_accumulation_steps to 1 to test; train in "
        "bf16/fp32 instead of fp16.", (), _SEED_FAQ + " §2"),
    "loss_nan": Code(
        "training", "error",
        "The loss went NaN or infinite: the weights saved after it are likely corrupt (empty or garbage output).",
        "Check the data for NaN/inf and empty targets, lower the learning rate, clip gradients, avoid fp16; "
        "resume from a checkpoint before the first bad step.", ("degenerate",), _SEED_TRAIN + " (loss变nan)"),
    "loss_spike": Code(
        "training", "warning",
        "The loss jumped (fast_recovery: usually harmless; slow_recovery: the model lost ground; no_recovery: it "
        "never got back and the run is damaged).",
        "For slow or no recovery: restart from a checkpoint before the spike, skip the batches around it, lower "
        "the learning rate; look for junk in the data near those steps.", ("degenerate", "repetition"),
        _SEED_LOSS),
    "divergence_without_spike": Code(
        "training", "error",
        "The loss rose steadily without a spike: training diverged, and later checkpoints are worse than earlier "
        "ones.",
        "Use the checkpoint at the lowest loss; lower the learning rate, switch fp16 to bf16, clean the data.",
        ("degenerate", "repetition"), _SEED_LOSS),
    "grad_norm_explosion": Code(
        "training", "warning",
        "The gradient norm jumped far above its usual size: updates at those steps were huge (the usual prelude "
        "to spikes and NaN).",
        "Clip gradients (max_grad_norm 1.0), lower the learning rate or lengthen warmup.", ("degenerate",),
        _SEED_TRAIN + " (梯度爆炸导致, gradient_clipping解决)"),
    # --- SFT data ---------------------------------------------------------------------------------
    "data_identity": Code(
        "data", "error",
        "Targets where the assistant claims to be another assistant (卖点数据: MOSS, ChatGPT, GPT-4 ...) teach the "
        "model that identity.",
        "Remove or rewrite those lines (replace the name with your assistant's) before training.",
        ("identity_leak",), _SEED_FAQ + " §10 (卖点数据)"),
    "data_cut_without_eos": Code(
        "data", "warning",
        "Conversations longer than cutoff_len are truncated before their end, so those targets carry no EOS and "
        "teach the model to run on.",
        "Raise cutoff_len, or drop or split the long conversations.", ("missing_eos", "truncation"),
        "https://github.com/hiyouga/LlamaFactory/issues/3945"),
    "data_missing_eos": Code(
        "data", "error",
        "Tokenized with the checkpoint's template, the targets do not end with the EOS or end-of-turn token, so "
        "the model is never taught to stop.",
        "Append the EOS to every target (or fix the template, see eos_not_in_template).",
        ("missing_eos", "repetition"), "https://github.com/THUDM/ChatGLM2-6B/issues/270"),
    "data_empty_response": Code(
        "data", "warning",
        "Empty targets teach the model to end its turn at once: empty answers.",
        "Drop the lines with an empty response.", ("degenerate",), _SEED_TRAIN + " (loss变nan: 数据异常值)"),
    "data_duplicates": Code(
        "data", "warning",
        "Repeated conversations are over-weighted and memorised, and leaked copies drive the loss to 0.",
        "Deduplicate the data (exact, then near duplicates).", ("repetition",), _SEED_FAQ + " §2"),
    "data_loops": Code(
        "data", "warning",
        "Targets that repeat themselves (found by evalgen's repetition detector) teach the model to loop.",
        "Remove or clean those lines.", ("repetition",), _SEED_TRAIN + " (输出重复问题)"),
    "data_language_mix": Code(
        "data", "warning",
        "The language mix is unbalanced or answers come in another language than the prompt, which shows up "
        "as answers in the wrong language.",
        "Balance the languages (中英文配比, about 1:1 when both matter) and drop answers in a language other "
        "than the prompt's.", ("language_drift",), _SEED_FAQ + " §8, §10 (中英文配比)"),
}
"""Every code the doctor can report, by name; nothing else lists them."""


@dataclass(frozen=True)
class DoctorFinding:
    """One finding. `to_dict()` is its stable JSON shape."""

    code: str
    """A key of `CODES`."""
    severity: Severity
    """`error` (exit 1), `warning` or `info`."""
    path: str
    """The file (or folder) the evidence is in."""
    message: str
    """One sentence: what this fault causes, with the figures."""
    fix: str
    """One sentence: the remedy."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Keys, values, steps or line numbers that show the fault."""
    detectors: tuple[str, ...] = ()
    """The detectors whose regressions this finding can explain."""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "path": self.path, "evidence": dict(self.evidence),
                "message": self.message, "fix": self.fix, "detectors": list(self.detectors)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DoctorFinding:
        return cls(str(data["code"]), data.get("severity", "info"), str(data.get("path", "")),
                   str(data.get("message", "")), str(data.get("fix", "")), dict(data.get("evidence") or {}),
                   tuple(data.get("detectors") or ()))


def make(code: str, path: Any, evidence: Mapping[str, Any], detail: str = "", *, severity: Severity | None = None,
         fix: str | None = None) -> DoctorFinding:
    """A finding of `code` with its registered cause, fix and detectors; `detail` (the figures) is put
    before the cause sentence."""
    info = CODES[code]
    message = f"{detail.rstrip('.')}: {info.cause}" if detail else info.cause
    return DoctorFinding(code, severity or info.severity, str(path), message, fix or info.fix, dict(evidence),
                         info.detectors)


def sort_findings(findings: Iterable[DoctorFinding]) -> list[DoctorFinding]:
    """Errors first, then warnings, then info; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def exit_code(findings: Sequence[DoctorFinding]) -> int:
    """1 when any finding is an error, else 0."""
    return 1 if any(f.severity == "error" for f in findings) else 0


def findings_json(findings: Iterable[DoctorFinding]) -> str:
    """The stable JSON document: `{"findings": [...]}` (strict JSON: NaN and infinities as strings)."""
    def clean(x: Any) -> Any:
        if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
            return str(x)
        if isinstance(x, Mapping):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return json.dumps({"findings": [clean(f.to_dict()) for f in findings]}, ensure_ascii=False, indent=2,
                      allow_nan=False) + "\n"

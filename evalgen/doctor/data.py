"""SFT data checks, streamed over JSONL files (a JSON array file is read whole): identity strings of
other assistants in the targets, conversations cut by cutoff_len before their EOS, targets that do
not end with the EOS once tokenized with the checkpoint's template, empty responses, duplicates,
looping targets (evalgen's repetition detector) and the language mix.

Layouts, told apart per line: alpaca (`instruction`, `input`, `output`, optional `system` and
`history`), sharegpt (`conversations`: `from`/`value`) and messages (`messages`: `role`/`content`).
The targets are the assistant turns; the prompts the user turns (and alpaca's input).

Memory stays flat: one 8-byte hash per line for duplicates, counters and at most a few line numbers
per finding. Token counts (with a tokenizer) are the sum of the parts' counts, tokenized in batches
by `tokenizers`: within a token or two of the whole conversation's.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.detectors._text import script_units
from evalgen.doctor.findings import DoctorFinding, make
from evalgen.errors import EvalgenError

__all__ = ["DataConfig", "DataError", "Row", "check_data", "iter_rows"]

_MAX_LINES = 10
"""Line numbers kept per finding (and per name)."""


class DataError(EvalgenError):
    """An SFT data file is missing, not JSON, or in no known layout."""


@dataclass(frozen=True)
class DataConfig:
    """Thresholds of the data checks (defaults in brackets)."""

    cutoff_len: int = 1024
    """Tokens a training example is cut to (LLaMA-Factory's `cutoff_len`) [1024]."""
    min_language_share: float = 0.1
    """`data_language_mix`: a language present in the data below this share of the targets [0.1]..."""
    max_mismatch_share: float = 0.05
    """...or answers in another language than their prompt above this share of the lines [0.05]."""
    min_language_letters: int = 4
    """Texts with fewer letters (or CJK characters) are not given a language [4]."""
    duplicate_share: float = 0.0
    """`data_duplicates` when duplicate lines are above this share of the lines [0]."""


@dataclass
class Row:
    """One conversation: its 1-based line number, turns as (role, text) with roles system/user/assistant."""

    line: int
    turns: list[tuple[str, str]]

    @property
    def targets(self) -> list[str]:
        return [t for r, t in self.turns if r == "assistant"]

    @property
    def prompts(self) -> list[str]:
        return [t for r, t in self.turns if r == "user"]


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "bot": "assistant",
                   "model": "assistant", "chatgpt": "assistant", "system": "system"}


def _turns(obj: Any) -> list[tuple[str, str]] | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("messages"), list):
        return [(str(m.get("role")), str(m.get("content") or "")) for m in obj["messages"] if isinstance(m, dict)]
    if isinstance(obj.get("conversations"), list):
        return [(_SHAREGPT_ROLES.get(str(m.get("from", m.get("role"))).lower(), str(m.get("from"))),
                 str(m.get("value", m.get("content")) or "")) for m in obj["conversations"] if isinstance(m, dict)]
    if "instruction" in obj or "output" in obj:
        turns: list[tuple[str, str]] = []
        if obj.get("system"):
            turns.append(("system", str(obj["system"])))
        for pair in obj.get("history") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                turns += [("user", str(pair[0] or "")), ("assistant", str(pair[1] or ""))]
        prompt = str(obj.get("instruction") or "")
        if obj.get("input"):
            prompt = f"{prompt}\n{obj['input']}" if prompt else str(obj["input"])
        return [*turns, ("user", prompt), ("assistant", str(obj.get("output") or ""))]
    return None


def iter_rows(path: str | Path) -> Iterator[Row]:
    """The conversations of a JSONL file (or a JSON array file), streamed; DataError names file:line."""
    p = Path(path)
    try:
        f = p.open("r", encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise DataError(f"{p}: cannot read the data file ({exc.strerror}); pass a JSONL file") from None
    with f:
        first = f.read(64).lstrip()
        f.seek(0)
        if first.startswith("["):
            try:
                items = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"{p}: not a valid JSON array ({exc}); pass JSONL or a JSON list") from None
            lines: Iterable[tuple[int, Any]] = ((i, obj) for i, obj in enumerate(items, 1))
        else:
            lines = _jsonl(p, f)
        for n, obj in lines:
            turns = _turns(obj)
            if turns is None:
                raise DataError(f"{p}:{n}: no known layout (expected `messages`, `conversations`, or alpaca's "
                                "`instruction`/`output`)")
            yield Row(n, turns)


def _jsonl(p: Path, f: Any) -> Iterator[tuple[int, Any]]:
    for n, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        try:
            yield n, json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{p}:{n}: not valid JSON ({exc}); fix or remove the line") from None


# --- per-line screens ---------------------------------------------------------------------------------------


def _may_loop(text: str) -> bool:
    """Cheap screen before the repetition detector: some 8-character piece recurs later in the text."""
    n = len(text)
    if n < 20:
        return False
    for k in (n // 5, 2 * n // 5, n // 2, 3 * n // 5):
        piece = text[k:k + 8]
        if piece.strip() and text.find(piece, k + 1) >= 0:
            return True
    return False


@dataclass
class _Tally:
    lines: int = 0
    empty: list[int] = field(default_factory=list)
    n_empty: int = 0
    identity: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    identity_counts: Counter = field(default_factory=Counter)
    loops: list[int] = field(default_factory=list)
    n_loops: int = 0
    hashes: array = field(default_factory=lambda: array("q"))
    line_numbers: array = field(default_factory=lambda: array("l"))
    prompt_lang: Counter = field(default_factory=Counter)
    target_lang: Counter = field(default_factory=Counter)
    mismatch: list[int] = field(default_factory=list)
    n_mismatch: int = 0
    n_judged_pairs: int = 0


def _language(text: str, min_letters: int) -> str | None:
    units = script_units(text)
    return units.dominant() if units.letters >= min_letters else None


def check_data(paths: Iterable[str | Path], *, tokenizer: Any = None, cfg: DataConfig = DataConfig(),
               identity: str | None = None) -> list[DoctorFinding]:
    """Every data check on each file. `tokenizer`: a `TokenizerView` (see `tokenizer_view`) for the
    token checks (cut by cutoff_len, what a target ends with); None skips them."""
    findings: list[DoctorFinding] = []
    for path in paths:
        findings += _check_file(Path(path), tokenizer, cfg, identity)
    return findings


def _check_file(path: Path, tok: Any, cfg: DataConfig, identity: str | None) -> list[DoctorFinding]:
    from evalgen.detectors import DetectorContext
    from evalgen.detectors.identity_leak import detect_identity_leak
    from evalgen.detectors.repetition import detect_repetition
    from evalgen.records import GenerationRecord

    ctx = DetectorContext(identity=identity)
    t = _Tally()
    batch: list[Row] = []
    token_state = _TokenState() if tok is not None else None
    for row in iter_rows(path):
        t.lines += 1
        targets = row.targets
        prompt = "\n".join(row.prompts)
        target = "\n".join(targets)
        t.hashes.append(hash((prompt, target, len(row.turns))))
        t.line_numbers.append(row.line)
        if not targets or any(not x.strip() for x in targets):
            t.n_empty += 1
            if len(t.empty) < _MAX_LINES:
                t.empty.append(row.line)
        for text in targets:
            if not text.strip():
                continue
            record = GenerationRecord("data", path.name, 0, [{"role": "user", "content": prompt}], "", text, text,
                                      None, "eos", 0, 0.0)
            names = detect_identity_leak(record, ctx).details.get("names") or []
            for name in names:
                t.identity_counts[name] += 1
                if len(t.identity[name]) < _MAX_LINES:
                    t.identity[name].append(row.line)
            if _may_loop(text) and detect_repetition(record, ctx).flagged:
                t.n_loops += 1
                if len(t.loops) < _MAX_LINES:
                    t.loops.append(row.line)
                break
        lp = _language(prompt, cfg.min_language_letters)
        lt = _language(target, cfg.min_language_letters)
        if lp:
            t.prompt_lang[lp] += 1
        if lt:
            t.target_lang[lt] += 1
        if lp and lt:
            t.n_judged_pairs += 1
            if lp != lt:
                t.n_mismatch += 1
                if len(t.mismatch) < _MAX_LINES:
                    t.mismatch.append(row.line)
        if token_state is not None:
            batch.append(row)
            if len(batch) >= 4096:
                token_state.add(tok, batch, cfg)
                batch = []
    if token_state is not None and batch:
        token_state.add(tok, batch, cfg)
    return _findings(path, t, token_state, tok, cfg)


def _findings(path: Path, t: _Tally, tokens: _TokenState | None, tok: Any, cfg: DataConfig) -> list[DoctorFinding]:
    out: list[DoctorFinding] = []
    if t.identity_counts:
        total = sum(t.identity_counts.values())
        out.append(make("data_identity", path,
                        {"names": dict(t.identity_counts.most_common()), "lines": dict(t.identity)},
                        f"{total} target(s) claim to be another assistant: "
                        + ", ".join(f"{n} ×{c}" for n, c in t.identity_counts.most_common(5))))
    if tokens is not None:
        out += tokens.findings(path, tok, cfg)
    if t.n_empty:
        out.append(make("data_empty_response", path, {"n_lines": t.n_empty, "lines": t.empty},
                        f"{t.n_empty} of {t.lines} lines have an empty response"))
    out += _duplicates(path, t, cfg)
    if t.n_loops:
        out.append(make("data_loops", path, {"n_lines": t.n_loops, "lines": t.loops},
                        f"{t.n_loops} of {t.lines} targets loop"))
    out += _language_mix(path, t, cfg)
    return out


def _duplicates(path: Path, t: _Tally, cfg: DataConfig) -> list[DoctorFinding]:
    import numpy as np

    if t.lines < 2:
        return []
    h = np.frombuffer(t.hashes, dtype=np.int64)
    order = np.argsort(h, kind="stable")
    sorted_h = h[order]
    same = sorted_h[1:] == sorted_h[:-1]
    n_dup = int(same.sum())
    if n_dup == 0 or n_dup / t.lines <= cfg.duplicate_share:
        return []
    lines = np.frombuffer(t.line_numbers, dtype=np.int64 if t.line_numbers.itemsize == 8 else np.int32)
    examples = []
    for k in np.flatnonzero(same)[:_MAX_LINES]:
        examples.append([int(lines[order[k]]), int(lines[order[k + 1]])])
    groups = int((same & ~np.concatenate(([False], same[:-1]))).sum())
    return [make("data_duplicates", path, {"n_duplicate_lines": n_dup, "n_groups": groups, "examples": examples},
                 f"{n_dup} of {t.lines} lines repeat an earlier line ({groups} distinct conversations repeated)")]


def _shares(c: Counter) -> dict[str, float]:
    total = sum(c.values())
    return {k: round(v / total, 4) for k, v in c.most_common()} if total else {}


def _language_mix(path: Path, t: _Tally, cfg: DataConfig) -> list[DoctorFinding]:
    prompts, targets = _shares(t.prompt_lang), _shares(t.target_lang)
    reasons = []
    minor = [k for k, v in targets.items() if v < cfg.min_language_share]
    if len(targets) > 1 and minor:
        reasons.append(f"{', '.join(minor)} {'is' if len(minor) == 1 else 'are'} under "
                       f"{cfg.min_language_share:.0%} of the targets")
    share = t.n_mismatch / t.n_judged_pairs if t.n_judged_pairs else 0.0
    if share > cfg.max_mismatch_share:
        reasons.append(f"{t.n_mismatch} answers ({share:.1%}) are in another language than their prompt")
    if not reasons:
        return []
    return [make("data_language_mix", path,
                 {"prompts": prompts, "targets": targets, "n_other_language_answers": t.n_mismatch,
                  "other_language_lines": t.mismatch},
                 "; ".join(reasons).capitalize())]


# --- token checks -------------------------------------------------------------------------------------------


@dataclass
class TokenizerView:
    """What the token checks need from a checkpoint's tokenizer: a `tokenizers.Tokenizer`, the template's
    text around turns, and the end tokens."""

    path: Path
    backend: Any
    head_ids: list[int]
    """Tokens before the first answer besides the prompt's own (system, headers)."""
    turn_ids: list[int]
    """Tokens around each later user turn (the gap after an answer plus the assistant header)."""
    tail_ids: list[int]
    """Tokens the template writes after an answer (the end-of-turn token, newline)."""
    end_ids: frozenset[int]
    """Ids that end a turn: the EOS, the template's end token, generation_config's eos ids."""
    has_template: bool
    end_texts: tuple[str, ...] = ()
    """The end tokens as text."""
    tail_text: str = ""
    """What the template writes after an answer, as text."""

    @property
    def tail_has_end(self) -> bool:
        return any(i in self.end_ids for i in self.tail_ids)

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]


def tokenizer_view(folder: str | Path) -> TokenizerView:
    """A `TokenizerView` of a checkpoint (or tokenizer) folder; DataError when it has no tokenizer.json."""
    from evalgen.doctor.checkpoint import _Q1, _Q2, read_checkpoint, template_shape

    files = read_checkpoint(folder) if (Path(folder) / "config.json").is_file() or \
        (Path(folder) / "adapter_config.json").is_file() else _tokenizer_only(Path(folder))
    if files.backend is None:
        raise DataError(f"{folder}: no tokenizer.json readable by `tokenizers`; pass --tokenizer with a folder "
                        "that has one (the checkpoint the data trains)")
    shape = template_shape(files)
    eos = files.token("eos_token")
    ends = {files.vocab[t] for t in (eos, shape.end_token if shape else None) if t and t in files.vocab}
    gen = (files.generation or {}).get("eos_token_id")
    ends |= set(gen if isinstance(gen, list) else [gen] if isinstance(gen, int) else [])

    def ids(text: str) -> list[int]:
        return files.backend.encode(text, add_special_tokens=False).ids if text else []

    texts = tuple(t for t, i in files.vocab.items() if i in ends and t in files.added) or ((eos,) if eos else ())
    if shape is None:
        return TokenizerView(files.tokenizer_folder, files.backend, [], [], [], frozenset(ends), False, texts)
    head = shape.head.replace(_Q1, "")
    gap_to_header = shape.gap  # after an answer: end token, the next user header
    two_head = _second_header(files, shape, _Q2)
    return TokenizerView(files.tokenizer_folder, files.backend, ids(head), ids(gap_to_header + two_head),
                         ids(shape.tail), frozenset(ends), True, texts, shape.tail)


def _second_header(files: Any, shape: Any, q2: str) -> str:
    """The text after a later user turn up to its answer, e.g. '<|im_end|>\\n<|im_start|>assistant\\n'."""
    from evalgen.doctor.checkpoint import render_template

    tokens = {k: files.token(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    try:
        text = render_template(files.template, [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                                                {"role": "user", "content": q2}], add_generation_prompt=True, **tokens)
    except Exception:
        return ""
    return text[text.find(q2) + len(q2):]


def _tokenizer_only(folder: Path) -> Any:
    from evalgen.doctor.checkpoint import CheckpointFiles, _read, _template, _vocab

    if not folder.is_dir():
        raise DataError(f"{folder}: --tokenizer is not a folder; pass the checkpoint (or tokenizer) folder")
    tc = _read(folder / "tokenizer_config.json")
    template, template_path = _template(folder, tc)
    vocab, added = _vocab(folder, tc)
    return CheckpointFiles(folder, folder, folder, None, _read(folder / "generation_config.json"), tc, None, template,
                           template_path, vocab, added)


@dataclass
class _TokenState:
    """Token checks, streamed. A conversation whose UTF-8 length (an upper bound on its token count for
    byte-level BPE, SentencePiece with byte fallback and WordPiece alike) plus the template's tokens fits
    cutoff_len is never tokenized; only the longer ones are, in batches. A target has its end when the
    template writes an end token after answers, or when its own text ends with one."""

    n: int = 0
    n_cut: int = 0
    n_tokenized: int = 0
    cut: list[list[int]] = field(default_factory=list)
    longest: int = 0
    n_no_end: int = 0
    no_end: list[int] = field(default_factory=list)
    endings_sample: list[str] = field(default_factory=list)

    def add(self, tok: TokenizerView, rows: list[Row], cfg: DataConfig) -> None:
        fixed = len(tok.head_ids) + len(tok.tail_ids)
        long_rows: list[Row] = []
        for row in rows:
            self.n += 1
            users = sum(r == "user" for r, _ in row.turns)
            bound = fixed + max(0, users - 1) * len(tok.turn_ids) + sum(len(t.encode()) + 2 for _, t in row.turns)
            if bound > cfg.cutoff_len:
                long_rows.append(row)
            if not tok.tail_has_end:
                last = next((t for r, t in reversed(row.turns) if r == "assistant"), None)
                if last is not None and not last.rstrip().endswith(tok.end_texts):
                    self.n_no_end += 1
                    if len(self.no_end) < _MAX_LINES:
                        self.no_end.append(row.line)
                    if len(self.endings_sample) < 1000:
                        self.endings_sample.append(last[-32:])
        if long_rows:
            self._count(tok, long_rows, cfg)

    def _count(self, tok: TokenizerView, rows: list[Row], cfg: DataConfig) -> None:
        texts: list[str] = []
        spans: list[tuple[int, int]] = []
        for row in rows:
            start = len(texts)
            texts += [t for _, t in row.turns]
            spans.append((start, len(texts)))
        encoded = tok.encode(texts)
        for row, (a, b) in zip(rows, spans, strict=True):
            self.n_tokenized += 1
            users = sum(r == "user" for r, _ in row.turns)
            total = len(tok.head_ids) + len(tok.tail_ids) + max(0, users - 1) * len(tok.turn_ids)
            total += sum(len(ids) for ids in encoded[a:b])
            if total > cfg.cutoff_len:
                self.longest = max(self.longest, total)
                self.n_cut += 1
                if len(self.cut) < _MAX_LINES:
                    self.cut.append([row.line, total])

    def findings(self, path: Path, tok: TokenizerView, cfg: DataConfig) -> list[DoctorFinding]:
        out = []
        if self.n_cut:
            out.append(make("data_cut_without_eos", path,
                            {"cutoff_len": cfg.cutoff_len, "n_lines": self.n_cut, "longest_tokens": self.longest,
                             "lines_and_tokens": self.cut, "tokenizer": str(tok.path)},
                            f"{self.n_cut} of {self.n} conversations are longer than cutoff_len {cfg.cutoff_len} "
                            f"(longest {self.longest} tokens)"))
        if self.n_no_end and tok.has_template:
            # What the targets end with: the last token of each sampled target (plus the template's text).
            ends = Counter(tok.backend.id_to_token(ids[-1]) for ids in tok.encode(
                [t + tok.tail_text for t in self.endings_sample]) if ids)
            out.append(make("data_missing_eos", path,
                            {"n_lines": self.n_no_end, "lines": self.no_end, "targets_end_with":
                             dict(ends.most_common(5)), "end_ids": sorted(tok.end_ids),
                             "template_after_answer": tok.tail_text},
                            f"{self.n_no_end} of {self.n} targets end without an end token (they end with "
                            + ", ".join(repr(k) for k, _ in ends.most_common(3)) + ")"))
        return out

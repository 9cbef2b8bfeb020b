"""What every detector shares: the context it runs in, its thresholds and the `Detector` signature.

A detector is a pure function `(record, ctx) -> Finding`. Everything it may depend on besides the
record is in `DetectorContext`, which is frozen and hashable so that detectors can cache compiled
patterns per context.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from evalgen.errors import ConfigError
from evalgen.records import Finding, GenerationRecord

__all__ = [
    "DegenerateConfig",
    "Detector",
    "DetectorConfig",
    "DetectorContext",
    "IdentityLeakConfig",
    "LanguageDriftConfig",
    "MissingEosConfig",
    "RepetitionConfig",
    "TruncationConfig",
]


@dataclass(frozen=True)
class RepetitionConfig:
    """Thresholds of the `repetition` detector (see docs/detectors.md)."""

    min_repeats: float = 3.0
    """A loop is a unit repeated back to back at least this many times (partial copies count)..."""
    min_loop_chars: int = 40
    """...and covering at least this many characters."""
    min_repeats_at_limit: float = 2.0
    """A loop that runs into the token limit (stop_reason length/loop) needs only this many copies."""
    min_short_repeats: float = 5.0
    """Short loops ("你好！" ×5, "no no no no no"): a unit with at least two letters repeated this many
    times..."""
    min_short_loop_chars: int = 10
    """...over at least this many characters."""
    min_symbol_loop_chars: int = 200
    """Units without a letter (rules, `0 0 0`, `|---`) and loops inside code blocks need this many."""
    min_code_repeats: float = 10.0
    """Loops that lie inside a fenced code block need this many repeats."""
    max_period: int = 400
    """Longest unit (characters) looked for away from the tail; at the tail any unit up to a third."""
    probe_stride: int = 128
    """Distance between the probes that look for loops away from the tail (smaller: slower, finer)."""
    min_segment_chars: int = 10
    """Lines or sentences shorter than this are not units of the line-level checks."""
    min_segment_repeats: int = 3
    """Repeated items: a line or sentence must occur at least this many times..."""
    min_segment_coverage: float = 0.4
    """...and the extra copies of all repeated lines cover at least this share of the output."""
    min_near_repeats: int = 4
    """Consecutive lines that are one line with a word changed ("Step 7: Add a form" / "Step 8: ...")
    need this many copies (identical lines, numbers aside, need `min_repeats`)."""
    near_line_similarity: float = 0.8
    """Two lines are near-identical when their common start and end cover this share of the longer."""
    min_copy_share: float = 0.25
    """Loops that drift: flag when pieces copied from earlier text (with small changes) cover at least
    this share of the output and one of them is a third copy..."""
    min_copy_share_at_limit: float = 0.2
    """...or at least this share, the copying reaching the end, when the generation ran into the limit."""
    min_copy_cover: float = 0.8
    """...a piece (>= 60 characters) counting as copied when earlier stretches cover this share of it..."""
    min_copy_match: int = 32
    """...stretches of at least this many characters (templated phrases are shorter)."""
    min_output_chars: int = 10
    """Shorter outputs are never flagged."""


@dataclass(frozen=True)
class TruncationConfig:
    """Thresholds of the `truncation` detector."""

    min_output_chars: int = 12
    """Shorter outputs (after stripping) are normal short answers, never truncated."""
    min_tail_words: int = 5
    """An unpunctuated final Latin-script segment needs this many words to count as a cut sentence..."""
    min_tail_cjk: int = 8
    """...or this many CJK characters."""
    long_tail_words: int = 30
    """A final sentence this long without punctuation is cut even without a comma."""
    long_tail_cjk: int = 50


@dataclass(frozen=True)
class MissingEosConfig:
    """Settings of the `missing_eos` detector."""

    extra_turn_markers: tuple[str, ...] = ()
    """More text that opens a made-up user turn (matched anywhere, outside code)."""
    extra_end_tokens: tuple[str, ...] = ()
    """More end-of-turn tokens that must not be printed as text."""


@dataclass(frozen=True)
class IdentityLeakConfig:
    """Settings of the `identity_leak` detector."""

    extra_names: tuple[str, ...] = ()
    """Names of other assistants or companies to watch for, besides the built-in list."""
    ignore_names: tuple[str, ...] = ()
    """Built-in names not to watch for (case-insensitive)."""


@dataclass(frozen=True)
class LanguageDriftConfig:
    """Thresholds of the `language_drift` detector."""

    min_units: float = 2.0
    """Outputs with less running text than this (units: a CJK character 1, a Latin word 1.5) are not
    judged; two Chinese characters ("你好") are enough, a lone English term is not."""
    min_prompt_units: float = 1.0
    """Prompts with less text than this (in units, see docs) have no language to drift from."""
    prompt_lang_share: float = 0.25
    """A script with at least this share of the prompt counts as one of the prompt's languages."""
    min_output_share: float = 0.5
    """Flag when the prompt's languages cover less than this share of the output."""
    latin_word_units: float = 1.5
    """One Latin-script word weighs this many CJK characters."""
    min_block_units: float = 20.0
    """A block in a third script (not the prompt's, not asked for, not Latin) of at least this many units..."""
    min_block_share: float = 0.1
    """...and this share of the answer is drift too (an unrequested translation appended in Korean)."""


@dataclass(frozen=True)
class DegenerateConfig:
    """Thresholds of the `degenerate` detector."""

    min_garbage_tokens: int = 8
    """Garbage is judged only on outputs of at least this many whitespace-separated tokens."""
    garbage_share: float = 0.5
    """...of which at least this share are junk (fragments of no language; see docs/detectors.md)."""
    extra_tokens: tuple[str, ...] = ()
    """More special tokens that are not an answer (besides the built-in patterns and the context's
    end tokens and turn markers)."""


_SECTIONS: dict[str, type] = {
    "repetition": RepetitionConfig,
    "truncation": TruncationConfig,
    "missing_eos": MissingEosConfig,
    "identity_leak": IdentityLeakConfig,
    "language_drift": LanguageDriftConfig,
    "degenerate": DegenerateConfig,
}


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    where = f"[detectors.{section}] {key}"
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: expected a non-negative integer, got {value!r}")
        return value
    if isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: expected a non-negative number, got {value!r}")
        return float(value)
    return value


@dataclass(frozen=True)
class DetectorConfig:
    """Per-detector thresholds; `[detectors.NAME]` tables of `evalgen.toml`."""

    repetition: RepetitionConfig = field(default_factory=RepetitionConfig)
    truncation: TruncationConfig = field(default_factory=TruncationConfig)
    missing_eos: MissingEosConfig = field(default_factory=MissingEosConfig)
    identity_leak: IdentityLeakConfig = field(default_factory=IdentityLeakConfig)
    language_drift: LanguageDriftConfig = field(default_factory=LanguageDriftConfig)
    degenerate: DegenerateConfig = field(default_factory=DegenerateConfig)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> DetectorConfig:
        """Read `{"detectors": {"repetition": {...}, ...}}` (other top-level sections are ignored).

        Raises ConfigError naming an unknown detector or key and listing the valid ones.
        """
        if not data:
            return cls()
        tables = data.get("detectors", {})
        if not isinstance(tables, Mapping):
            raise ConfigError("[detectors] must be a table of [detectors.NAME] tables")
        built: dict[str, Any] = {}
        for name, table in tables.items():
            if name not in _SECTIONS:
                raise ConfigError(
                    f"unknown detector [detectors.{name}]; valid detectors: {', '.join(_SECTIONS)}"
                )
            if not isinstance(table, Mapping):
                raise ConfigError(f"[detectors.{name}] must be a table, got {table!r}")
            section = _SECTIONS[name]
            defaults = {f.name: getattr(section(), f.name) for f in fields(section)}
            values = {}
            for key, value in table.items():
                if key not in defaults:
                    raise ConfigError(
                        f"unknown key {key!r} in [detectors.{name}]; valid keys: {', '.join(defaults)}"
                    )
                values[key] = _coerce(name, key, value, defaults[key])
            built[name] = section(**values)
        return cls(**built)


@dataclass(frozen=True)
class DetectorContext:
    """Everything a detector may use besides the record itself."""

    turn_markers: tuple[str, ...] = ()
    """The active chat template's text that opens a new user turn, e.g. "### Human:"."""
    end_tokens: tuple[str, ...] = ()
    """The template's / model's end-of-turn tokens as text, e.g. "</s>", "<|im_end|>"."""
    identity: str | None = None
    """The configured assistant name (--identity)."""
    identity_org: str | None = None
    """The configured organisation (--identity-org)."""
    config: DetectorConfig = field(default_factory=DetectorConfig)


Detector = Callable[[GenerationRecord, DetectorContext], Finding]
"""A detector: a pure function of one record and the context."""

"""Hooks into training frameworks. Each submodule imports its framework; importing this package imports none.

- `evalgen.integrations.transformers.EvalgenCallback`: evaluate at each save of a Hugging Face `Trainer`
  (TRL's `SFTTrainer` included).
"""

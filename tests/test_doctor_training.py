"""Doctor training checks: real tiny Trainer runs (healthy, and one whose scheduler drops the learning
rate to 0 early, as a DeepSpeed scheduler overriding the Trainer's does) and trainer_state.json files
with planted curves written by transformers' TrainerState writer."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from doctor_fixtures import run_tiny_trainer, train_rows, write_trainer_state

from evalgen.doctor.findings import CODES
from evalgen.doctor.training import TrainingConfig, check_training, find_spikes
from evalgen.trainer_state import read_trainer_state


def decaying(n: int, start: float = 2.0, end: float = 1.0, noise: float = 0.02, seed: int = 0) -> list[float]:
    """A healthy SFT loss: exponential decay with a little noise."""
    rng = random.Random(seed)
    return [end + (start - end) * math.exp(-i / (n / 4)) + rng.uniform(-noise, noise) for i in range(n)]


def found(path: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in check_training(path):
        out.setdefault(f.code, []).append(f)
    return out


def test_real_healthy_run_raises_nothing(tiny_tokenizer: Path, tmp_path: Path) -> None:
    run = run_tiny_trainer(tiny_tokenizer, tmp_path / "run", steps=12, save_steps=12, eval_steps=6)
    assert len(read_trainer_state(run).loss) == 12
    assert check_training(run) == []


def test_real_run_with_the_learning_rate_zeroed_early(tiny_tokenizer: Path, tmp_path: Path) -> None:
    # The Trainer's own scheduler replaced by one that reaches 0 at step 8 of 20 (the seed's DeepSpeed case).
    run = run_tiny_trainer(tiny_tokenizer, tmp_path / "run", steps=20, save_steps=20, eval_steps=20,
                           zero_lr_after=8)
    (f,) = found(run)["lr_zero_early"]
    assert f.severity == "error" and f.evidence["max_steps"] == 20
    assert f.evidence["zero_from_step"] == 9 and f.path.endswith("checkpoint-20/trainer_state.json")


def test_healthy_planted_curves_raise_nothing(tmp_path: Path) -> None:
    n = 200
    lr = [1e-4 * min(1, (i + 1) / 10) * (1 - i / n) for i in range(n)]  # warmup + linear decay, 0 only at the end
    rows = train_rows(decaying(n), lr=lr, grad_norm=[1.0 + 0.3 * math.sin(i) for i in range(n)])
    assert check_training(write_trainer_state(tmp_path / "trainer_state.json", rows, max_steps=n)) == []


def test_lr_zero_early_planted(tmp_path: Path) -> None:
    lr = [1e-4] * 40 + [0.0] * 60
    path = write_trainer_state(tmp_path / "trainer_state.json", train_rows(decaying(100), lr=lr), max_steps=100)
    (f,) = found(path)["lr_zero_early"]
    assert f.evidence == {"zero_from_step": 41, "max_steps": 100, "peak_lr": 1e-4, "steps_at_zero": 60}


def test_loss_zero(tmp_path: Path) -> None:
    loss = decaying(50) + [0.0] * 10
    (f,) = found(write_trainer_state(tmp_path / "trainer_state.json", train_rows(loss)))["loss_zero"]
    assert f.evidence["steps"] == list(range(51, 61)) and f.evidence["n_steps"] == 10


def test_loss_nan(tmp_path: Path) -> None:
    loss = decaying(30)
    loss[20] = math.nan
    grad = [1.0] * 30
    grad[19] = math.inf
    path = write_trainer_state(tmp_path / "trainer_state.json", train_rows(loss, grad_norm=grad))
    assert "NaN" in path.read_text() and "Infinity" in path.read_text()  # as the Trainer writes them
    f = found(path)["loss_nan"][0]
    assert f.evidence["loss_steps"] == [21] and f.evidence["grad_norm_steps"] == [20] and f.evidence["first_step"] == 20


@pytest.mark.parametrize(("kind", "after", "severity"), [
    ("fast_recovery", [4.0, 2.5, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "info"),
    ("slow_recovery", [4.0, 3.6, 3.2, 2.8, 2.4, 2.0, 1.8, 1.6, 1.4, 1.2, 1.03, 1.0, 1.0], "warning"),
    ("no_recovery", [4.0, 3.0, 2.5, 2.2, 2.0, 2.1, 2.0, 2.05, 2.0, 2.1], "error"),
])
def test_loss_spike_types(tmp_path: Path, kind: str, after: list[float], severity: str) -> None:
    loss = [1.0 + 0.01 * ((-1) ** i) for i in range(30)] + after
    (f,) = found(write_trainer_state(tmp_path / "trainer_state.json", train_rows(loss)))["loss_spike"]
    assert f.evidence["type"] == kind and f.severity == severity
    assert f.evidence["peak_step"] == 31 and f.evidence["peak_loss"] == 4.0
    assert "divergence_without_spike" not in found(tmp_path / "trainer_state.json")


def test_divergence_without_spike(tmp_path: Path) -> None:
    loss = decaying(60, noise=0.005) + [1.0 + 0.02 * i for i in range(40)]  # creeps up 2% per step: never a spike
    fs = found(write_trainer_state(tmp_path / "trainer_state.json", train_rows(loss)))
    assert "loss_spike" not in fs
    (f,) = fs["divergence_without_spike"]
    assert f.evidence["final_step"] == 100 and 55 <= f.evidence["lowest_at_step"] <= 62


def test_grad_norm_explosion(tmp_path: Path) -> None:
    grad = [1.0] * 40
    grad[25] = 40.0
    (f,) = found(write_trainer_state(tmp_path / "trainer_state.json",
                                     train_rows(decaying(40), grad_norm=grad)))["grad_norm_explosion"]
    assert f.evidence["steps"] == [{"step": 26, "grad_norm": 40.0, "median_before": 1.0}]


def test_spike_thresholds_are_configurable() -> None:
    from evalgen.trainer_state import Series

    loss = Series("loss", tuple(range(1, 22)), tuple([1.0] * 15 + [1.4] + [1.0] * 5))
    assert find_spikes(loss) == []
    (s,) = find_spikes(loss, TrainingConfig(spike_rise=0.3))
    assert (s.peak, s.kind, s.recovered_at) == (16, "fast_recovery", 17)


def test_every_training_code_is_planted_above() -> None:
    source = Path(__file__).read_text()
    for code, info in CODES.items():
        if info.area == "training":
            assert f'"{code}"' in source, code

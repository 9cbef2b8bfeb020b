"""evalgen.weights: a fingerprint any changed tensor moves, cached by (path, size, mtime); NaN/Inf refused."""

import os

import pytest
import torch
from safetensors.torch import save_file

from evalgen.errors import CheckpointError
from evalgen.weights import check_file, weights_fingerprint


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALGEN_CACHE_DIR", str(tmp_path / "cache"))


def write(folder, tensors, name="model.safetensors"):
    folder.mkdir(exist_ok=True)
    save_file(tensors, str(folder / name))
    return folder


def tensors(dtype=torch.float32):
    torch.manual_seed(0)
    return {"a.weight": torch.randn(64, 8).to(dtype), "b.weight": torch.randn(32).to(dtype)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_any_changed_tensor_moves_the_fingerprint(tmp_path, dtype):
    base = tensors(dtype)
    first = weights_fingerprint([write(tmp_path / "m1", base)])
    assert weights_fingerprint([write(tmp_path / "m2", tensors(dtype))]) == first  # same content, other folder
    changed = {**base, "b.weight": base["b.weight"].clone()}
    changed["b.weight"][17] += 1
    assert weights_fingerprint([write(tmp_path / "m3", changed)]) != first
    renamed = {"c.weight" if k == "a.weight" else k: v for k, v in base.items()}
    assert weights_fingerprint([write(tmp_path / "m4", renamed)]) != first


def test_an_adapter_moves_the_fingerprint_of_model_plus_adapter(tmp_path):
    model = write(tmp_path / "base", tensors())
    one = write(tmp_path / "a1", {"lora_A.weight": torch.ones(4, 8)}, "adapter_model.safetensors")
    two = write(tmp_path / "a2", {"lora_A.weight": torch.ones(4, 8) * 2}, "adapter_model.safetensors")
    assert weights_fingerprint([model, one]) != weights_fingerprint([model, two]) != weights_fingerprint([model])


def test_the_result_is_cached_by_path_size_and_mtime(tmp_path):
    folder = write(tmp_path / "m", tensors())
    path = folder / "model.safetensors"
    cache = {}
    first = check_file(path, cache)
    assert cache[str(path.resolve())]["sha256"] == first.sha256
    # A cached entry is trusted while size and mtime hold (that is the point: no second read) ...
    cache[str(path.resolve())]["sha256"] = "from-cache"
    assert check_file(path, cache).sha256 == "from-cache"
    # ... and a rewrite (new mtime) is read again.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert check_file(path, cache).sha256 == first.sha256


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, dtype, bad):
    poisoned = tensors(dtype)
    poisoned["b.weight"][31] = bad
    with pytest.raises(CheckpointError, match=r"NaN or Inf in 1 tensor\(s\) \(b\.weight\)"):
        weights_fingerprint([write(tmp_path / "m", poisoned)])


def test_integers_with_all_ones_bits_are_not_taken_for_nan(tmp_path):
    ints = {"ids": torch.full((16,), -1, dtype=torch.int32), "w": torch.zeros(4)}
    weights_fingerprint([write(tmp_path / "m", ints)])  # no error


def test_pickled_weights_are_hashed_and_checked(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    state = tensors()
    torch.save(state, folder / "pytorch_model.bin")
    weights_fingerprint([folder])
    state["a.weight"][0, 0] = float("nan")
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="a.weight"):
        weights_fingerprint([folder])

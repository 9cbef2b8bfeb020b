"""Cost of the weights fingerprint (evalgen.weights) on a multi-GB safetensors file, beside loading it.

    python bench/bench_fingerprint.py [--gb 2] [--dir /tmp]

Writes one bf16 safetensors file of about GB gigabytes (random values, so the page cache holds real
data), then times side by side, in one process:
- cold: the first fingerprint (stream, sha256, NaN/Inf scan), after dropping this file from the page
  cache where the OS allows (posix_fadvise DONTNEED), and again with the file in the page cache;
- cached: the second fingerprint (an (path, size, mtime) lookup);
- sha256 only: hashlib over the same bytes, file in page cache (the floor for any full content hash);
- load: safetensors.torch.load_file of the same file, touching every tensor (a sum), as an evaluation
  pays anyway (load_file alone maps the file lazily and reads nothing).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def drop_from_page_cache(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except (AttributeError, OSError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    import torch
    from safetensors.torch import load_file, save_file

    from evalgen.weights import weights_fingerprint

    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-fingerprint-"))
    os.environ["EVALGEN_CACHE_DIR"] = str(root / "cache")
    folder = root / "model"
    folder.mkdir()
    n_tensors = 16
    per = int(args.gb * 1e9 / 2 / n_tensors)  # bf16: 2 bytes per value
    torch.manual_seed(0)
    save_file({f"layer.{i}.weight": torch.randn(per, dtype=torch.bfloat16) for i in range(n_tensors)},
              str(folder / "model.safetensors"))
    path = folder / "model.safetensors"
    size = path.stat().st_size
    print(f"file: {size / 1e9:.2f} GB, {n_tensors} bf16 tensors; load average {os.getloadavg()[0]:.1f}")

    dropped = drop_from_page_cache(path)
    began = time.perf_counter()
    weights_fingerprint([folder])
    cold = time.perf_counter() - began
    (root / "cache").joinpath("weights-v1.json").unlink()
    began = time.perf_counter()
    weights_fingerprint([folder])
    warm = time.perf_counter() - began
    began = time.perf_counter()
    weights_fingerprint([folder])
    cached = time.perf_counter() - began
    import hashlib

    began = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    sha_only = time.perf_counter() - began

    def load_and_touch() -> float:
        began = time.perf_counter()
        sum(float(t.float().sum()) for t in load_file(str(path)).values())
        return time.perf_counter() - began

    drop_from_page_cache(path)
    load_cold = load_and_touch()
    load_warm = load_and_touch()
    print(f"fingerprint, file not in page cache{'' if dropped else ' (could not drop it)'}: {cold:.2f} s "
          f"({size / 1e9 / cold:.2f} GB/s)")
    print(f"fingerprint, file in page cache:  {warm:.2f} s ({size / 1e9 / warm:.2f} GB/s)")
    print(f"fingerprint, cached result:       {cached * 1000:.2f} ms")
    print(f"sha256 only, in page cache:       {sha_only:.2f} s ({size / 1e9 / sha_only:.2f} GB/s)")
    print(f"load_file + touch, not in cache:  {load_cold:.2f} s;  in page cache: {load_warm:.2f} s")
    print(f"ratios: fingerprint / load (cold) {cold / load_cold:.2f}, (warm) {warm / load_warm:.2f}; "
          f"fingerprint / sha256 only (warm) {warm / sha_only:.2f}")
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    root.rmdir()


if __name__ == "__main__":
    main()

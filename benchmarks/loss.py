"""Micro-benchmark: token cross-entropy on the permuted (N, C, L) layout vs flattened (N*L, C).

Both paths start from the head's contiguous (N, L, C) logits, as the training step does, and
time forward + backward into them:

  ncl   F.cross_entropy(logits.permute(0, 2, 1), targets)                 (K-dim path)
  flat  F.cross_entropy(logits.reshape(-1, C), targets.reshape(-1))        (what the loss uses)
  ours  sequence_cross_entropy(logits.permute(0, 2, 1), targets, ...)      (flat + validation)

Same process, same inputs, values checked equal. CUDA if available (fp32 and bf16), else CPU
fp32. Usage: ``python -m benchmarks loss [--device cpu] [--classes 9 17 50 32000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from seqtagger.models.loss import IGNORE_INDEX, sequence_cross_entropy

N, L = 32, 40


def make_inputs(
    shape: tuple[int, int],
    classes: int,
    device: torch.device,
    dtype: torch.dtype,
    min_length: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``(N, L, C)`` logits that require grad and ``(N, L)`` targets, each row padded
    with ``IGNORE_INDEX`` after a random length of at least ``min_length``; seeded by ``C``."""
    n, length = shape
    g = torch.Generator().manual_seed(classes)
    logits = torch.randn(n, length, classes, generator=g).to(device=device, dtype=dtype)
    targets = torch.randint(0, classes, (n, length), generator=g)
    lengths = torch.randint(min_length, length + 1, (n,), generator=g)
    targets[torch.arange(length)[None] >= lengths[:, None]] = IGNORE_INDEX
    return logits.requires_grad_(True), targets.to(device)


def path_ncl(logits, targets):
    return F.cross_entropy(logits.permute(0, 2, 1), targets, ignore_index=IGNORE_INDEX)


def path_flat(logits, targets):
    flat = logits.permute(0, 2, 1).transpose(1, 2).reshape(-1, logits.shape[-1])
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=IGNORE_INDEX)


def path_ours(logits, targets):
    return sequence_cross_entropy(
        logits.permute(0, 2, 1), targets, num_classes=logits.shape[-1], probability_check="off"
    )


def time_paths(
    paths: list[Callable], logits, targets, reps: int, device: torch.device
) -> list[float]:
    """Median ms per path; paths interleaved rep by rep so machine noise hits them alike."""

    def step(fn):
        logits.grad = None
        fn(logits, targets).backward()

    samples: list[list[float]] = [[] for _ in paths]
    for rep in range(reps + 2):  # 2 warm-up rounds: allocator, kernel selection
        for i, fn in enumerate(paths):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step(fn)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if rep >= 2:
                samples[i].append((time.perf_counter() - start) * 1e3)
    return [statistics.median(s) for s in samples]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--classes", type=int, nargs="+", default=[9, 17, 50, 32000])
    parser.add_argument("--reps", type=int, default=100, help="repetitions (5 at C >= 10,000)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtypes = [torch.float32] + ([torch.bfloat16] if device.type == "cuda" else [])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, N={N} L={L}"
    )
    print("forward+backward, median ms   ncl = permuted (N, C, L), flat = (N*L, C)")
    header = f"{'dtype':>9} {'C':>6} {'ncl ms':>9} {'flat ms':>9} {'ours ms':>9} {'ncl/flat':>9}"
    print(header)
    print("-" * len(header))
    for dtype in dtypes:
        for c in args.classes:
            logits, targets = make_inputs((N, L), c, device, dtype, min_length=L // 4)
            reps = 5 if c >= 10_000 else args.reps
            ref, fast = path_ncl(logits, targets), path_flat(logits, targets)
            tol = 1e-2 if dtype == torch.bfloat16 else 1e-5
            torch.testing.assert_close(fast, ref, atol=tol, rtol=tol)
            paths = [path_ncl, path_flat, path_ours]
            ncl, flat, ours = time_paths(paths, logits, targets, reps, device)
            dtype_name = str(dtype).removeprefix("torch.")
            print(
                f"{dtype_name:>9} {c:>6} {ncl:>9.3f} {flat:>9.3f} {ours:>9.3f} {ncl / flat:>8.2f}x"
            )


if __name__ == "__main__":
    main()

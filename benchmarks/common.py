"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import torch


def matmul_gflops(size: int = 2048, seconds: float = 2.0) -> float:
    """This machine's float32 matrix-multiply rate (best of repeated timed products)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        best = max(best, 3 * 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best

"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


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


def portable(overrides: list[str]) -> list[str]:
    """Overrides with this checkout's folder removed from paths: no machine paths in the results."""
    return [o.replace(f"{ROOT}/", "") for o in overrides]


def commit() -> str:
    """The version of the code (git's tree hashes of seqkit/ and recipes/, with '+' when the work
    tree differs from them), to tell results apart; commits of other files do not change it."""
    try:
        head = "-".join(subprocess.run(["git", "rev-parse", "--short", f"HEAD:{folder}"], cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout.strip()
                        for folder in ("seqkit", "recipes"))
        dirty = subprocess.run(["git", "status", "--porcelain", "seqkit", "recipes"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def version(overrides: list[str]) -> tuple[str, list[str]]:
    """What a held-out-speaker run must share with the others to enter their mean: the code
    version and the overrides after the first (which names the speaker held out)."""
    return commit(), portable(overrides)


def of_version(run: dict, wanted: tuple[str, list[str]]) -> bool:
    """Whether a recorded run (its ``commit`` and ``overrides``) is of the `wanted` version()."""
    return (run.get("commit"), run.get("overrides", [])[1:]) == wanted

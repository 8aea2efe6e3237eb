"""Kill -9 and resume, on the real LTSF and LM recipes: do the resumed runs end where an
uninterrupted run ends?

For each recipe (shortened through overrides so that a run takes a minute or two): one
uninterrupted run, then the same run killed with SIGKILL at random moments (``--kills`` times)
and continued each time with ``seqkit run ... --resume RUN_DIR``. After every kill, every
checkpoint in the run directory is loaded (``weights_only=True``) to verify it is whole. Prints
the kills survived, the largest difference of any final metric, and the checkpoints verified;
writes ``benchmarks/results/reliability.json``.

    python benchmarks/reliability.py            # make bench-reliability
    python benchmarks/reliability.py --kills 5 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seqkit.checkpoint import load_file  # noqa: E402

COMMON = ["trainer.enable_progress_bar=false", "trainer.checkpoint_every_n_steps=5"]
RECIPES = {
    # SegRNN at the paper's size on ETTh1 (bf16 autocast, as the recipe), two short epochs.
    "ltsf": ["trainer.max_epochs=2", "trainer.limit_train_batches=24", "trainer.limit_val_batches=8",
             "trainer.limit_test_batches=8", "trainer.patience=0"],
    # The 2x384 character LSTM on Tiny Shakespeare (bf16 autocast), TBPTT state carried across batches.
    "lm": ["trainer.max_epochs=2", "trainer.limit_train_batches=24", "trainer.limit_val_batches=8",
           "trainer.limit_test_batches=8"],
}
TIMING = ("fit_seconds", "run_dir", "train_tokens_per_second")


def command(recipe: str, run_dir: Path, resume: bool) -> list[str]:
    args = [sys.executable, "-m", "seqkit.cli", "run", f"recipes/{recipe}", *RECIPES[recipe], *COMMON,
            f"run_dir={run_dir}"]
    return args + (["--resume", str(run_dir)] if resume else [])


def final(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    kept = {k: v for k, v in metrics.items() if k not in TIMING}
    kept["history"] = [{k: v for k, v in e.items() if k != "seconds"} for e in metrics["history"]]
    return kept


def differences(a, b, prefix: str = "") -> dict[str, float]:
    """Absolute differences of every number in two metric trees (inf if the structure differs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return {prefix or "keys": float("inf")}
        return {k: v for key in a for k, v in differences(a[key], b[key], f"{prefix}{key}.").items()}
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return {prefix or "length": float("inf")}
        return {k: v for i, (x, y) in enumerate(zip(a, b)) for k, v in differences(x, y, f"{prefix}{i}.").items()}
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return {prefix.rstrip("."): abs(float(a) - float(b))}
    return {prefix.rstrip("."): 0.0 if a == b else float("inf")}


def verify(run_dir: Path) -> int:
    """Load every checkpoint of the run; return how many there are (each must load)."""
    files = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    for path in files:
        load_file(path)
    return len(files)


def run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def trial(recipe: str, kills: int, rng: random.Random, work: Path, env: dict) -> dict:
    reference_dir, killed_dir = work / f"{recipe}-reference", work / f"{recipe}-killed"
    seconds = run(command(recipe, reference_dir, False), env)
    print(f"{recipe}: uninterrupted run {seconds:.0f} s", flush=True)
    survived, verified, steps, resume = 0, 0, [], False
    while True:
        process = subprocess.Popen(command(recipe, killed_dir, resume), cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if survived < kills:
            # Somewhere in the first two thirds of what remains, so that every kill lands in training.
            time.sleep(rng.uniform(0.15, 0.65) * seconds)
        if survived < kills and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            survived += 1
            count = verify(killed_dir) if (killed_dir / "checkpoints").is_dir() else 0
            verified += count
            last = killed_dir / "checkpoints" / "last.ckpt"
            step = int(load_file(last)["global_step"]) if last.is_file() else 0
            steps.append(step)
            print(f"{recipe}: kill {survived} at {step} steps saved; {count} checkpoints load", flush=True)
            resume = (killed_dir / "config.yaml").is_file()
            continue
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"{recipe}: the resumed run failed:\n{err[-3000:]}")
        break
    verified += verify(killed_dir)
    diff = differences(final(reference_dir), final(killed_dir))
    worst = max(diff.values())
    print(f"{recipe}: {survived} kills survived, largest metric difference {worst:.3g}, "
          f"{verified} checkpoints verified", flush=True)
    return {"kills_survived": survived, "saved_step_at_each_kill": steps, "checkpoints_verified": verified,
            "max_abs_metric_difference": worst, "metrics_compared": len(diff),
            "uninterrupted_seconds": round(seconds, 1), "overrides": RECIPES[recipe] + COMMON,
            "test": final(killed_dir).get("test") or final(killed_dir).get("val")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3, help="kills per recipe")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/reliability.json")
    args = parser.parse_args()
    env = {**os.environ}
    if not env.get("SEQKIT_DATA") and (ROOT.parent / "shared" / "data").is_dir():
        env["SEQKIT_DATA"] = str(ROOT.parent / "shared" / "data")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="seqkit-reliability-"))
    try:
        results = {recipe: trial(recipe, args.kills, rng, work, env) for recipe in args.recipes}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"kills_per_recipe": args.kills, "seed": args.seed, "recipes": results,
              "exact": all(r["max_abs_metric_difference"] <= 1e-6 for r in results.values())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()

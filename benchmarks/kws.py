"""KWS benchmark: spoken-digit classification (recipes/kws) on FSDD's split and leave-one-speaker-out.

Trains the recipe with its default settings (unless overridden) on FSDD's own split (recording
index 0-4 test) and then with each of the 5 speakers held out in turn; reports test accuracy,
the per-speaker accuracies and their mean, and the training time of each run.
Prints a table and writes JSON, updated after every run; two processes may run at once (for
example `--speakers george jackson` beside `--speakers lucas nicolas yweweler`, one thread each):
each save merges its runs into the file as it is then. Held-out runs of another version of the
code (see common.commit) or other overrides are dropped, never mixed into the mean.

Usage:
    python benchmarks/kws.py                     # everything (about 25 minutes on 2 cores)
    python benchmarks/kws.py --only split        # a part: split, speakers
    python benchmarks/kws.py --set seed=1        # extra overrides for every run
Set SEQKIT_DATA to the folder holding fsdd/recordings (`make bench-kws` does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from common import commit, of_version, portable, version

ROOT = Path(__file__).resolve().parent.parent
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "yweweler"]


def run(name: str, extra: list[str]) -> dict:
    """Train and test recipes/kws in this process with `extra` overrides; return its figures."""
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "benchmarks/results/runs" / f"kws-{name}-{stamp}"
    start = time.perf_counter()
    metrics = sk.run_recipe(ROOT / "recipes/kws", ["trainer.enable_progress_bar=false", f"run_dir={run_dir}", *extra])
    return {"test_accuracy": metrics["test"]["accuracy"], "val_accuracy": metrics["val"]["accuracy"],
            "epochs": metrics["epochs"], "seconds": round(time.perf_counter() - start, 1),
            "threads": torch.get_num_threads(), "run_dir": run_dir.name, "overrides": portable(extra),
            "commit": commit()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["split", "speakers"], choices=["split", "speakers"])
    parser.add_argument("--speakers", nargs="+", default=SPEAKERS, choices=SPEAKERS,
                        help="the speakers to hold out in turn (the mean is reported once all 5 are done)")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every training run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/kws.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    mine: dict = {"speakers": {}}

    def save() -> dict:
        """Merge this process's runs into the file as it is now; return the merged report."""
        report = json.loads(args.out.read_text()) if args.out.exists() else {}
        if "split" in mine:
            report["split"] = mine["split"]
        speakers = {**report.get("speakers", {}), **mine["speakers"]}
        wanted = version(args.set)
        report["speakers"] = {s: r for s, r in speakers.items() if of_version(r, wanted)}
        report.pop("speakers_mean_accuracy", None)
        if len(report["speakers"]) == len(SPEAKERS):
            report["speakers_mean_accuracy"] = statistics.mean(r["test_accuracy"] for r in report["speakers"].values())
        temporary = args.out.with_name(f".{args.out.name}.{os.getpid()}")
        temporary.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(temporary, args.out)
        return report

    if "split" in args.only:
        mine["split"] = run("split", args.set)
        save()
        print(f"FSDD split: test accuracy {mine['split']['test_accuracy']:.2%} (target >= 99%), "
              f"{mine['split']['seconds'] / 60:.1f} min")
    if "speakers" in args.only:
        for speaker in args.speakers:
            mine["speakers"][speaker] = run(f"without-{speaker}", [f"data.test_speakers=[{speaker}]", *args.set])
            report = save()
        each = ", ".join(f"{s} {r['test_accuracy']:.2%}" for s, r in report["speakers"].items())
        mean = report.get("speakers_mean_accuracy")
        print(f"leave one speaker out: {each}" + (f"; mean {mean:.2%}" if mean is not None
                                                   else f"; {len(report['speakers'])} of 5 done"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

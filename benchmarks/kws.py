"""KWS benchmark: spoken-digit classification (recipes/kws) on FSDD's split and leave-one-speaker-out.

Trains the recipe with its default settings (unless overridden) on FSDD's own split (recording
index 0-4 test) and then with each of the 5 speakers held out in turn; reports test accuracy,
the per-speaker accuracies and their mean, and the training time of each run.
Prints a table and writes JSON, updated after every run.

Usage:
    python benchmarks/kws.py                     # everything (about 25 minutes on 2 cores)
    python benchmarks/kws.py --only split        # a part: split, speakers
    python benchmarks/kws.py --set seed=1        # extra overrides for every run
Set SEQKIT_DATA to the folder holding fsdd/recordings (`make bench-kws` does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

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
            "run_dir": run_dir.name, "overrides": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["split", "speakers"], choices=["split", "speakers"])
    parser.add_argument("--speakers", nargs="+", default=SPEAKERS, choices=SPEAKERS,
                        help="the speakers to hold out in turn (the mean is reported once all 5 are done)")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every training run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/kws.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}

    def save():
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    if "split" in args.only:
        report["split"] = run("split", args.set)
        save()
        print(f"FSDD split: test accuracy {report['split']['test_accuracy']:.2%} (target >= 99%), "
              f"{report['split']['seconds'] / 60:.1f} min")
    if "speakers" in args.only:
        report["speakers"] = report.get("speakers", {})
        for speaker in args.speakers:
            report["speakers"][speaker] = run(f"without-{speaker}", [f"data.test_speakers=[{speaker}]", *args.set])
            save()
        if len(report["speakers"]) == len(SPEAKERS):
            report["speakers_mean_accuracy"] = statistics.mean(r["test_accuracy"] for r in report["speakers"].values())
        save()
        each = ", ".join(f"{s} {r['test_accuracy']:.2%}" for s, r in report["speakers"].items())
        mean = report.get("speakers_mean_accuracy")
        print(f"leave one speaker out: {each}" + (f"; mean {mean:.2%}" if mean is not None else ""))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

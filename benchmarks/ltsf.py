"""LTSF benchmark: SegRNN on ETTh1 (L=720) against the paper and the reference code, plus speed.

Accuracy: trains the recipe for each horizon and seed, and reports test MSE/MAE mean +- std next
to the paper's numbers (last batch dropped there) and the reference code's on this machine (every
window, as here). Speed: per-epoch wall time (train + validation), peak memory, and the training
step's achieved GFLOP/s as a fraction of this machine's float32 matmul GFLOP/s, measured in the
same run. Prints a table and writes JSON (updated after every run, so a partial run is kept).

Usage:
    python benchmarks/ltsf.py                                  # everything (hours on 2 cores)
    python benchmarks/ltsf.py --horizons 96 --seeds 2024       # one run
    python benchmarks/ltsf.py --speed-only                     # speed and memory only (minutes)
    python benchmarks/ltsf.py --parts ettm1 --seeds 2024       # ETTm1, four horizons (resumable)
    python benchmarks/ltsf.py --parts weather --horizons 96 --seeds 2024   # hours: resumes where it stopped
    python benchmarks/ltsf.py --parts ms quantile --horizons 96 --seeds 2024   # ETTh1 variants
Set SEQKIT_DATA to the folder holding ETT-small/ETTh1.csv (`make bench` does).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import commit, matmul_gflops

ROOT = Path(__file__).resolve().parent.parent
PAPER = {96: (0.351, 0.392), 192: (0.392, 0.414), 336: (0.423, 0.433), 720: (0.466, 0.472)}
# The paper's other data sets (Lin et al. 2023, Table 2, L = 720), by the overlay under recipes/ltsf that runs them.
PAPERS = {
    "etth1": PAPER,
    "etth2": {96: (0.276, 0.335), 192: (0.341, 0.389), 336: (0.364, 0.403), 720: (0.403, 0.448)},
    "ettm1": {96: (0.293, 0.354), 192: (0.328, 0.378), 336: (0.357, 0.399), 720: (0.410, 0.430)},
    "ettm2": {96: (0.164, 0.250), 192: (0.226, 0.294), 336: (0.284, 0.339), 720: (0.381, 0.402)},
    "weather": {96: (0.143, 0.198), 192: (0.189, 0.247), 336: (0.243, 0.291), 720: (0.316, 0.345)},
}
VARIANTS = {"ms": ["data.features=MS"], "quantile": ["model.head.loss=quantile", "model.head.quantiles=[0.1,0.5,0.9]"]}
REFERENCE_H96 = (0.357, 0.395)  # reference code, every test window, seed 2024, this machine
REFERENCE_SPEED = {"train_epoch_s": 92.0, "eval_epoch_s": 35.0, "peak_memory_gb": 2.3}


def run_recipe(overrides: list[str], overlays: list[Path] = (), resume: Path | None = None) -> dict:
    """Run recipes/ltsf in this process with `overlays` and `overrides` (or continue the run in
    `resume` from its last checkpoint); return its metrics."""
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    return sk.run_recipe(ROOT / "recipes/ltsf", overrides, overlays, resume=resume)


def drop_last_metrics(run_dir: Path) -> dict:
    """Test MSE/MAE of a run's best checkpoint with the last incomplete batch of 64 dropped.

    That is how the paper's numbers were computed (the reference loader's ``drop_last=True``);
    the recipe itself tests every window.
    """
    import seqkit as sk

    model, info = sk.load_model(run_dir)
    cfg = info["config"]
    data = sk.SeriesData(**cfg["data"])
    windows = data.splits["test"]
    batch = cfg["data"]["batch_size"] * cfg["trainer"].get("accumulate_grad_batches", 1)  # per optimizer step
    full = len(windows) // batch * batch
    squared = absolute = 0.0
    count = 0
    with torch.no_grad():
        for start in range(0, full, 256):
            batch = windows.__getitems__(list(range(start, min(start + 256, full))))
            error = model.head.point(model(batch["inputs"])[0]) - batch["targets"]  # a quantile model's median
            squared += error.pow(2).sum().item()
            absolute += error.abs().sum().item()
            count += error.numel()
    return {"mse": squared / count, "mae": absolute / count, "windows": full}


def step_speed(precision: str, steps: int = 6) -> dict:
    """Time optimizer steps of the paper-size model as the recipe takes them (its batch of 64 in
    `accumulate_grad_batches` parts) and count their FLOPs (float32 count)."""
    from torch.utils.flop_counter import FlopCounterMode

    import seqkit as sk

    cfg = sk.load_config(ROOT / "recipes/ltsf")
    size, parts = cfg.data.batch_size, cfg.trainer.accumulate_grad_batches
    data = sk.SeriesData("ETT-small/ETTh1.csv", seq_len=720, pred_len=96, batch_size=size)
    model = sk.build_model(cfg.model, **data.dims).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    batches = [data.splits["train"].__getitems__(list(range(k * size, (k + 1) * size))) for k in range(parts)]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision.startswith("bf16"))

    def step():
        for batch in batches:
            with autocast:
                predictions, lengths = model(batch["inputs"])
                loss = model.head.loss(predictions.float(), lengths, batch) / parts
            loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cpu", enabled=False):
            for batch in batches:
                model.head.loss(*model(batch["inputs"]), batch).backward()
    flops = counter.get_total_flops()
    optimizer.zero_grad()
    step()
    times, peaks = [], []
    for _ in range(steps):
        peaks.append(matmul_gflops(seconds=0.5))
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = statistics.median(peaks)
    return {"precision": precision, "step_seconds": seconds, "step_gflop": flops / 1e9,
            "achieved_gflops": flops / seconds / 1e9, "matmul_gflops_fp32": peak,
            "fraction_of_matmul": flops / seconds / 1e9 / peak}


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from a parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def epoch_speed(precision: str, batches: str = "1.0") -> dict:
    """One epoch (train + validation) of the recipe in a child process: wall time, peak memory.

    The child's peak memory before any work (after importing torch, Lightning and seqkit) is
    reported apart: with torch's CUDA build it is most of the total.
    """
    out = ROOT / "benchmarks/results/runs" / f"speed-{precision}-{time.strftime('%Y%m%d-%H%M%S')}"
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import torch, lightning, seqkit; "
        "from ltsf import peak_rss_gb, run_recipe; base = peak_rss_gb(); "
        f"m = run_recipe(['trainer.max_epochs=1', 'trainer.limit_test_batches=1', "
        f"'trainer.limit_train_batches={batches}', "
        f"'trainer.enable_progress_bar=false', 'trainer.precision={precision}', 'run_dir={out}']); "
        "print(json.dumps({'epoch': m['history'][0], 'peak': peak_rss_gb(), 'imports': base}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    return {"precision": precision, "epoch_seconds": record["epoch"]["seconds"],
            "peak_memory_gb": record["peak"], "import_memory_gb": record["imports"],
            "working_memory_gb": record["peak"] - record["imports"]}


def summarise(runs: list[dict]) -> dict:
    table = {}
    for horizon in sorted({r["pred_len"] for r in runs}):
        rows = [r for r in runs if r["pred_len"] == horizon]
        paper = dict(zip(("mse", "mae"), PAPER.get(horizon, (None, None))))
        entry = {"seeds": [r["seed"] for r in rows], "paper": paper}
        for metric in ("mse", "mae"):
            values = [r["test"][metric] for r in rows]
            entry[metric] = statistics.mean(values)
            entry[metric + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            anchor = REFERENCE_H96[0 if metric == "mse" else 1] if horizon == 96 else entry["paper"][metric]
            entry[metric + "_vs_anchor"] = entry[metric] / anchor - 1 if anchor else None
            dropped = [r["test_drop_last"][metric] for r in rows if "test_drop_last" in r]
            if len(dropped) == len(rows):  # the paper's way: last incomplete test batch dropped
                entry[metric + "_drop_last"] = statistics.mean(dropped)
                if entry["paper"][metric]:
                    entry[metric + "_drop_last_vs_paper"] = entry[metric + "_drop_last"] / entry["paper"][metric] - 1
        entry["anchor"] = "reference code, this machine" if horizon == 96 else "paper"
        entry["target"] = 0.02 if horizon == 96 else 0.03
        entry["epochs"] = [r["epochs"] for r in rows]
        table[horizon] = entry
    return table


def part_runs(name: str, horizons: list[int], seeds: list[int], report: dict, save) -> dict:
    """Runs of one part: an overlay of recipes/ltsf (a data set: ``ettm1``, ``weather`` ...) or a
    variant of ETTh1 (``ms``, ``quantile``), for each horizon and seed, kept in
    ``report["parts"][name]``. A run is recorded before it trains and continues from its last
    checkpoint when the benchmark is started again, so a run longer than a session spans several;
    a finished run is not repeated."""
    dataset = "etth1" if name in VARIANTS else name
    overlays = [ROOT / "recipes/ltsf" / f"{dataset}.yaml"]
    part = report.setdefault("parts", {}).setdefault(name, {"runs": []})
    for horizon in horizons:
        for seed in seeds:
            key = f"H{horizon}-s{seed}"
            entry = next((r for r in part["runs"] if r["key"] == key), None)
            if entry and entry["status"] == "done":
                continue
            runs = ROOT / "benchmarks/results/runs"
            resume = entry is not None and (runs / entry["run_dir"] / "checkpoints/last.ckpt").is_file()
            if not resume:
                if entry:
                    part["runs"].remove(entry)
                entry = {"key": key, "pred_len": horizon, "seed": seed, "status": "running", "commit": commit(),
                         "run_dir": f"ltsf-{name}-H{horizon}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"}
                part["runs"].append(entry)
                save()
            print(f"{name} {key}: {'resuming' if resume else 'starting'} {entry['run_dir']}", flush=True)
            overrides = [f"data.pred_len={horizon}", f"seed={seed}", "trainer.enable_progress_bar=false",
                         f"run_dir={runs / entry['run_dir']}", *VARIANTS.get(name, [])]
            metrics = run_recipe(overrides, overlays, resume=runs / entry["run_dir"] if resume else None)
            seconds = [e["seconds"] for e in metrics["history"] if "seconds" in e]
            entry.update(status="done", commit=commit(), test=metrics["test"], epochs=metrics["epochs"],
                         fit_seconds=metrics["fit_seconds"], epoch_seconds=statistics.median(seconds),
                         test_drop_last=drop_last_metrics(runs / entry["run_dir"]))
            part["accuracy"] = summarise_part(name, [r for r in part["runs"] if r["status"] == "done"])
            save()
    return part


def summarise_part(name: str, runs: list[dict]) -> dict:
    """Per horizon: mean test MSE/MAE (every window, and with the last incomplete batch dropped as
    the paper) against the paper's, and whether both are within 3 % of it. A variant of ETTh1 (MS
    scores the target alone; a quantile model its median) has no paper figure to stand against:
    it is reported beside the M model's."""
    table = {}
    for horizon in sorted({r["pred_len"] for r in runs}):
        rows = [r for r in runs if r["pred_len"] == horizon]
        paper = dict(zip(("mse", "mae"), PAPERS.get(name, {}).get(horizon, (None, None))))
        entry = {"seeds": [r["seed"] for r in rows], "paper": paper, "target": 0.03,
                 "epochs": [r["epochs"] for r in rows], "epoch_seconds": [r["epoch_seconds"] for r in rows]}
        for metric in ("mse", "mae"):
            entry[metric] = statistics.mean(r["test"][metric] for r in rows)
            entry[metric + "_drop_last"] = statistics.mean(r["test_drop_last"][metric] for r in rows)
            if paper[metric]:
                entry[metric + "_vs_paper"] = entry[metric] / paper[metric] - 1
                entry[metric + "_drop_last_vs_paper"] = entry[metric + "_drop_last"] / paper[metric] - 1
        for key in ("coverage_80", "pinball"):
            if key in rows[0]["test"]:
                entry[key] = statistics.mean(r["test"][key] for r in rows)
        if paper["mse"]:
            entry["within_target"] = all(abs(entry[m + "_drop_last_vs_paper"]) <= 0.03 for m in ("mse", "mae"))
        table[horizon] = entry
    return table


def markdown(report: dict, speed: dict | None = None) -> str:
    """The README's results tables from a benchmark JSON (and optionally a separate speed JSON)."""
    lines = ["| H | seqkit MSE | seqkit MAE | seeds | last batch dropped, as the paper | paper MSE / MAE "
             "| reference code, this machine |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for horizon, e in sorted(report.get("accuracy", {}).items(), key=lambda kv: int(kv[0])):
        reference = "0.357 / 0.395" if int(horizon) == 96 else "-"
        dropped = f"{e['mse_drop_last']:.4f} / {e['mae_drop_last']:.4f}" if "mse_drop_last" in e else "-"
        lines.append(f"| {horizon} | {e['mse']:.4f} ± {e['mse_std']:.4f} | {e['mae']:.4f} ± {e['mae_std']:.4f} "
                     f"| {len(e['seeds'])} | {dropped} | {e['paper']['mse']:.3f} / {e['paper']['mae']:.3f} "
                     f"| {reference} |")
    speed = speed or report
    if "speed" in speed:
        lines += ["", "| precision | epoch (train + val) | vs reference 127 s | peak memory (imports) "
                  "| step GFLOP/s | of fp32 matmul |", "| --- | --- | --- | --- | --- | --- |"]
        for r in speed["speed"]["runs"]:
            imports = f" ({r['import_memory_gb']:.2f})" if "import_memory_gb" in r else ""
            lines.append(f"| {r['precision']} | {r['epoch_seconds']:.1f} s | {r['epoch_seconds'] / 127:.2f}x "
                         f"| {r['peak_memory_gb']:.2f} GB{imports} | {r['achieved_gflops']:.0f} "
                         f"| {r['fraction_of_matmul']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2024, 2025, 2026])
    parser.add_argument("--precision", default=None, help="trainer.precision (default: the recipe's)")
    parser.add_argument("--speed-only", action="store_true", help="skip the accuracy runs")
    parser.add_argument("--skip-speed", action="store_true", help="skip the speed measurements")
    parser.add_argument("--memory-only", action="store_true",
                        help="only re-measure peak memory (20 training batches per precision) into the speed runs")
    parser.add_argument("--fill-drop-last", action="store_true",
                        help="only add the paper's protocol (last test batch dropped) to recorded runs, "
                             "from their checkpoints")
    parser.add_argument("--parts", nargs="+", default=[], choices=[*[p for p in PAPERS if p != "etth1"], *VARIANTS],
                        help="only these parts: the paper's other data sets by overlay (recipes/ltsf/NAME.yaml), "
                             "or ETTh1 with features MS or a quantile head; resumable, with --horizons and --seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ltsf.json")
    parser.add_argument("--markdown", type=Path, nargs="*", metavar="JSON",
                        help="only print the README tables from these result files (accuracy, then speed)")
    args = parser.parse_args()
    if args.markdown is not None:
        files = [json.loads(p.read_text()) for p in (args.markdown or [args.out])]
        print(markdown(files[0], files[1] if len(files) > 1 else None))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                         "torch": torch.__version__}

    def save():
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    if args.parts:
        for name in args.parts:
            part = part_runs(name, args.horizons, args.seeds, report, save)
            for horizon, e in part.get("accuracy", {}).items():
                paper = (f" paper {e['paper']['mse']:.3f}/{e['paper']['mae']:.3f}, last batch dropped "
                         f"{e['mse_drop_last_vs_paper']:+.1%}/{e['mae_drop_last_vs_paper']:+.1%}"
                         if e["paper"]["mse"] else "")
                extra = f", 80 % interval covers {e['coverage_80']:.1%}" if "coverage_80" in e else ""
                print(f"{name} H={horizon}: MSE {e['mse']:.4f} MAE {e['mae']:.4f}{paper}{extra}; "
                      f"{statistics.mean(e['epoch_seconds']):.0f} s an epoch, epochs {e['epochs']}", flush=True)
        print(f"wrote {args.out}")
        return

    if args.memory_only:
        for entry in report["speed"]["runs"]:
            memory = epoch_speed(entry["precision"], batches="20")
            entry.update({k: v for k, v in memory.items() if "memory" in k})
            save()
            print(f"{entry['precision']:>10}: peak memory {entry['peak_memory_gb']:.2f} GB, "
                  f"{entry['import_memory_gb']:.2f} GB of it after the imports")
        return

    if args.fill_drop_last:
        for run in report.get("accuracy_runs", []):
            if "test_drop_last" not in run:
                pattern = f"ltsf-H{run['pred_len']}-s{run['seed']}-*"
                found = sorted((ROOT / "benchmarks/results/runs").glob(pattern))
                if found:
                    run["run_dir"] = found[-1].name
                    run["test_drop_last"] = drop_last_metrics(found[-1])
        report["accuracy"] = summarise(report["accuracy_runs"])
        save()
        print(markdown(report))
        return

    if not args.skip_speed:
        report["speed"] = {"reference": REFERENCE_SPEED, "target_epoch_seconds": 0.7 * 127, "runs": []}
        for precision in ("32-true", "bf16-mixed"):
            entry = {**step_speed(precision), **epoch_speed(precision)}
            report["speed"]["runs"].append(entry)
            save()
            print(f"{precision:>10}: epoch {entry['epoch_seconds']:.1f} s (target <= 88.9), peak memory "
                  f"{entry['peak_memory_gb']:.2f} GB ({entry['import_memory_gb']:.2f} GB of it the imports), "
                  f"step {entry['step_seconds']:.3f} s, "
                  f"{entry['achieved_gflops']:.0f} GFLOP/s = {entry['fraction_of_matmul']:.2f} of fp32 matmul "
                  f"({entry['matmul_gflops_fp32']:.0f} GFLOP/s)", flush=True)
    if not args.speed_only:
        runs = [r for r in report.get("accuracy_runs", [])
                if not (r["pred_len"] in args.horizons and r["seed"] in args.seeds)]
        for horizon in args.horizons:
            for seed in args.seeds:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                overrides = [f"data.pred_len={horizon}", f"seed={seed}", "trainer.enable_progress_bar=false",
                             f"run_dir={ROOT}/benchmarks/results/runs/ltsf-H{horizon}-s{seed}-{stamp}"]
                if args.precision:
                    overrides.append(f"trainer.precision={args.precision}")
                metrics = run_recipe(overrides)
                runs.append({"pred_len": horizon, "seed": seed, "test": metrics["test"], "epochs": metrics["epochs"],
                             "fit_seconds": metrics["fit_seconds"], "precision": args.precision or "recipe default",
                             "run_dir": Path(metrics["run_dir"]).name,
                             "test_drop_last": drop_last_metrics(Path(metrics["run_dir"]))})
                report["accuracy_runs"] = runs
                report["accuracy"] = summarise(runs)
                save()
        print(f"\n{'H':>4} {'MSE':>16} {'MAE':>16} {'paper':>13} {'vs anchor':>18}")
        for horizon, e in report.get("accuracy", {}).items():
            print(f"{horizon:>4} {e['mse']:.4f} ± {e['mse_std']:.4f} {e['mae']:.4f} ± {e['mae_std']:.4f} "
                  f"{e['paper']['mse']:.3f}/{e['paper']['mae']:.3f} "
                  f"{e['mse_vs_anchor']:+.1%}/{e['mae_vs_anchor']:+.1%} ({e['anchor']}, n={len(e['seeds'])})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

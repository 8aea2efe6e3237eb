"""LM benchmark: the character LSTM on Tiny Shakespeare against nanoGPT's CPU anchors, the word
LSTM on Penn Treebank against the published perplexities, plus speed.

Anchors measured on this 2-core machine: nanoGPT's documented CPU configuration (4 layers, 128
wide, 2000 iterations) reaches validation loss 1.886 in 73 s; 4 layers, 256 wide, 1.685 in
12 min 26 s. Runs the default recipe (target: validation loss <= 1.60 nats/char, trained in
<= 10 minutes), the same with a 73-second budget (trainer.max_time; target < 1.886) and,
optionally, sentencepiece units (bits per character compare across units) and the peak memory of
the debug recipe on a 50 MB corpus (`memory`). Reports training
throughput (tokens/s) and the fraction of this machine's float32 matmul GFLOP/s the training
step achieves (FLOPs counted from the layer sizes), both measured in the same process. Prints a table and writes JSON.

Penn Treebank (Mikolov's 10k-word version; `recipes/lm/ptb.yaml` and its small sibling
`ptb-small.yaml`): `ptb15` trains the small recipe for 15 minutes (target: test perplexity <=
115.9, Zaremba et al.'s small LSTM), `ptb90` the default PTB recipe for 90 minutes (target <=
82.1, Zaremba et al.'s medium) and draws its validation perplexity against training minutes
(benchmarks/results/ptb90_curve.png and the JSON). Each reports validation and test perplexity
with the recipe's evaluation streams (10, as pytorch/examples) and with one stream (AWD-LSTM's),
tokens per second, and `ptbspeed` the PTB model's training step against the matmul rate. A
killed `ptb90` continues from its last checkpoint when run again (its run directory is recorded
in the JSON as soon as it starts): a 90-minute run can span sessions.

Usage:
    python benchmarks/lm.py                          # default, budget73 and speed (about 15 minutes)
    python benchmarks/lm.py --only budget73          # a part: default, budget73, subword, speed, memory,
                                                     # ptb15, ptb90, ptbspeed
Set SEQKIT_DATA to the folder holding tinyshakespeare/input.txt and ptb/ (`make bench-lm` does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import commit, matmul_gflops

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = {"nanogpt_4x128_73s": 1.886, "nanogpt_4x256_12m26s": 1.685}
TARGETS = {"default": 1.60, "budget73": 1.886}
# Published PTB test perplexities (not ours): Zaremba et al. 2014 as reproduced by TensorFlow's
# tutorial, pytorch/examples' word_language_model README, Merity et al. 2017 (AWD-LSTM).
PTB_ANCHORS = {"zaremba_small_2x200_13_epochs": 115.9, "zaremba_medium_2x650_39_epochs": 82.1,
               "zaremba_large_2x1500_55_epochs": 78.3, "pytorch_examples_2x650_tied_40_epochs": 76.0,
               "awd_lstm_3x1150_500_epochs": 58.8, "awd_lstm_finetuned": 57.3}
PTB_RUNS = {"ptb15": (["recipes/lm/ptb-small.yaml"], "00:00:15:00", 115.9),
            "ptb90": (["recipes/lm/ptb.yaml"], "00:01:30:00", 82.1)}


def run(name: str, extra: list[str], overlays: list[str] = (), run_dir: Path | None = None,
        resume: bool = False) -> dict:
    """The recipe with `overlays` and overrides `extra` in `run_dir` (a new one by default), or
    that run continued from its last checkpoint (`resume`)."""
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    run_dir = run_dir or ROOT / "benchmarks/results/runs" / f"lm-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    metrics = sk.run_recipe(ROOT / "recipes/lm", ["trainer.enable_progress_bar=false", f"run_dir={run_dir}", *extra],
                            [ROOT / o for o in overlays], resume=run_dir if resume else None)
    return {"val": metrics["val"], **({"test": metrics["test"]} if "test" in metrics else {}),
            "fit_seconds": metrics["fit_seconds"], "steps": metrics["steps"],
            "epochs": metrics["epochs"], "train_tokens_per_second": metrics["train_tokens_per_second"],
            "parameters": metrics["parameters"], "run_dir": Path(metrics["run_dir"]).name, "overrides": extra,
            "overlays": list(overlays), "history": metrics["history"], "eval_streams": metrics.get("eval_streams"),
            "commit": commit()}


def one_stream(run_dir: Path) -> dict:
    """Validation and test scores of a run's best checkpoint read as one stream (AWD-LSTM's
    evaluation; the recipe's own uses data.eval_batch_size streams)."""
    import seqkit as sk
    from seqkit.checkpoint import load_model, resolve

    model, info = load_model(resolve(run_dir))
    data = sk.TextData(**{**info["config"]["data"], "eval_batch_size": 1}, tokenizer=info["tokenizer"])
    task = sk.Task(model, **info["config"]["train"], info=info)
    trainer = sk.make_trainer({"accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False,
                               "enable_model_summary": False})
    return {"val": sk.run_test(trainer, task, dataloaders=data.val_dataloader()),
            "test": sk.run_test(trainer, task, dataloaders=data.test_dataloader())}


def budget_used(run_dir: Path) -> dict:
    """Training minutes by the run's own Timer (the clock of trainer.max_time, kept across resumes,
    unlike the seconds of one process) and the tokens trained per second of it, from last.ckpt."""
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    timer = next(v for k, v in checkpoint["callbacks"].items() if k.startswith("Timer"))
    seconds = timer["time_elapsed"]["train"]
    config = checkpoint["seqkit"]["config"]
    # tokens per optimizer step, on average (variable_bptt draws lengths around bptt)
    train = (config["data"]["batch_size"] * config["data"]["bptt"]
             * (config.get("trainer", {}).get("accumulate_grad_batches") or 1))
    return {"train_minutes": round(seconds / 60, 2), "steps": checkpoint["global_step"],
            "tokens_per_second": round(checkpoint["global_step"] * train / seconds, 1)}


def curve(entry: dict, path: Path) -> list[dict]:
    """Validation perplexity after each epoch against the training minutes so far, drawn to `path`."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, minutes = [], 0.0
    for epoch in entry["history"]:
        minutes += epoch["seconds"] / 60
        if "val/loss" in epoch:
            points.append({"epoch": epoch["epoch"], "minutes": round(minutes, 2),
                           "val_perplexity": round(math.exp(epoch["val/loss"]), 2)})
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot([p["minutes"] for p in points], [p["val_perplexity"] for p in points], marker="o", label="seqkit")
    for name, value in (("Zaremba medium (test)", 82.1), ("Zaremba small (test)", 115.9)):
        axes.axhline(value, linestyle="--", linewidth=1, color="grey")
        axes.annotate(name, (0, value), textcoords="offset points", xytext=(4, 3), fontsize=8)
    axes.set(xlabel="training minutes (2-core CPU)", ylabel="validation perplexity", yscale="log",
             title="Penn Treebank word LSTM: validation perplexity over training time")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return points


def train_flops_per_token(model: torch.nn.Module) -> float:
    """Matmul FLOPs of one training token: 3x the forward pass (the backward pass costs about twice
    the forward), counted from the layer sizes. (torch's FlopCounterMode does not see the CPU's
    fused LSTM kernel, so it would count the recurrent layers as zero.)"""
    gates = {torch.nn.LSTM: 4, torch.nn.GRU: 3, torch.nn.RNN: 1}
    forward = 0.0
    for module in model.modules():
        if type(module) in gates:
            directions = 2 if module.bidirectional else 1
            for layer in range(module.num_layers):
                size = module.input_size if layer == 0 else module.hidden_size * directions
                forward += directions * 2 * gates[type(module)] * module.hidden_size * (size + module.hidden_size)
        elif isinstance(module, torch.nn.Linear):
            forward += 2 * module.in_features * module.out_features
    head = model.head
    forward += 2 * head.weight.shape[0] * head.weight.shape[1]  # the (tied) output layer
    return 3 * forward


def step_speed(precision: str, steps: int = 8, overlays: list[str] = ()) -> dict:
    """Time training steps of the default model (or that of `overlays`) on real batches; FLOPs
    from `train_flops_per_token`."""
    import seqkit as sk

    cfg = sk.load_config(ROOT / "recipes/lm", [ROOT / o for o in overlays])
    data = sk.TextData(**cfg.data)
    model = sk.build_model(cfg.model, **data.dims).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [data.streams["train"][k] for k in range(steps + 2)]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision.startswith("bf16"))

    def step(batch):
        with autocast:
            logits, lengths = model(batch["inputs"])
            loss = model.head.loss(logits, lengths, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step(batches[0])
    times, peaks = [], []
    for batch in batches[1:]:
        peaks.append(matmul_gflops(seconds=0.5))
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
    seconds, peak = statistics.median(times), statistics.median(peaks)
    tokens = batches[0]["inputs"].numel()
    flops = train_flops_per_token(model) * tokens
    return {"precision": precision, "tokens_per_step": tokens, "step_seconds": seconds,
            "tokens_per_second": tokens / seconds, "step_gflop": flops / 1e9,
            "achieved_gflops": flops / seconds / 1e9, "matmul_gflops_fp32": peak,
            "fraction_of_matmul": flops / seconds / 1e9 / peak}


def peak_rss(command: list[str]) -> tuple[float, int]:
    """Run `command`; its peak resident memory in GB (this child's own, from wait4) and its status."""
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024 / 1e9, child.returncode  # ru_maxrss is in KB on Linux


def memory(megabytes: int = 50) -> dict:
    """Peak RSS of `seqkit run recipes/lm -c configs/debug.yaml` on Tiny Shakespeare repeated to
    `megabytes` MB, and of building the data module alone (the same text), each in its own process."""
    import seqkit as sk

    text = sk.read_text(sk.locate("tinyshakespeare/input.txt"))
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "big.txt"
        corpus.write_text(text * (megabytes * 10**6 // len(text) + 1))
        seqkit = str(Path(sys.executable).parent / "seqkit")
        recipe, status = peak_rss([seqkit, "run", "recipes/lm", "-c", "configs/debug.yaml", f"data.path={corpus}",
                                   f"run_dir={folder}/run", "trainer.enable_progress_bar=false"])
        if status:
            raise SystemExit(f"the debug run on {corpus} failed (status {status})")
        build = f"import seqkit as sk; sk.TextData({str(corpus)!r}, batch_size=16, bptt=64)"
        data, status = peak_rss([sys.executable, "-c", build])
        imports, _ = peak_rss([sys.executable, "-c", "import seqkit as sk; sk.TextData"])  # torch, lightning
        characters = corpus.stat().st_size
    return {"characters": characters, "recipe_debug_peak_gb": recipe, "data_module_peak_gb": data,
            "imports_peak_gb": imports, "rss_above_imports_bytes_per_character": (data - imports) * 1e9 / characters,
            "commit": commit(),
            "command": "seqkit run recipes/lm -c configs/debug.yaml data.path=<50 MB corpus>"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["default", "budget73", "speed"],
                        choices=["default", "budget73", "subword", "speed", "memory", "ptb15", "ptb90", "ptbspeed"])
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every training run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/lm.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["anchors"] = ANCHORS

    def save():
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    runs = {"default": [], "budget73": ["trainer.max_time=00:00:01:13"],
            "subword": ["data.units=sentencepiece", "data.vocab_size=512", "data.bptt=64"]}
    for name, extra in runs.items():
        if name in args.only:
            report[name] = run(name, [*extra, *args.set])
            save()
            entry = report[name]
            target = f" (target <= {TARGETS[name]})" if name in TARGETS else ""
            print(f"{name}: val loss {entry['val']['loss']:.4f} nats/token, {entry['val']['bpc']:.4f} bits/char"
                  f"{target}; {entry['fit_seconds'] / 60:.1f} min, {entry['train_tokens_per_second']:.0f} tokens/s",
                  flush=True)
    for name, (overlays, budget, target) in PTB_RUNS.items():
        if name not in args.only:
            continue
        report["ptb_anchors"] = PTB_ANCHORS
        earlier = report.get(name, {})
        resume = earlier.get("status") == "running" and (ROOT / "benchmarks/results/runs" / earlier["run_dir"]
                                                          / "checkpoints" / "last.ckpt").is_file()
        if resume:
            run_dir = ROOT / "benchmarks/results/runs" / earlier["run_dir"]
            print(f"{name}: resuming {run_dir.name}", flush=True)
        else:  # recorded before training, so that a killed run is resumed, not restarted
            run_dir = ROOT / "benchmarks/results/runs" / f"lm-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
            report[name] = {"status": "running", "run_dir": run_dir.name, "commit": commit(), "set": args.set}
            save()
        entry = run(name, [f"trainer.max_time={budget}", *args.set], overlays, run_dir, resume)
        entry["one_stream"] = one_stream(ROOT / "benchmarks/results/runs" / entry["run_dir"])
        entry["budget"] = budget_used(ROOT / "benchmarks/results/runs" / entry["run_dir"])
        entry["target_test_perplexity"] = target
        entry["curve"] = curve(entry, args.out.parent / f"{name}_curve.png")
        entry.update(status="done", commit=commit(), threads=torch.get_num_threads())
        report[name] = entry
        save()
        print(f"{name}: test perplexity {entry['test']['perplexity']:.1f} with {entry.get('eval_streams', 10)} "
              f"streams, {entry['one_stream']['test']['perplexity']:.1f} with one (target <= {target}); val "
              f"{entry['val']['perplexity']:.1f}; {entry['fit_seconds'] / 60:.1f} min, "
              f"{entry['train_tokens_per_second']:.0f} tokens/s", flush=True)
    if "ptbspeed" in args.only:
        report["ptbspeed"] = [step_speed(p, overlays=["recipes/lm/ptb.yaml"]) for p in ("bf16-mixed", "32-true")]
        save()
        for entry in report["ptbspeed"]:
            print(f"ptbspeed {entry['precision']}: {entry['tokens_per_second']:.0f} tokens/s, "
                  f"{entry['fraction_of_matmul']:.2f} of fp32 matmul", flush=True)
    if "speed" in args.only:
        report["speed"] = [step_speed(p) for p in ("bf16-mixed", "32-true")]
        save()
        for entry in report["speed"]:
            print(f"speed {entry['precision']}: {entry['tokens_per_second']:.0f} tokens/s, "
                  f"{entry['achieved_gflops']:.0f} GFLOP/s = {entry['fraction_of_matmul']:.2f} of fp32 matmul "
                  f"({entry['matmul_gflops_fp32']:.0f} GFLOP/s)", flush=True)
    if "memory" in args.only:
        report["memory"] = memory()
        save()
        entry = report["memory"]
        print(f"memory: {entry['characters'] / 1e6:.0f} MB corpus: debug recipe peaks at "
              f"{entry['recipe_debug_peak_gb']:.2f} GB RSS, the data module alone at "
              f"{entry['data_module_peak_gb']:.2f} GB "
              f"({entry['rss_above_imports_bytes_per_character']:.1f} bytes per character over the "
              f"{entry['imports_peak_gb']:.2f} GB of the imports)", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

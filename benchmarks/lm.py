"""LM benchmark: the character LSTM on Tiny Shakespeare against nanoGPT's CPU anchors, plus speed.

Anchors measured on this 2-core machine: nanoGPT's documented CPU configuration (4 layers, 128
wide, 2000 iterations) reaches validation loss 1.886 in 73 s; 4 layers, 256 wide, 1.685 in
12 min 26 s. Runs the default recipe (target: validation loss <= 1.60 nats/char, trained in
<= 10 minutes), the same with a 73-second budget (trainer.max_time; target < 1.886) and,
optionally, sentencepiece units (bits per character compare across units) and the peak memory of
the debug recipe on a 50 MB corpus (`memory`). Reports training
throughput (tokens/s) and the fraction of this machine's float32 matmul GFLOP/s the training
step achieves (FLOPs counted from the layer sizes), both measured in the same process. Prints a table and writes JSON.

Usage:
    python benchmarks/lm.py                          # default, budget73 and speed (about 15 minutes)
    python benchmarks/lm.py --only budget73          # a part: default, budget73, subword, speed, memory
Set SEQKIT_DATA to the folder holding tinyshakespeare/input.txt (`make bench-lm` does).
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


def run(name: str, extra: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "benchmarks/results/runs" / f"lm-{name}-{stamp}"
    metrics = sk.run_recipe(ROOT / "recipes/lm", ["trainer.enable_progress_bar=false", f"run_dir={run_dir}", *extra])
    return {"val": metrics["val"], "fit_seconds": metrics["fit_seconds"], "steps": metrics["steps"],
            "epochs": metrics["epochs"], "train_tokens_per_second": metrics["train_tokens_per_second"],
            "parameters": metrics["parameters"], "run_dir": Path(metrics["run_dir"]).name, "overrides": extra}


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


def step_speed(precision: str, steps: int = 8) -> dict:
    """Time training steps of the default model on real batches; FLOPs from `train_flops_per_token`."""
    import seqkit as sk

    cfg = sk.load_config(ROOT / "recipes/lm")
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
                        choices=["default", "budget73", "subword", "speed", "memory"])
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

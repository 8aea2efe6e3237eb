"""SegRNN against the forecasters a user would pick instead, side by side in one run, on ETTh1.

The seed claim (SegRNN paper, Lin et al. 2023): SegRNN beats Transformer forecasters while cutting
runtime and memory by more than 78 %. This measures it on this machine for seqkit's SegRNN (the
recipe `recipes/ltsf`) and, from Nixtla's `neuralforecast`, PatchTST, iTransformer and its LSTM
(the classic RNN baseline): ETTh1, L = 720, H = 96, features M (7 channels), seqkit's split and
scaling for every model (`seqkit.SeriesData`: the ETT hourly borders, train rows 0-8640, val
8640-11520, test 11520-14400, windows reaching back L rows; standardised with the training rows'
mean and std).

Each model runs in its own process (`--worker`), which measures, in this order:
- speed: `--warmup` training steps, then the median of `--steps` timed ones, on the same batch of
  64 windows (the first 64 training windows) for every model; the seconds per epoch are the steps
  of one epoch (7825 training windows // 64 = 122) times the step's median;
- memory: the process's peak resident set (VmHWM, /proc/self/status) after the imports, and after
  the timed steps (the model's figure: `peak_memory_gb`; minus the imports: `working_memory_gb`),
  and at the end of the whole process (`run_peak_memory_gb`, training and test included);
- accuracy: a fresh model (same seed) trained for an equal wall-clock budget (`--budget-minutes`,
  15 each; training and validation count, as Lightning's trainer.max_time counts them), then test
  MSE / MAE on the scaled values over every test window, averaged over all windows, steps and
  channels (Time-Series-Library's way).
Every model follows the recipe's stopping rules: validation MSE (scaled, every validation window)
after each epoch and when the budget runs out, early stopping with the recipe's patience (5), at
most the recipe's max_epochs (30), the best validation weights restored for the test. All run in
the same precision, the recipe's (`--precision`, default bf16-mixed: bf16 autocast, float32
weights; 32-true for float32 throughout).

How each model is driven:
- segrnn: the recipe itself. Its config (`recipes/ltsf/config.yaml`) with the overrides seed,
  precision, run_dir and no progress bar, plus trainer.max_time set on the loaded config (the ltsf
  config has no max_time key, so an override is refused), then `recipe.py`'s `main(cfg)`: Lightning,
  Adam 3e-4, the 'type3' schedule, the batch of 64 taken as 2 x 32 with summed gradients
  (trainer.accumulate_grad_batches), the best checkpoint tested. The timed step is the recipe's
  too: the 64 windows in those 2 parts, one Adam step.
- patchtst, itransformer, lstm: the neuralforecast class built with its defaults except h=96,
  input_size=720, loss=valid_loss=MSE() (neuralforecast's default is MAE; every model here trains
  on MSE, as SegRNN) and random_seed; iTransformer also n_series=7. Its data pipeline
  (TimeSeriesDataset, windows sampled from series, windows_batch_size) is not used: it cannot take
  our windows, split and scaling exactly. A plain torch loop drives the module's forward instead,
  with the window dict its BaseModel builds in training_step: insample_y and insample_mask
  [B, L, n_series], futr_exog, hist_exog and stat_exog None. iTransformer is multivariate: one
  window is one sample with n_series = 7, so a step is 64 samples. PatchTST and the LSTM are
  channel-independent (n_series = 1): the 7 channels of a window become 7 series of the batch, so a
  step is 64 x 7 = 448 univariate windows. The model's own temporal scaler (`model.scaler`,
  scaler_type: the LSTM's default is 'robust'; PatchTST's and iTransformer's 'identity', they
  normalise inside with RevIN / use_norm) is applied as BaseModel does: statistics of each
  window's input part, the target scaled with them for the training loss, the forecast scaled back
  for validation and test. The optimizer is Adam with the class's default learning rate (PatchTST
  1e-4, iTransformer 1e-3, LSTM 1e-3), constant: its default StepLR with num_lr_decays=-1 never
  decays. Deviations from neuralforecast's own fit(): our batch of 64 windows per step instead of
  its batch_size / windows_batch_size sampling, epochs over every training window, MSE, the
  budget and the recipe's early stopping instead of max_steps, our precision.

Writes `benchmarks/results/peers.json` (`--out`): the code version, the settings, each model's
figures and SegRNN's ratios against each peer, saved after each model; `--only` runs some models
and merges them with what the file holds. `--smoke`: a few steps of each model (L = 720 still) and
64 validation and test windows, about 2 minutes, into a temporary JSON.

Usage (in the peers virtualenv: `make bench-peers`, which also sets SEQKIT_DATA):
    python benchmarks/peers.py                          # every model, 15 minutes each (about 70 minutes)
    python benchmarks/peers.py --only segrnn patchtst   # some, merged into the JSON
    python benchmarks/peers.py --smoke                  # a quick check of the whole set-up
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import importlib.util
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import commit
from ltsf import peak_rss_gb

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "ltsf"
MODELS = ("segrnn", "patchtst", "itransformer", "lstm")
LABELS = {"segrnn": "SegRNN (seqkit)", "patchtst": "PatchTST (neuralforecast)",
          "itransformer": "iTransformer (neuralforecast)", "lstm": "LSTM (neuralforecast)"}
CLAIM = {"source": "SegRNN paper (Lin et al. 2023)", "reduction": 0.78,
         "text": "more than 78 % less runtime and memory than Transformer forecasters"}
MARK = "PEERS-RESULT "  # the worker's result line on stdout


def settings(args) -> dict:
    """The run's settings, the same for every model (each model's record keeps its own copy)."""
    import seqkit as sk

    cfg = sk.load_config(RECIPE)
    smoke = args.smoke
    return {"data": "ETT-small/ETTh1.csv", "seq_len": 720, "pred_len": 96, "features": "M", "batch_size": 64,
            "precision": args.precision or cfg.trainer.precision, "seed": args.seed,
            "budget_seconds": 60.0 if smoke else 60.0 * args.budget_minutes,
            "warmup_steps": 1 if smoke else args.warmup, "timed_steps": 2 if smoke else args.steps,
            "max_epochs": 1 if smoke else int(cfg.trainer.max_epochs), "patience": int(cfg.trainer.patience),
            "train_batches": 2 if smoke else None, "val_windows": 64 if smoke else None,
            "test_windows": 64 if smoke else None, "smoke": smoke}


def autocast(s: dict):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["precision"].startswith("bf16"))


def evaluate(predict, windows, s: dict, count: int | None = None, size: int = 64) -> dict:
    """MSE and MAE of `predict` (inputs (B, L, C) -> forecast (B, H, C)) over the first `count`
    windows (all by default), averaged over windows, steps and channels."""
    count = len(windows) if count is None else min(count, len(windows))
    squared = absolute = total = 0.0
    with torch.no_grad(), autocast(s):
        for start in range(0, count, size):
            batch = windows.__getitems__(list(range(start, min(start + size, count))))
            error = (predict(batch["inputs"]).float() - batch["targets"]).double()
            squared, absolute = squared + error.pow(2).sum().item(), absolute + error.abs().sum().item()
            total += error.numel()
    return {"mse": squared / total, "mae": absolute / total, "windows": count}


class SegRNNSteps:
    """The recipe's model and training step (its batch in accumulate_grad_batches parts), for timing."""

    def __init__(self, data, s: dict):
        import seqkit as sk

        cfg = sk.load_config(RECIPE)
        torch.manual_seed(s["seed"])
        self.s, self.parts = s, int(cfg.trainer.accumulate_grad_batches)
        self.model = sk.build_model(cfg.model, **data.dims).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr,
                                          weight_decay=cfg.train.weight_decay)

    def step(self, batch: dict) -> float:
        size, total = len(batch["inputs"]) // self.parts, 0.0
        for k in range(self.parts):
            part = {key: value[k * size:(k + 1) * size] for key, value in batch.items()}
            with autocast(self.s):
                predictions, lengths = self.model(part["inputs"])
                loss = self.model.head.loss(predictions.float(), lengths, part) / self.parts
            loss.backward()
            total += loss.item()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return total


class Peer:
    """A neuralforecast model driven on seqkit's windows by a plain torch loop (module docstring)."""

    def __init__(self, name: str, data, s: dict):
        import neuralforecast.models as nf
        from neuralforecast.losses.pytorch import MSE

        cls = {"patchtst": nf.PatchTST, "itransformer": nf.iTransformer, "lstm": nf.LSTM}[name]
        options = {"h": data.pred_len, "input_size": data.seq_len, "loss": MSE(), "valid_loss": MSE(),
                   "random_seed": s["seed"]}
        if cls.MULTIVARIATE:
            options["n_series"] = len(data.columns)
        torch.manual_seed(s["seed"])
        self.s, self.model = s, cls(**options)
        self.scaled = self.model.scaler.scaler_type not in (None, "identity")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.model.learning_rate)

    def windows(self, inputs, targets=None):
        """Our windows (B, L, C) [+ targets (B, H, C)] as the model's window dict (insample_y
        [B', L, n_series]) and the targets [B', H, n_series], in the model's scaler's units."""
        batch, steps, channels = inputs.shape
        series = inputs if targets is None else torch.cat([inputs, targets], 1)
        if not self.model.MULTIVARIATE:  # channel-independent: each channel its own series
            series = series.permute(0, 2, 1).reshape(batch * channels, -1, 1)
        if self.scaled:  # as BaseModel._normalization: [B', L+H, 1 feature, n], statistics of the input part
            x = series.unsqueeze(2)
            mask = torch.ones_like(x)
            mask[:, steps:] = 0.0
            series = self.model.scaler.transform(x=x, mask=mask).squeeze(2)
        insample = series[:, :steps]
        window = {"insample_y": insample, "insample_mask": torch.ones_like(insample),
                  "futr_exog": None, "hist_exog": None, "stat_exog": None}
        return window, series[:, steps:] if targets is not None else None

    def forward(self, window: dict):
        out = self.model.loss.domain_map(self.model(window))
        return out.reshape(out.shape[0], self.model.h, -1)  # [B', H, n_series]

    def step(self, batch: dict) -> float:
        window, target = self.windows(batch["inputs"], batch["targets"])
        with autocast(self.s):
            out = self.forward(window)
        loss = F.mse_loss(out.float(), target)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def predict(self, inputs):
        """The forecast (B, H, C) on our scale."""
        window, _ = self.windows(inputs)
        out = self.forward(window).float()
        if self.scaled:
            scaler = self.model.scaler
            out = scaler.inverse_transform(z=out, x_shift=scaler.x_shift[:, :, 0], x_scale=scaler.x_scale[:, :, 0])
        if not self.model.MULTIVARIATE:
            out = out.reshape(inputs.shape[0], inputs.shape[2], -1).permute(0, 2, 1)
        return out


def train_peer(peer: Peer, data, s: dict) -> dict:
    """Train for the budget with the recipe's rules (module docstring); test the best weights."""
    train, size = data.splits["train"], s["batch_size"]
    per_epoch = len(train) // size  # the last incomplete batch dropped, as the recipe's loader
    if s["train_batches"]:
        per_epoch = min(per_epoch, s["train_batches"])
    generator = torch.Generator().manual_seed(s["seed"])
    history, best, best_state, bad, steps = [], math.inf, None, 0, 0
    start = time.perf_counter()
    deadline, stopped = start + s["budget_seconds"], "max_epochs"
    for epoch in range(1, s["max_epochs"] + 1):
        peer.model.train()
        began, order, losses = time.perf_counter(), torch.randperm(len(train), generator=generator), []
        for k in range(per_epoch):
            losses.append(peer.step(train.__getitems__(order[k * size:(k + 1) * size].tolist())))
            steps += 1
            if time.perf_counter() >= deadline:
                stopped = "budget"
                break
        peer.model.eval()
        val = evaluate(peer.predict, data.splits["val"], s, s["val_windows"])["mse"]
        history.append({"epoch": epoch, "steps": len(losses), "complete": len(losses) == per_epoch,
                        "train_loss": statistics.mean(losses), "val/loss": val,
                        "seconds": round(time.perf_counter() - began, 3)})
        print(f"  epoch {epoch}: {len(losses)} steps, train {history[-1]['train_loss']:.4f}, val {val:.4f}, "
              f"{history[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
        if val < best:
            best, best_state, bad = val, copy.deepcopy(peer.model.state_dict()), 0
        else:
            bad += 1
        if stopped == "budget" or time.perf_counter() >= deadline:
            stopped = "budget"
            break
        if bad >= s["patience"]:
            stopped = "patience"
            break
    fit_seconds = time.perf_counter() - start
    peer.model.load_state_dict(best_state)
    peer.model.eval()
    test = evaluate(peer.predict, data.splits["test"], s, s["test_windows"])
    return {"test": test, "best_val_loss": best, "epochs": len(history), "steps": steps, "stopped": stopped,
            "fit_seconds": round(fit_seconds, 1), "history": history}


def max_time(seconds: float) -> str:
    """Lightning's DD:HH:MM:SS."""
    seconds = max(1, round(seconds))
    return f"{seconds // 86400:02d}:{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def train_segrnn(s: dict, run_dir: Path) -> dict:
    """The recipe's main(cfg), with trainer.max_time set on its loaded config (module docstring)."""
    import seqkit as sk

    overrides = [f"seed={s['seed']}", f"data.path={s['data']}", f"data.seq_len={s['seq_len']}",
                 f"data.pred_len={s['pred_len']}", f"data.features={s['features']}",
                 f"trainer.precision={s['precision']}", f"trainer.max_epochs={s['max_epochs']}",
                 f"trainer.patience={s['patience']}", "trainer.enable_progress_bar=false", f"run_dir={run_dir}"]
    cfg = sk.load_config(RECIPE, overrides=overrides)
    parts, half = int(cfg.trainer.accumulate_grad_batches), cfg.data.batch_size
    if s["train_batches"]:
        cfg.trainer.limit_train_batches = s["train_batches"] * parts
    for split, count in (("val", s["val_windows"]), ("test", s["test_windows"])):
        if count:
            cfg.trainer[f"limit_{split}_batches"] = math.ceil(count / half)
    cfg.trainer.max_time = max_time(s["budget_seconds"])
    spec = importlib.util.spec_from_file_location("seqkit_recipe_ltsf", RECIPE / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    metrics = module.main(cfg)
    where = Path(metrics["run_dir"]).resolve()
    return {"test": dict(metrics["test"]), "best_val_loss": metrics["best_val_loss"], "epochs": metrics["epochs"],
            "fit_seconds": metrics["fit_seconds"], "history": metrics["history"],
            "run_dir": str(where.relative_to(ROOT)) if where.is_relative_to(ROOT) else where.name}


def worker(name: str, s: dict, run_dir: Path) -> dict:
    """One model in this process: speed, memory, then the budgeted training and the test."""
    import seqkit as sk

    sk.SeriesData, sk.build_model, sk.Task  # noqa: B018  (seqkit's lazy imports, Lightning among them)
    if name == "segrnn":
        library = f"seqkit {importlib.metadata.version('seqkit')}"
    else:
        import neuralforecast.models

        library = f"neuralforecast {neuralforecast.__version__}"
    imports = peak_rss_gb()  # the baseline: torch, Lightning, seqkit (and neuralforecast)
    data = sk.SeriesData(s["data"], seq_len=s["seq_len"], pred_len=s["pred_len"], batch_size=s["batch_size"],
                         features=s["features"])
    runner = SegRNNSteps(data, s) if name == "segrnn" else Peer(name, data, s)
    parameters = sum(p.numel() for p in runner.model.parameters())
    hyper = ({k: v for k, v in runner.model.hparams.items() if isinstance(v, (bool, int, float, str, type(None)))}
             if name != "segrnn" else sk.to_dict(sk.load_config(RECIPE).model))
    batch = data.splits["train"].__getitems__(list(range(s["batch_size"])))
    for _ in range(s["warmup_steps"]):
        runner.step(batch)
    times = []
    for _ in range(s["timed_steps"]):
        start = time.perf_counter()
        runner.step(batch)
        times.append(time.perf_counter() - start)
    peak = peak_rss_gb()
    seconds = statistics.median(times)
    per_epoch = len(data.splits["train"]) // s["batch_size"]
    print(f"{name}: step {seconds:.3f} s, peak memory {peak:.2f} GB ({imports:.2f} GB after the imports); "
          f"training for {s['budget_seconds'] / 60:.1f} minutes at most", file=sys.stderr, flush=True)
    del runner, batch
    if name == "segrnn":
        result = train_segrnn(s, run_dir)
    else:
        result = train_peer(Peer(name, data, s), data, s)
    result["test"].setdefault("windows", min(s["test_windows"] or 10**9, len(data.splits["test"])))
    full = [e["seconds"] for e in result["history"] if e.get("complete", True)]
    return {"model": name, "label": LABELS[name], "library": library, "parameters": parameters,
            "hyperparameters": hyper, "step_seconds": seconds, "step_seconds_all": times, "steps_per_epoch": per_epoch,
            "epoch_seconds_estimated": per_epoch * seconds,
            "epoch_seconds_measured": statistics.median(full) if full and not s["smoke"] else None,
            "import_memory_gb": imports, "peak_memory_gb": peak, "working_memory_gb": peak - imports,
            "run_peak_memory_gb": peak_rss_gb(), **result, "settings": s, "commit": commit(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def ratios(models: dict) -> dict:
    """SegRNN's step time and memory against each peer's, beside the seed's claim."""
    seg, out = models.get("segrnn"), {}
    if not seg or "step_seconds" not in seg:
        return out
    for name, peer in models.items():
        if name == "segrnn" or "step_seconds" not in peer:
            continue
        entry = {"same_settings": peer["settings"] == seg["settings"]}
        for key in ("step_seconds", "peak_memory_gb", "working_memory_gb"):
            ratio = seg[key] / peer[key]
            entry[key] = {"ratio": ratio, "reduction": 1 - ratio, "claim_met": 1 - ratio > CLAIM["reduction"]}
        entry["test_mse_ratio"] = seg["test"]["mse"] / peer["test"]["mse"]
        out[name] = entry
    return out


def table(report: dict) -> str:
    rows = [f"{'model':<30} {'step s':>7} {'epoch s':>8} {'measured':>9} {'peak GB':>8} {'working':>8} "
            f"{'params':>9} {'epochs':>6} {'test MSE':>9} {'test MAE':>9}"]
    for name in MODELS:
        m = report["models"].get(name)
        if not m or "step_seconds" not in m:
            continue
        measured = f"{m['epoch_seconds_measured']:.0f}" if m.get("epoch_seconds_measured") else "-"
        rows.append(f"{m['label']:<30} {m['step_seconds']:>7.3f} {m['epoch_seconds_estimated']:>8.0f} {measured:>9} "
                    f"{m['peak_memory_gb']:>8.2f} {m['working_memory_gb']:>8.2f} {m['parameters']:>9,} "
                    f"{m['epochs']:>6} {m['test']['mse']:>9.4f} {m['test']['mae']:>9.4f}")
    rows.append("(epoch s: 122 steps x the step; measured: median epoch, training + validation; peak: VmHWM after "
                "the timed steps; working: peak minus the imports)")
    for name, r in report.get("ratios", {}).items():
        parts = [f"{label} {r[key]['ratio']:.2f}x ({abs(r[key]['reduction']):.0%} "
                 f"{'less' if r[key]['reduction'] >= 0 else 'more'}; > 78 % less: "
                 f"{'yes' if r[key]['claim_met'] else 'no'})"
                 for key, label in (("step_seconds", "step time"), ("peak_memory_gb", "peak memory"),
                                    ("working_memory_gb", "working memory"))]
        rows.append(f"SegRNN vs {LABELS[name]}: " + ", ".join(parts) + f"; test MSE {r['test_mse_ratio']:.2f}x"
                    + ("" if r["same_settings"] else " (recorded with other settings)"))
    rows.append(f"the seed's claim ({CLAIM['source']}): {CLAIM['text']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=MODELS, default=list(MODELS), help="the models to run")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="training wall-clock budget per model")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="training steps before the timed ones")
    parser.add_argument("--precision", choices=("bf16-mixed", "32-true"), default=None,
                        help="for every model (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--smoke", action="store_true", help="a few steps of each model, into a temporary JSON")
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON (default benchmarks/results/peers.json; a temporary file with --smoke)")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        record = worker(args.worker, json.loads(args.settings), args.run_dir)
        print(MARK + json.dumps(record), flush=True)
        return

    s = settings(args)
    out = args.out or (Path(tempfile.gettempdir()) / "seqkit-peers-smoke.json" if args.smoke
                       else ROOT / "benchmarks/results/peers.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(out.read_text()) if out.exists() and not args.smoke else {}
    report.update({"code": commit(), "settings": s, "claim": CLAIM,
                   "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                               "torch": torch.__version__}})
    report.setdefault("models", {})
    runs = Path(tempfile.mkdtemp(prefix="peers-")) if args.smoke else ROOT / "benchmarks/results/runs"
    failed = []
    for name in args.only:
        run_dir = runs / f"peers-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--settings", json.dumps(s),
                   "--run-dir", str(run_dir)]
        print(f"== {LABELS[name]}", file=sys.stderr, flush=True)
        result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
        if result.returncode or not lines:
            failed.append(name)
            print(f"{name} failed (exit {result.returncode}); its output:\n{result.stdout[-3000:]}", file=sys.stderr)
            continue
        report["models"][name] = json.loads(lines[-1][len(MARK):])
        report["ratios"] = ratios(report["models"])
        out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"wrote {out}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

"""ASR benchmark: recipes/asr on CMU AN4 (ESPnet's egs2/an4 split) beside ESPnet's published results.

Parts (each saves the JSON when it ends; a later part reads the run an earlier one recorded):
  train   trains the recipe (its defaults plus --set) and records dev and test WER/CER, greedy and
          beam, training minutes and seconds of audio trained per second;
  lm      trains a character LM (recipes/lm) on the run's training transcripts, chooses the LM
          weight on the dev set (beam + LM), and reports dev and test with that weight;
  speed   the real-time factor of `seqkit transcribe` over the 130 test files (reading, features,
          model, decoding; process start-up apart), greedy and beam (+ LM);
  long    the test set joined end to end into one recording, repeated until it lasts 10 minutes or
          more: the peak memory of transcribing it (its own process) and its WER against the joined
          references, beside the per-utterance WER of the same decoding.
Prints a table and writes benchmarks/results/asr.json with the code version and threads.

Usage:
    python benchmarks/asr.py                      # all parts (about 45 minutes on 2 cores)
    python benchmarks/asr.py --only lm speed long # on the recorded run
Set SEQKIT_DATA to the folder holding an4/ (`make bench-asr` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, commit, portable

# Published on the same split (ESPnet's recipes' RESULTS.md); not ours.
ANCHORS = {
    "espnet1_vgg_blstm_ctc": {"system": "ESPnet egs/an4/asr1: VGG + BLSTM encoder, CTC alone, characters, beam 20",
                              "dev_cer": 0.190, "test_cer": 0.126},
    "espnet2_transformer": {"system": "ESPnet2 egs2/an4/asr1: Transformer, attention + CTC 0.3, BPE 30, speed "
                                      "perturbation, beam 10, LM weight 0.1",
                            "dev_wer": 0.127, "test_wer": 0.074, "test_cer": 0.036},
}
TARGETS = {"test_wer": 0.074, "test_cer": 0.036, "train_minutes": 30.0, "rtf": 0.01, "long_peak_gb": 2.0,
           "long_wer_gap": 0.01}
LM_WEIGHTS = [0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5]
LM_SETTINGS = ["model.frontend.dim=128", "model.backend.hidden=256", "model.backend.layers=2", "data.bptt=64",
               "data.batch_size=16", "trainer.max_epochs=30", "sample.prompt=A", "sample.length=100"]


def seqkit(*args) -> subprocess.CompletedProcess:
    """`seqkit ARGS` in a process of its own (this venv's), output captured; exits on failure."""
    done = subprocess.run([str(Path(sys.executable).parent / "seqkit"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"seqkit {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done


def train(extra: list[str]) -> dict:
    import torch

    import seqkit as sk

    run_dir = ROOT / "benchmarks/results/runs" / f"asr-an4-{time.strftime('%Y%m%d-%H%M%S')}"
    metrics = sk.run_recipe(ROOT / "recipes/asr", ["trainer.enable_progress_bar=false", f"run_dir={run_dir}", *extra])
    best = {"dev_best": metrics["dev_best"]} if "dev_best" in metrics else {}  # with trainer.average_last
    return {"dev": metrics["dev"], "test": metrics["test"], **best, "epochs": metrics["epochs"],
            "train_minutes": round(metrics["fit_seconds"] / 60, 2),
            "train_audio_seconds_per_second": metrics["train_audio_seconds_per_second"],
            "run_dir": str(Path(portable([str(run_dir)])[0])), "overrides": portable(extra), "commit": commit(),
            "threads": torch.get_num_threads()}


def evaluate(run: Path, split: str, lm: Path | None = None, weight: float = 0.0, lexicon: str | None = None) -> dict:
    args = ["eval", run, "--split", split]
    if lm is not None:
        args += ["--lm", lm, "--lm-weight", weight]
    if lexicon is not None:
        args += ["--lexicon", lexicon]
    return json.loads(seqkit(*args).stdout)


def language_model(run: Path) -> dict:
    lm_dir = run.parent / f"{run.name}-lm"
    if not (lm_dir / "checkpoints/best.ckpt").is_file():
        seqkit("run", "recipes/lm", f"data.path={run / 'train_transcripts.txt'}", *LM_SETTINGS,
               "trainer.enable_progress_bar=false", f"run_dir={lm_dir}")
    dev = {w: evaluate(run, "dev", lm_dir, w) for w in LM_WEIGHTS}
    best = min(LM_WEIGHTS, key=lambda w: (dev[w]["wer_beam"], dev[w]["cer_beam"]))
    words = ",".join(sorted({w for line in (run / "train_transcripts.txt").read_text().splitlines()
                             for w in line.split()}))  # the recipe's decode.lexicon: train
    return {"lm_run": portable([str(lm_dir)])[0], "lm_settings": LM_SETTINGS, "chosen_on_dev": best,
            "dev_by_weight": {str(w): {k: dev[w][k] for k in ("wer_beam", "cer_beam")} for w in LM_WEIGHTS},
            "dev": dev[best], "test": evaluate(run, "test", lm_dir, best),
            "lexicon": {"dev": evaluate(run, "dev", lm_dir, best, words),
                        "test": evaluate(run, "test", lm_dir, best, words)}, "commit": commit()}


def test_files(run: Path) -> tuple[list[Path], list[str]]:
    """The run's test audio and its transcripts normalised as the run's config says."""
    from omegaconf import OmegaConf

    import seqkit as sk

    data = sk.CorpusData(**OmegaConf.to_container(OmegaConf.load(run / "config.yaml").data))
    return [u.audio for u in data.utterances["test"]], data.texts["test"]


def speed(run: Path, lm: Path | None, weight: float) -> dict:
    import soundfile as sf
    import torch

    import seqkit as sk

    files, _ = test_files(run)
    audio = sum(sf.info(str(f)).duration for f in files)
    out = {"files": len(files), "audio_seconds": round(audio, 1), "threads": torch.get_num_threads()}
    for name, settings in (("greedy", {}), ("beam", {"beam": 10}), ("beam_lm", {"beam": 10, "lm": lm,
                                                                              "lm_weight": weight})):
        if name == "beam_lm" and lm is None:
            continue
        sk.transcribe(run, files[:4], **settings)  # warm-up: model loading and first calls apart
        start = time.perf_counter()
        sk.transcribe(run, files, **settings)
        out[f"rtf_{name}"] = round((time.perf_counter() - start) / audio, 5)
    out["commit"] = commit()
    return out


# The child's own peak (VmHWM: this process image's high-water mark; getrusage's ru_maxrss would
# carry over the benchmark process's, which forked it).
LONG_CHILD = """
import json, re, sys
from pathlib import Path
import seqkit as sk
results = sk.transcribe(sys.argv[1], [sys.argv[2]], **json.loads(sys.argv[3]))
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"text": results[0]["text"], "peak_gb": peak * 1024 / 1e9}))
"""


def long_recording(run: Path, minutes: float = 10.0) -> dict:
    import soundfile as sf
    from torchmetrics.text import WordErrorRate

    import seqkit as sk

    files, texts = test_files(run)
    waves, references, seconds = [], [], 0.0
    while seconds < minutes * 60:  # the test set end to end (each file keeps its own pauses), again until long enough
        for path, text in zip(files, texts):
            waves.append(sk.data.audio.read_audio(path, 16000))
            references.append(text)
            seconds += len(waves[-1]) / 16000
    out = {"minutes": round(seconds / 60, 2), "utterances": len(references), "commit": commit()}
    settings = {"beam": 10}
    with tempfile.TemporaryDirectory() as folder:
        joined = Path(folder) / "an4_test_joined.wav"
        sf.write(joined, np.concatenate(waves), 16000, subtype="PCM_16")
        done = subprocess.run([sys.executable, "-c", LONG_CHILD, str(run), str(joined), json.dumps(settings)],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode:
            raise SystemExit(f"transcribing the joined recording failed:\n{done.stderr[-2000:]}")
        long = json.loads(done.stdout.strip().splitlines()[-1])
    per_utterance = sk.transcribe(run, files, **settings)
    wer = WordErrorRate()
    out["peak_gb"] = round(long["peak_gb"], 3)
    out["wer_joined"] = round(float(wer([long["text"]], [" ".join(references)])), 4)
    hypotheses = [r["text"] for r in per_utterance] * (len(references) // len(files))
    out["wer_per_utterance"] = round(float(WordErrorRate()(hypotheses, references)), 4)
    out["settings"] = settings
    return out


def table(report: dict) -> str:
    rows = ["| system | dev WER | dev CER | test WER | test CER |", "|---|---|---|---|---|"]
    for anchor in ANCHORS.values():
        rows.append(f"| {anchor['system']} (published) | {anchor.get('dev_wer', '-')} | {anchor.get('dev_cer', '-')} | "
                    f"{anchor.get('test_wer', '-')} | {anchor.get('test_cer', '-')} |")
    train_ = report.get("train", {})
    for name, (part, suffix) in {"seqkit greedy": ("train", ""), "seqkit beam 10": ("train", "_beam"),
                                 "seqkit beam 10 + LM": ("lm", "_beam"),
                                 "seqkit beam 10 + LM, training words only": ("lexicon", "_beam")}.items():
        entry = report.get("lm", {}).get("lexicon") if part == "lexicon" else report.get(part)
        if entry:
            dev, test = entry["dev"], entry["test"]
            rows.append(f"| {name} | {dev['wer' + suffix]:.3f} | {dev['cer' + suffix]:.3f} | "
                        f"{test['wer' + suffix]:.3f} | {test['cer' + suffix]:.3f} |")
    if train_:
        rows.append(f"\ntraining: {train_['train_minutes']} min (target <= {TARGETS['train_minutes']}), "
                    f"{train_['train_audio_seconds_per_second']} s of audio per second, {train_['epochs']} epochs")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["train", "lm", "speed", "long"],
                        choices=["train", "lm", "speed", "long"])
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides of the training run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/asr.json")
    args = parser.parse_args()
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["anchors"], report["targets"] = ANCHORS, TARGETS

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    if "train" in args.only:
        report["train"] = train(args.set)
        report.pop("lm", None)  # a new run: its LM and speed are measured again
        save()
    if "train" not in report:
        raise SystemExit(f"no recorded run in {args.out}: run the train part first")
    run = ROOT / report["train"]["run_dir"]
    if "lm" in args.only:
        report["lm"] = language_model(run)
        save()
    lm = ROOT / report["lm"]["lm_run"] if "lm" in report else None
    weight = report["lm"]["chosen_on_dev"] if "lm" in report else 0.0
    if "speed" in args.only:
        report["speed"] = speed(run, lm, weight)
        save()
    if "long" in args.only:
        report["long"] = long_recording(run)
        save()
    print(table(report))
    for key in ("speed", "long"):
        if key in report:
            print(key, json.dumps({k: v for k, v in report[key].items() if k != "commit"}))


if __name__ == "__main__":
    main()

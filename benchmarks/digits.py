"""ASR benchmark: connected and isolated spoken digits on FSDD, leave-one-speaker-out, transcribe speed.

Trains the recipe (default settings unless overridden) and reports test WER/CER greedy and beam,
training time and throughput; isolated-digit accuracy: the connected-digit model on the 250
single test recordings, greedy, beam and restricted to the ten digit words (`transcribe
--choices`), and a model trained on isolated recordings alone (1 - WER); the WER with each of the 5
speakers held out in turn (per-band normalisation, `HELD_OUT`) and its mean; each run's beam
search also with a character language model (recipes/lm trained on the training transcripts)
fused in, and spelling only the ten digit words (with the LM); and the real-time factor of
`seqkit transcribe`'s pipeline (file reading, features, model, decoding) on 100 files, process
start-up apart. The held-out runs are then re-tested with their spectrum warped (`warp`: the
factor `seqkit.choose_warp` finds) and adapted to their speaker without transcripts (`adapt`:
`seqkit.self_train` on one half of the speaker's recordings, tested on the other half);
`ensemble` decodes each held-out speaker with the ensemble (`seqkit.Ensemble`) of three of its
held-out runs (per-band, utterance and an earlier per-band one, `ENSEMBLE`; missing ones are
trained) and `ensemble-adapt` adapts that ensemble as `adapt` does one model; `voices` (not in
the default run) holds a speaker out with 1-4 training voices.
Prints a table and writes JSON, updated after every run.

Usage:
    python benchmarks/digits.py                         # everything but voices (about four hours on 2 cores
                                                     # with the ensemble members' runs there, six without)
    python benchmarks/digits.py --only connected speed  # a part: lm, connected, isolated, isolated-trained,
                                                     # speakers, warp, adapt, ensemble, ensemble-adapt,
                                                     # speed, voices
    python benchmarks/digits.py --only speakers --speakers george jackson   # in one process, and
    python benchmarks/digits.py --only speakers --speakers lucas nicolas yweweler  # beside it
    python benchmarks/digits.py --only voices --speakers george  # held-out WER with 1-4 training voices
Set SEQKIT_DATA to the folder holding fsdd/recordings (`make bench-digits` does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import commit, of_version, portable, version

ROOT = Path(__file__).resolve().parent.parent
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "yweweler"]
# Isolated words: the ten digit words as CTC units, 20 ms output frames, the kws recipe's front-end
# size, its noise and speed perturbation and its 60 epochs over the 2,000 training recordings.
# Held-out speakers: per-band normalisation of the log-mel features, the better front-end for a
# voice the model has never heard (README, Results, ASR).
HELD_OUT = ["model.frontend.norm=band"]
# Held-out WER against the number of training voices: each target speaker held out with 1-4 of the
# others trained on (nested sets, in an order that starts at a different speaker per target),
# half the default training (10 epochs) to fit the 2-core machine; no language model.
VOICES_EPOCHS = ["trainer.max_epochs=10"]
# Held-out ensembles: three runs per speaker, recorded under these keys with these settings (a run
# missing is trained with them). "speakers_second" holds runs of an earlier version of the recipe
# (per-band normalisation, seed 0); a fresh machine trains a second seed in their place.
ENSEMBLE = {"speakers": HELD_OUT, "speakers_utterance_norm": ["model.frontend.norm=utterance"],
            "speakers_second": [*HELD_OUT, "seed=1"]}
ISOLATED = ["data.digits=isolated", "data.units=words", "model.frontend.time_stride=2", "model.frontend.filters=64",
            "model.frontend.dim=192", "data.noise_snr=[10,40]", "data.speed_perturb=0.2", "trainer.max_epochs=60"]


def run_recipe(overrides: list[str]) -> dict:
    """Run recipes/digits in this process with `overrides`; return its metrics."""
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    return sk.run_recipe(ROOT / "recipes/digits", overrides)


def run(name: str, extra: list[str]) -> dict:
    import torch

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "benchmarks/results/runs" / f"digits-{name}-{stamp}"
    overrides = ["trainer.enable_progress_bar=false", f"run_dir={run_dir}", *extra]
    metrics = run_recipe(overrides)
    fused = {k: metrics[k] for k in ("test_lm", "val_lm", "test_lexicon", "val_lexicon") if k in metrics}
    return {"test": metrics["test"], "val": metrics["val"], **fused, "fit_seconds": metrics["fit_seconds"],
            "train_audio_seconds_per_second": metrics["train_audio_seconds_per_second"],
            "epochs": metrics["epochs"], "run_dir": Path(metrics["run_dir"]).name,
            "overrides": portable(extra), "commit": commit(), "threads": torch.get_num_threads()}


def merge_speakers(path: Path, mine: dict, wanted: tuple) -> dict:
    """Merge this process's held-out runs into the report at `path` as it is now, keep the runs
    of the `wanted` version only, recompute the means once all five are there; return it."""
    report = json.loads(path.read_text()) if path.exists() else {}
    runs = {**report.get("speakers", {}), **mine}
    report["speakers"] = {s: runs[s] for s in SPEAKERS if s in runs and of_version(runs[s], wanted)}
    for key in [k for k in report if k.startswith("speakers_mean")]:
        del report[key]
    done = list(report["speakers"].values())
    if len(done) == len(SPEAKERS):
        for name, part, key in (("wer", "test", "wer"), ("wer_beam", "test", "wer_beam"), ("wer_beam_lm", "test_lm",
                                "wer_beam"), ("wer_beam_lexicon", "test_lexicon", "wer_beam")):
            if all(part in r for r in done):
                report[f"speakers_mean_{name}"] = statistics.mean(r[part][key] for r in done)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def voices_folder(target: str, trained: list[str]) -> Path:
    """A folder of links to the FSDD recordings of `target` and the `trained` speakers only."""
    from seqkit.data.root import data_root

    source = data_root()[0] / "fsdd" / "recordings"
    folder = ROOT / "benchmarks/results/runs" / f"voices-{target}-{len(trained)}" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.wav"):
        link = folder / path.name
        if path.stem.split("_")[1] in (target, *trained) and not link.exists():
            link.symlink_to(path.resolve())
    return folder


def voices(path: Path, target: str, counts: list[int], extra: list[str]) -> dict:
    """Hold `target` out with 1-4 training voices (`counts`); merge each run into the report at
    `path` under ``voices`` as it is then (processes side by side) and return the report."""
    sys.path.insert(0, str(ROOT))
    others = [s for s in SPEAKERS if s != target]
    start = SPEAKERS.index(target) % len(others)
    order = others[start:] + others[:start]  # nested training sets, a different first voice per target
    report = {}
    for count in counts:
        folder = voices_folder(target, order[:count])
        result = run(f"voices-{target}-{count}", [f"data.test_speakers=[{target}]", f"data.path={folder}",
                                                    *HELD_OUT, *VOICES_EPOCHS, "decode.lm=null", *extra])
        result["trained_speakers"] = order[:count]
        report = json.loads(path.read_text()) if path.exists() else {}
        report.setdefault("voices", {}).setdefault(target, {})[str(count)] = result
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{target} held out, {count} training voice(s) {', '.join(order[:count])}: WER "
              f"{result['test']['wer']:.2%}, beam within the lexicon {result['test_lexicon']['wer_beam']:.2%}")
    return report


def warped(report: dict, fusion_lm: Path | None) -> dict:
    """The held-out speakers' runs re-tested with vocal tract length normalisation: each model's
    spectrum warped by the factor it is most confident under on its held-out speaker's test audio
    (`seqkit.speech.warp.choose_warp`, no transcripts): greedy, beam, and beam within the ten digit words
    with the fusion LM, as in the runs. Returns per speaker the factor and the WERs, and their means."""
    sys.path.insert(0, str(ROOT))
    from seqkit.data.fsdd import DIGITS
    from seqkit.evaluation import evaluate

    out = {}
    for speaker, result in report["speakers"].items():
        run_dir = ROOT / "benchmarks/results/runs" / result["run_dir"]
        plain = evaluate(run_dir, warp="auto")
        within = evaluate(run_dir, lexicon=list(DIGITS), lm=fusion_lm, warp=plain["warp"])
        out[speaker] = {"warp": plain["warp"], "wer": plain["wer"], "wer_beam": plain["wer_beam"],
                        "wer_beam_lexicon": within["wer_beam"], "run_dir": result["run_dir"], "commit": commit()}
        print(f"{speaker} held out, spectrum warped by {plain['warp']}: WER {plain['wer']:.2%} (unwarped "
              f"{result['test']['wer']:.2%}), beam within the lexicon {within['wer_beam']:.2%}")
    if len(out) == len(SPEAKERS):
        for key in ("wer", "wer_beam", "wer_beam_lexicon"):
            out[f"mean_{key}"] = statistics.mean(r[key] for s, r in out.items() if s in SPEAKERS)
    return out


def adapted(path: Path, speakers: list[str], fusion_lm: Path | None, members: dict | None = None,
            key: str = "speakers_adapted", seed: int = 0) -> dict:
    """Unsupervised speaker adaptation of the held-out runs (`seqkit.speech.adapt.self_train`: warp,
    then rounds of transcribing within the ten digit words with the fusion LM and fine-tuning on
    the most confident). Each held-out speaker's recordings are split by index (0-24, 25-49): the
    model adapts to 500 untranscribed connected utterances of one half and is tested on 250 of
    the other, then the halves swap; WER before and after over both test halves. With `members`
    (speaker: run folders), the speaker's ensemble of those runs adapts instead (not warped; every
    member is fine-tuned on the ensemble's transcripts). `seed`: self_train's (batch order and
    augmentation). Merges each speaker into the report at `path` under `key` as it is then;
    returns the report."""
    sys.path.insert(0, str(ROOT))
    import torch
    from torchmetrics.functional.text import word_error_rate

    from seqkit.data.audio import batched
    from seqkit.data.fsdd import DIGITS, Utterances, read_fsdd
    from seqkit.data.root import data_root
    from seqkit.data.tokenizers import tokenizer_from_data
    from seqkit.speech.adapt import confident_transcripts, self_train
    from seqkit.speech.beam import set_beam_search

    recordings = read_fsdd(data_root()[0] / "fsdd" / "recordings")
    report = json.loads(path.read_text())
    for speaker in speakers:
        runs = members[speaker] if members else [report["speakers"][speaker]["run_dir"]]
        mine = [r for r in recordings if r.speaker == speaker]
        halves = [[r for r in mine if r.index < 25], [r for r in mine if r.index >= 25]]
        texts = {"before": [], "before_lexicon": [], "after": [], "after_lexicon": [], "reference": []}
        rounds, start = [], time.perf_counter()
        for fold in (0, 1):
            model, info = load_runs(runs)
            tokenizer = tokenizer_from_data(info["tokenizer"])
            set_beam_search(model.head, tokenizer, list(DIGITS), fusion_lm, 0.3)
            adapt = Utterances(halves[fold], 500, 7 + fold)
            test = Utterances(halves[1 - fold], 250, 2_000_000 + fold)
            tests = batched([test.utterance(i)[0] for i in range(len(test))])
            texts["reference"] += [test.transcript(i) for i in range(len(test))]
            for when in ("before", "after"):
                if when == "after":
                    rounds.append(self_train(model, tokenizer, [adapt.utterance(i)[0] for i in range(len(adapt))],
                                             {"accelerator": "cpu"}, seed=seed, progress=False))
                texts[when] += confident_transcripts(model, tokenizer, tests, len(test), 1)[0]
                texts[f"{when}_lexicon"] += confident_transcripts(model, tokenizer, tests, len(test), 8)[0]
        result = {k: float(word_error_rate(v, texts["reference"])) for k, v in texts.items() if k != "reference"}
        result.update(warps=[r["warp"] for r in rounds], seed=seed, seconds=round(time.perf_counter() - start),
                      run_dir=runs[0] if len(runs) == 1 else runs, commit=commit(), threads=torch.get_num_threads())
        report = json.loads(path.read_text())
        report.setdefault(key, {})[speaker] = result
        done = report[key]
        if all(s in done for s in SPEAKERS):
            report[f"{key}_mean"] = {k: statistics.mean(done[s][k] for s in SPEAKERS)
                                     for k in ("before", "before_lexicon", "after", "after_lexicon")}
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{speaker} held out{' (ensemble)' if len(runs) > 1 else ''}, adapted to half of their recordings, "
              f"tested on the other: WER {result['before']:.2%} -> {result['after']:.2%} greedy, "
              f"{result['before_lexicon']:.2%} -> {result['after_lexicon']:.2%} beam within the lexicon "
              f"(warp {result['warps']})")
    return report


def load_runs(runs: list[str]):
    """The model of one held-out run folder, or the `seqkit.Ensemble` of several; and the first's info."""
    from seqkit.checkpoint import load_model, resolve
    from seqkit.model import Ensemble

    loaded = [load_model(resolve(ROOT / "benchmarks/results/runs" / r)) for r in runs]
    return (loaded[0][0] if len(loaded) == 1 else Ensemble([m for m, _ in loaded])), loaded[0][1]


def ensemble_members(path: Path, speakers: list[str], fusion: list[str], extra: list[str]) -> dict:
    """Each speaker's ensemble members: its held-out runs recorded under the keys of `ENSEMBLE`
    (the 'speakers' part's, with utterance normalisation, a second per-band one); a member whose
    run is not recorded, or whose folder is gone, is trained first and recorded."""
    members = {}
    for speaker in speakers:
        members[speaker] = []
        for key, settings in ENSEMBLE.items():
            report = json.loads(path.read_text())
            record = report.get(key, {}).get("runs", report.get(key, {})).get(speaker)
            if record is None or not (ROOT / "benchmarks/results/runs" / record["run_dir"] / "checkpoints").is_dir():
                record = run(f"without-{speaker}", [f"data.test_speakers=[{speaker}]", *fusion, *settings, *extra])
                report = json.loads(path.read_text())
                place = report.setdefault(key, {})
                (place.setdefault("runs", {}) if key != "speakers" else place)[speaker] = record
                path.write_text(json.dumps(report, indent=2) + "\n")
            members[speaker].append(record["run_dir"])
    return members


def ensembled(path: Path, members: dict) -> dict:
    """Each held-out speaker's test set (as in its runs) decoded by the ensemble of its `members`:
    greedy, beam, and beam within the ten digit words (no LM). Merges into the report at `path`
    under ``speakers_ensemble``; returns the report."""
    sys.path.insert(0, str(ROOT))
    from seqkit.data.fsdd import DIGITS
    from seqkit.evaluation import evaluate
    from seqkit.speech.ensemble import save_ensemble

    for speaker, runs in members.items():
        combined = ROOT / "benchmarks/results/runs" / f"ensemble-{speaker}-{time.strftime('%Y%m%d-%H%M%S')}.ckpt"
        save_ensemble([ROOT / "benchmarks/results/runs" / r for r in runs], combined)
        plain, within = evaluate(combined), evaluate(combined, lexicon=list(DIGITS))
        result = {"wer": plain["wer"], "wer_beam": plain["wer_beam"], "wer_beam_lexicon": within["wer_beam"],
                  "members": runs, "commit": commit()}
        report = json.loads(path.read_text())
        done = report.setdefault("speakers_ensemble", {})
        done[speaker] = result
        if all(s in done for s in SPEAKERS):
            for k in ("wer", "wer_beam", "wer_beam_lexicon"):
                done[f"mean_{k}"] = statistics.mean(done[s][k] for s in SPEAKERS)
        path.write_text(json.dumps(report, indent=2) + "\n")
        combined.unlink()
        print(f"{speaker} held out, ensemble of {len(runs)} runs: WER {result['wer']:.2%} greedy, beam within the "
              f"lexicon {result['wer_beam_lexicon']:.2%}")
    return json.loads(path.read_text())


def transcripts_lm() -> str:
    """Train a small character LSTM language model on the default recipe's training transcripts
    (recipes/lm on the text `SpeechData.write_transcripts` writes); return its run directory."""
    sys.path.insert(0, str(ROOT))
    import seqkit as sk

    cfg = sk.load_config(ROOT / "recipes/digits")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = ROOT / "benchmarks/results/runs" / f"digits-transcripts-{stamp}.txt"
    text.parent.mkdir(parents=True, exist_ok=True)
    sk.SpeechData(**cfg.data).write_transcripts(text, cfg.trainer.max_epochs)
    run_dir = ROOT / "benchmarks/results/runs" / f"lm-transcripts-{stamp}"
    sk.run_recipe(ROOT / "recipes/lm", [
        f"data.path={text}", "model.frontend.dim=64", "model.backend.hidden=128", "model.backend.layers=1",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", f"run_dir={run_dir}"])
    return run_dir.name


def isolated_accuracy(checkpoint: str) -> dict:
    """Accuracy of a checkpoint on FSDD's isolated test recordings (index 0-4, never trained on),
    transcribed from their files: greedy, beam, and the most likely of the ten digit words."""
    from seqkit.data.fsdd import DIGITS
    from seqkit.data.root import data_root
    from seqkit.speech.transcribe import transcribe

    paths = sorted((data_root()[0] / "fsdd" / "recordings").glob("*_*_[0-4].wav"))
    report = {"files": len(paths)}
    for name, options in (("greedy", {}), ("beam", {"beam": 8}), ("choices", {"choices": list(DIGITS)})):
        results = transcribe(checkpoint, paths, **options)
        wrong = {Path(r["file"]).name: r.get("text", r.get("error")) for r in results
                 if r.get("text") != DIGITS[int(Path(r["file"]).name.split("_")[0])]}
        report[name] = {"accuracy": 1 - len(wrong) / len(paths), "errors": wrong}
    return report


def transcribe_speed(checkpoint: str, files: int = 100) -> dict:
    """Real-time factor of transcription (in-process, after start-up) and the start-up itself."""
    import soundfile as sf

    from seqkit.data.root import data_root
    from seqkit.speech.transcribe import transcribe

    folder = data_root()[0] / "fsdd" / "recordings"
    paths = sorted(folder.glob("*_*_[34].wav"))[:files]  # test recordings (index 0-4)
    audio_seconds = sum(sf.info(p).duration for p in paths)
    transcribe(checkpoint, paths[:2])  # warm-up
    start = time.perf_counter()
    results = transcribe(checkpoint, paths)
    seconds = time.perf_counter() - start
    assert all("text" in r for r in results)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqkit.cli", "transcribe", checkpoint, str(paths[0])], check=True,
                   capture_output=True)
    whole = time.perf_counter() - start
    return {"files": len(paths), "audio_seconds": audio_seconds, "seconds": seconds,
            "real_time_factor": seconds / audio_seconds, "one_file_process_seconds": whole}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+",
                        default=["lm", "connected", "isolated", "isolated-trained", "speakers", "warp", "adapt",
                                 "ensemble", "ensemble-adapt", "speed"],
                        choices=["lm", "connected", "isolated", "isolated-trained", "speakers", "speed", "nolm",
                                 "voices", "warp", "adapt", "ensemble", "ensemble-adapt"],
                        help="parts to run; 'lm' trains the fusion LM first, 'nolm' skips fusion; 'warp' "
                             "re-tests the held-out runs with their spectrum warped; 'adapt' adapts them to half of "
                             "their speaker's recordings; 'voices' (not in the default "
                             "run) holds --speakers out with 1-4 training voices")
    parser.add_argument("--speakers", nargs="+", default=SPEAKERS, choices=SPEAKERS,
                        help="the speakers to hold out in turn (the mean is reported once all 5 are done)")
    parser.add_argument("--voices", nargs="+", type=int, default=[1, 2, 3, 4], choices=[1, 2, 3, 4],
                        help="numbers of training voices for the 'voices' part (held-out WER against them)")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every training run")
    parser.add_argument("--adapt-seed", type=int, default=0, help="seed of the 'ensemble-adapt' part's "
                        "self-training; other than 0, its results go to speakers_ensemble_adapted_seed<N>")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/digits.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}

    def save():
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    if "lm" in args.only:  # the language model for shallow fusion, reported as *_lm beside the plain beam
        report["fusion_lm"] = transcripts_lm()
        save()
    run_root = ROOT / "benchmarks/results/runs"  # the results name run folders there
    fused = "fusion_lm" in report and "nolm" not in args.only
    fusion = [f"decode.lm={run_root / report['fusion_lm']}"] if fused else []
    if "connected" in args.only:
        report["connected"] = run("connected", [*fusion, *args.set])
        save()
        t = report["connected"]["test"]
        print(f"connected, FSDD split: WER {t['wer']:.2%} (beam {t['wer_beam']:.2%}), CER {t['cer']:.2%}, "
              f"trained in {report['connected']['fit_seconds'] / 60:.1f} min (target WER <= 1%, <= 15 min)")
    if "isolated" in args.only and "connected" in report:
        report["isolated"] = isolated_accuracy(str(run_root / report["connected"]["run_dir"]))
        report["isolated"]["run_dir"] = report["connected"]["run_dir"]
        save()
        i = report["isolated"]
        print(f"isolated, FSDD split, connected-digit model: accuracy {i['choices']['accuracy']:.2%} restricted to "
              f"the ten words (target >= 99%), greedy {i['greedy']['accuracy']:.2%}, beam {i['beam']['accuracy']:.2%}")
    if "isolated-trained" in args.only:
        report["isolated_trained"] = run("isolated", [*ISOLATED, *args.set])
        save()
        print(f"isolated, FSDD split, trained on isolated recordings: accuracy "
              f"{1 - report['isolated_trained']['test']['wer']:.2%}")
    if "speakers" in args.only:
        # Held-out runs of another version of the code (commit) or other settings are never mixed
        # in; each save merges this process's runs into the file as it is then, so that two
        # processes can hold out different speakers side by side.
        overrides = [*fusion, *HELD_OUT, *args.set]
        mine = {}
        for speaker in args.speakers:
            mine[speaker] = run(f"without-{speaker}", [f"data.test_speakers=[{speaker}]", *overrides])
            report = merge_speakers(args.out, mine, version(overrides))
        each = ", ".join(f"{s} {r['test']['wer']:.2%}" for s, r in report["speakers"].items())
        within = report.get("speakers_mean_wer_beam_lexicon")
        mean = (f"; mean {report['speakers_mean_wer']:.2%} greedy"
                + (f", {within:.2%} beam within the lexicon" if within is not None else "") + " (target <= 10%)"
                if "speakers_mean_wer" in report
                else f"; {len(report['speakers'])} of {len(SPEAKERS)} speakers done, no mean yet")
        print(f"leave one speaker out: {each}{mean}")
    if "warp" in args.only and "speakers" in report:  # re-tests the runs of the 'speakers' part
        report = json.loads(args.out.read_text()) if args.out.exists() else report
        report["speakers_warp"] = warped(report, run_root / report["fusion_lm"] if fused else None)
        save()
    if {"adapt", "ensemble", "ensemble-adapt"} & set(args.only) and not args.out.exists():
        save()  # these parts merge into the file as it is (processes side by side)
    if "adapt" in args.only and "speakers" in report:  # adapts the runs of the 'speakers' part
        report = adapted(args.out, [s for s in args.speakers if s in report["speakers"]],
                         run_root / report["fusion_lm"] if fused else None)
    if {"ensemble", "ensemble-adapt"} & set(args.only):
        members = ensemble_members(args.out, args.speakers, fusion, args.set)
        if "ensemble" in args.only:
            report = ensembled(args.out, members)
        if "ensemble-adapt" in args.only:
            key = "speakers_ensemble_adapted" + (f"_seed{args.adapt_seed}" if args.adapt_seed else "")
            report = adapted(args.out, args.speakers, None, members, key=key, seed=args.adapt_seed)
    if "voices" in args.only:  # not in the default run: 4 short trainings per speaker
        for speaker in args.speakers:
            report = voices(args.out, speaker, args.voices, args.set)
    if "speed" in args.only and "connected" in report:
        report["transcribe"] = transcribe_speed(str(run_root / report["connected"]["run_dir"]))
        save()
        s = report["transcribe"]
        print(f"transcribe: {s['files']} files, {s['audio_seconds']:.1f} s of audio in {s['seconds']:.2f} s: "
              f"RTF {s['real_time_factor']:.4f} (target <= 0.005); one file with process start-up "
              f"{s['one_file_process_seconds']:.1f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

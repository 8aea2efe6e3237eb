"""Shared fixtures: the real data root (../shared/data), the seqkit command in-process, runs used by several files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from seqkit.data.fsdd import read_fsdd
from seqkit.data.text import read_text
from seqkit.data.tokenizers import CharTokenizer

from helpers import ROOT, run_cli

SHARED = ROOT.parent / "shared" / "data"


def _data_root() -> Path:
    root = Path(os.environ.get("SEQKIT_DATA", SHARED))
    if not (root / "ETT-small" / "ETTh1.csv").is_file():
        pytest.exit(f"the real data sets are needed: set SEQKIT_DATA (looked in {root})", returncode=3)
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _data_root()


@pytest.fixture(autouse=True)
def _seqkit_env(monkeypatch, data_root):
    monkeypatch.setenv("SEQKIT_DATA", str(data_root))


@pytest.fixture(scope="session")
def etth1(data_root) -> Path:
    return data_root / "ETT-small" / "ETTh1.csv"


@pytest.fixture
def cli():
    """Run ``seqkit ARGS`` in this process through the real entry point; return code and output (helpers.run_cli)."""
    return run_cli


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a free port) for the test's duration: (folder, base URL)."""
    import http.server
    import threading
    from functools import partial

    www = tmp_path / "www"
    www.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# ---------------------------------------------------------------------------------------------
# Real data read once: FSDD's recordings, Tiny Shakespeare.

@pytest.fixture(scope="session")
def recordings(data_root):
    return read_fsdd(data_root / "fsdd" / "recordings")


@pytest.fixture(scope="session")
def shakespeare(data_root) -> str:
    return read_text(data_root / "tinyshakespeare" / "input.txt")


@pytest.fixture(scope="session")
def char_ids(shakespeare) -> tuple[CharTokenizer, list[int]]:
    tokenizer = CharTokenizer.fit([shakespeare])
    return tokenizer, tokenizer.encode(shakespeare[:20_000])


# ---------------------------------------------------------------------------------------------
# The speech recipe's smoke run (96 training utterances), and a model made from it that hears characters.

@pytest.fixture(scope="session")
def asr_run(tmp_path_factory, data_root) -> Path:
    run_dir = tmp_path_factory.mktemp("asr") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/digits", "-c", ROOT / "configs/debug.yaml",
                                    "data.train_utterances=96", "data.eval_utterances=32", f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir


@pytest.fixture(scope="session")
def eager_checkpoint(asr_run, tmp_path_factory) -> Path:
    """The smoke run's model with its blank made unlikely: the debug-sized model hears no words at
    all, this one hears characters everywhere, which is what self-training needs to start from."""
    checkpoint = torch.load(asr_run / "checkpoints/best.ckpt", weights_only=True)
    checkpoint["state_dict"]["model.head.project.bias"][0] -= 10.0  # class 0 is the CTC blank
    path = tmp_path_factory.mktemp("eager") / "eager.ckpt"
    torch.save(checkpoint, path)
    return path


# ---------------------------------------------------------------------------------------------
# Runs the input tests protect (their files are hashed before and after every failing command):
# a tiny forecasting run and a tiny speech run.

@pytest.fixture(scope="session")
def ltsf_run(tmp_path_factory, data_root) -> Path:
    """A forecasting run of 96 steps in, 24 out, one batch of each split: not the recipe's smoke run (debug_run)."""
    run_dir = tmp_path_factory.mktemp("inputs") / "ltsf"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", "data.seq_len=96",
                                  "data.pred_len=24", "model.frontend.dim=16", "model.backend.hidden=16",
                                  "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
                                  "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
                                  f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir


@pytest.fixture(scope="session")
def tiny_asr_run(tmp_path_factory, data_root) -> Path:
    """A speech run trained on 24 recordings copied from FSDD (two digits of one speaker): not asr_run."""
    base = tmp_path_factory.mktemp("inputs")
    recordings = base / "recordings"
    recordings.mkdir()
    for digit in (0, 1):
        for index in range(12):  # 0-4 test, 5-9 validation, 10-11 training
            name = f"{digit}_george_{index}.wav"
            shutil.copy(data_root / "fsdd" / "recordings" / name, recordings / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/digits", "-c", ROOT / "configs/debug.yaml",
                                  f"data.path={recordings}", "data.train_utterances=8", "data.eval_utterances=4",
                                  "data.batch_size=4", "model.frontend.dim=16", "model.frontend.filters=4",
                                  "model.backend.hidden=16", "model.backend.layers=1", "trainer.limit_train_batches=1",
                                  "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                                  "trainer.enable_progress_bar=false", f"run_dir={base / 'asr'}")
    assert code == 0, err
    return base / "asr"


# ---------------------------------------------------------------------------------------------
# Real AN4 utterances: manifests of a few, and the speech recipe's smoke run on the whole corpus.

@pytest.fixture
def manifests(data_root, tmp_path):
    """A TSV manifest of 12 AN4 training utterances of three speakers and a JSONL one of 4 test utterances."""
    rows = []
    for line in (data_root / "an4/etc/an4_train.transcription").read_text().splitlines()[:12]:
        words, uid = line.rsplit(" (", 1)
        prefix, speaker, suffix = uid.rstrip(")").split("-")
        rows.append((data_root / "an4/wav/an4_clstk" / speaker / f"{uid.rstrip(')')}.sph", words, speaker))
    (tmp_path / "train.tsv").write_text("audio\ttext\tspeaker\n" + "".join(f"{a}\t{t}\t{s}\n" for a, t, s in rows))
    test = []
    for line in (data_root / "an4/etc/an4_test.transcription").read_text().splitlines()[:4]:
        words, uid = line.rsplit(" (", 1)
        uid = uid.rstrip(")")
        test.append({"audio": str(data_root / "an4/wav/an4test_clstk" / uid.split("-")[1] / f"{uid}.sph"),
                     "text": words.strip()})
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in test))
    return tmp_path / "train.tsv", tmp_path / "test.jsonl", sorted({s for _, _, s in rows})


@pytest.fixture(scope="session")
def an4_run(tmp_path_factory, data_root) -> Path:
    """recipes/asr on AN4 (its default corpus) with a tiny model, two training batches."""
    run_dir = tmp_path_factory.mktemp("an4") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/asr", "-c", "debug", "model.frontend.n_mels=40",
                               "model.frontend.filters=4", "model.frontend.dim=16", "model.backend.hidden=16",
                               "model.backend.layers=1", "data.max_seconds=24", "trainer.limit_train_batches=2",
                               "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                               "trainer.enable_progress_bar=false", f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir

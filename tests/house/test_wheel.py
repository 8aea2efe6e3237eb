"""The wheel carries the recipes and overlays: built, installed (not the source tree) into a fresh
virtualenv, and used from a folder outside the repo by their bundled names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


@pytest.mark.wheel
def test_an_installed_wheel_lists_and_runs_the_bundled_recipes(tmp_path, data_root):
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                "-w", tmp_path / "dist", ROOT)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("seqkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"seqkit/bundled/recipes/ltsf/recipe.py", "seqkit/bundled/configs/debug.yaml"} <= set(names)

    # A fresh virtualenv that sees this one's packages (torch, lightning ...) but not its seqkit:
    # a path line in a .pth file adds the folder without running the editable install's hooks.
    env = tmp_path / "env"
    assert run(sys.executable, "-m", "venv", "--without-pip", env).returncode == 0
    python = env / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
                    wheel)
    assert installed.returncode == 0, installed.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = run(python, "-c", "import seqkit; print(seqkit.__file__)", cwd=outside)
    assert Path(where.stdout.strip()).is_relative_to(env), where.stdout + where.stderr  # the wheel's, not the repo's
    seqkit = env / "bin" / "seqkit"
    listed = run(seqkit, "ls", cwd=outside)
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == \
        ["asr", "digits", "kws", "lm", "ltsf"], listed.stderr
    environment = {**os.environ, "SEQKIT_DATA": str(data_root)}
    result = run(seqkit, "run", "ltsf", "-c", "debug", f"run_dir={outside / 'run'}", cwd=outside, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test MSE" in result.stdout
    metrics = json.loads((outside / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["data"]["path"] == "ETT-small/ETTh1.csv"  # the debug overlay's one epoch

    # A copied speech recipe, run with the overlay's repository path (bundled where no such file is),
    # then transcription and export of its checkpoint.
    assert run(seqkit, "cp", "digits", outside / "my_digits", cwd=outside).returncode == 0
    result = run(seqkit, "run", outside / "my_digits", "-c", "configs/debug.yaml", f"run_dir={outside / 'speech'}",
                 cwd=outside, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    wav = data_root / "fsdd/recordings/3_lucas_1.wav"
    result = run(seqkit, "transcribe", outside / "speech", wav, cwd=outside, env=environment)
    assert result.returncode == 0 and result.stdout.startswith(f"{wav}\t"), result.stderr[-2000:]
    result = run(seqkit, "export", outside / "speech", outside / "speech.onnx", cwd=outside, env=environment)
    assert result.returncode == 0 and (outside / "speech.onnx").is_file(), result.stderr[-2000:]

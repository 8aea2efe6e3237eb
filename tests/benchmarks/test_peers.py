"""benchmarks/peers.py --smoke, in the peers virtualenv (`make .venv-peers/.installed`), when it exists.

The benchmark needs neuralforecast, which only that virtualenv has; without it this test is skipped,
as in CI, which builds only the project's .venv.
"""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest

from helpers import ROOT

PYTHON = ROOT / ".venv-peers" / "bin" / "python"
MODELS = ("segrnn", "patchtst", "itransformer", "lstm")

pytestmark = pytest.mark.skipif(not PYTHON.exists(), reason=f"no peers virtualenv ({PYTHON} is missing): "
                                "`make .venv-peers/.installed` builds it")


def test_the_smoke_run_measures_every_model(tmp_path, data_root):
    out = tmp_path / "peers.json"
    result = subprocess.run([str(PYTHON), "benchmarks/peers.py", "--smoke", "--out", str(out)], cwd=ROOT,
                            env={**os.environ, "SEQKIT_DATA": str(data_root)}, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["settings"]["smoke"] and report["settings"]["seq_len"] == 720 and report["code"]
    assert set(report["models"]) == set(MODELS)
    for name, model in report["models"].items():
        assert model["step_seconds"] > 0 and model["epoch_seconds_estimated"] > 0, name
        assert model["peak_memory_gb"] > 0 and model["working_memory_gb"] > 0, name
        assert math.isfinite(model["test"]["mse"]) and math.isfinite(model["test"]["mae"]), name
        assert model["test"]["windows"] == report["settings"]["test_windows"], name
    assert set(report["ratios"]) == set(MODELS) - {"segrnn"}
    for ratio in report["ratios"].values():
        assert ratio["same_settings"] and ratio["step_seconds"]["ratio"] > 0
    assert "SegRNN vs PatchTST" in result.stdout and "more than 78 %" in result.stdout

"""The benchmark script runs and reports (no timing is asserted: these machines are shared and noisy)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_quick_training_benchmark_prints_json_and_writes_a_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    r = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--only", "training", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout)  # stdout is JSON only
    training = results["training"]
    assert training["plain_fp32_img_per_s"] > 0 and training["project_img_per_s"] > 0
    assert training["gflop_per_step"] > 1  # the FLOP counter saw the ResNet-18 step
    assert results["verdicts"]["training_speedup"]["value"] == training["training_speedup"]
    table = out.read_text()
    assert "| training_speedup |" in table and "python benchmarks/run.py --quick --only training" in table


@pytest.mark.slow
def test_gpu_section_says_not_measured_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        return  # measured for real on a GPU machine
    out = tmp_path / "RESULTS.md"
    r = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--only", "gpu", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["gpu"] == {"gpu": "not measured: no GPU"}
    assert "not measured: no GPU" in out.read_text()

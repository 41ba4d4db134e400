"""benchmarks/gpu_check.py runs every step at tiny sizes without a GPU and writes its records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ["tests", "loss", "methods", "scale", "csgcl"]


@pytest.mark.slow
def test_make_gpu_check_runs_every_step_tiny(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CHECK_OUT": str(out)}
    proc = subprocess.run(["make", "-s", "gpu-check", f"PY={sys.executable}",
                           f"GPU_CHECK_OUT={out}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "gpu_check.json").read_text())
    assert summary["format"] == "gcl-bench/1" and summary["tiny"] is True
    assert [(r[0], r[1]) for r in summary["rows"]] == [(s, "ok") for s in STEPS]
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["gpu_check.json", *(f"gpu_{s}.json" for s in STEPS)])
    assert len(files) <= 8  # what the device tool brings back
    loss = json.loads((out / "gpu_loss.json").read_text())
    cols = loss["columns"]
    assert {r[cols.index("precision")] for r in loss["rows"]} == {"fp32", "tf32", "bf16"}
    assert all(r[cols.index("% of matmul")] > 0 for r in loss["rows"])
    methods = json.loads((out / "gpu_methods.json").read_text())
    assert {r[0] for r in methods["rows"]} >= {"grace", "gca", "csgcl", "gcn-pamc"}
    assert all(r[methods["columns"].index("epoch ms")] > 0 for r in methods["rows"])
    scale = json.loads((out / "gpu_scale.json").read_text())
    assert [r[0] for r in scale["rows"]] == ["full batch"] * 3 + ["mini-batch"]
    assert "tiny" in proc.stdout or "headline" in proc.stdout


def test_steps_without_time_are_not_started(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_check

    # 20 s shared by two steps: each share is under the minimum a step starts with
    assert gpu_check.main([str(tmp_path), "--steps", "loss", "csgcl", "--budget-s", "20"]) == 1
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [(r[0], r[1]) for r in summary["rows"]] == [
        ("loss", "not started: time budget"), ("csgcl", "not started: time budget")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_check.json"]


def test_a_step_stops_at_its_deadline(tmp_path):
    """A step past its deadline records why it stopped instead of measuring on."""
    import time

    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from _gpu_steps import Context, step_methods

    ctx = Context(tmp_path, torch.device("cpu"), True, time.time() + 1.0)
    step_methods(ctx)
    record = json.loads((tmp_path / "gpu_methods.json").read_text())
    assert record["rows"] == [] and "time budget" in record["notes"][0]


def test_scaling_step_says_why_it_did_not_run_on_fewer_than_two_gpus(tmp_path):
    """The multi-GPU step is not a default step here; asked for, it records the GPU count."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_check
    import torch

    if torch.cuda.device_count() > 1:
        pytest.skip("several GPUs: the step runs for real")
    assert "scaling" not in gpu_check.DEFAULT_STEPS
    assert gpu_check.main([str(tmp_path), "--steps", "scaling", "--budget-s", "60"]) == 0
    record = json.loads((tmp_path / "gpu_scaling.json").read_text())
    assert record["rows"] == []
    assert record["notes"][0].startswith(f"not run: {torch.cuda.device_count()} GPU(s) visible")
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["rows"][0][:2] == ["scaling", "ok"] and "not run" in summary["rows"][0][-1]

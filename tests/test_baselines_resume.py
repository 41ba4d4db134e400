"""BGRL (with its target network and schedules) and HeCo (with its early stopping) killed mid-run
and resumed from their checkpoints give the embeddings, losses and evaluations of an
uninterrupted run, as tests/test_one_loop.py checks for the other methods."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_one_loop import REPO, WRAPPER, _wait_for

import gcl.methods.runner as runner
from gcl.cli import main
from gcl.methods import get_method

ARGS = {
    "bgrl": ["--set", "encoder_sizes=[16, 8]", "--set", "predictor_hidden=16",
             "--set", "warmup_epochs=3", "--set", "lr=0.01"],
    "heco": ["--set", "hidden=8", "--set", "sample_rate=[2, 1]", "--set", "pos_num=3",
             "--set", "patience=1000", "--set", "eval_heads=1", "--set", "eval_steps=5",
             "--set", "cluster_fits=1"],
}


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("method", ["bgrl", "heco"])
def test_sigkill_mid_run_then_resume_gives_identical_embeddings(method, tmp_path, monkeypatch):
    dataset = "synthetic-hetero" if get_method(method).kind == "metapath" else "synthetic"
    args = ["train", "--method", method, "--dataset", dataset, "--epochs", "20", "--device",
            "cpu", "--seed", "3", "--quiet", "--checkpoint-every", "5", *ARGS[method]]
    ckpt_dir = tmp_path / "ckpt"
    script = tmp_path / "train.py"
    script.write_text(WRAPPER)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, str(script), "1.0", *args, "--checkpoint-dir",
                             str(ckpt_dir), "--out", str(tmp_path / "killed.json")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = ckpt_dir / "seed-3" / "last.pt"
    try:
        _wait_for(ckpt, proc)
        time.sleep(1.5)
        assert proc.poll() is None, "training finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = torch.load(ckpt, weights_only=True)
    assert 5 <= saved["epoch"] < 20 and not saved["stopped"]
    if method == "bgrl":  # the target network and the scheduler travel with the checkpoint
        assert any(k.startswith("target.network.") for k in saved["model"])
        assert saved["scheduler"]["last_epoch"] == saved["epoch"]

    wrapper = {}
    exec(compile(WRAPPER.split("pause =")[0], "wrapper", "exec"), wrapper)
    monkeypatch.setattr(runner, "load_method_data", wrapper["small"])
    torch.set_num_threads(1)
    assert main([*args, "--out", str(tmp_path / "ref.json"),
                 "--save-emb", str(tmp_path / "ref.pt")]) == 0
    assert main([*args, "--checkpoint-dir", str(ckpt_dir), "--resume",
                 "--out", str(tmp_path / "resumed.json"),
                 "--save-emb", str(tmp_path / "resumed.pt")]) == 0
    ref = torch.load(tmp_path / "ref.pt", weights_only=True)["embeddings"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["embeddings"]
    assert torch.equal(ref, resumed)
    ref_rec = json.loads((tmp_path / "ref.json").read_text())
    res_rec = json.loads((tmp_path / "resumed.json").read_text())
    assert res_rec["runs"][0]["loss"] == ref_rec["runs"][0]["loss"]
    assert res_rec["metrics"] == ref_rec["metrics"]
    assert res_rec["runs"][0]["meta"]["resumes"][-1]["epoch"] == saved["epoch"]

"""Checkpoints and exact resume: SIGKILL mid-run, resume, same embeddings; corrupt files."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _procs import wait_for_file

import gcl.methods.runner as runner
from gcl import LambdaCallback, Pipeline
from gcl.augment import Compose, DropEdge, MaskFeature, RandomChoice
from gcl.cli import main
from gcl.data import synthetic
from gcl.encoders import GCNEncoder, ProjectionHead
from gcl.objectives import InfoNCE
from gcl.pipeline import CHECKPOINT_FILE, get_rng_state, set_rng_state

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(num_nodes=120, num_features=16, num_classes=3)
# The CLI run of the kill test: GRACE with small layers on a 120-node synthetic graph.
CLI_ARGS = ["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "30",
            "--device", "cpu", "--seed", "4", "--quiet", "--checkpoint-every", "5",
            "--set", "probe_epochs=20", "--set", "hidden=16", "--set", "proj_hidden=16"]

# Runs `gcl train` on the small graph; argv[1] > 0 slows every epoch after the 5th down by that
# many seconds (sleeping only: the numbers are unchanged) so the test can kill it mid-run.
WRAPPER = """
import sys, time
import torch
torch.set_num_threads(1)  # the same as the in-process runs, so the sums add up alike
import gcl.methods.runner as runner
from gcl.data import synthetic
from gcl.pipeline import Pipeline

runner.load_method_data = lambda dataset, config, *, root=None, seed=0: synthetic(
    num_nodes=120, num_features=16, num_classes=3, seed=seed)
pause = float(sys.argv[1])
original = Pipeline.training_step

def training_step(self, data, epoch):
    if epoch > 5:
        time.sleep(pause)
    return original(self, data, epoch)

Pipeline.training_step = training_step
from gcl.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: bit-identical sums across processes, and fast on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small_data(dataset, config, *, root=None, seed=0):
    return synthetic(**SMALL, seed=seed)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_run_then_resume_gives_identical_embeddings(tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "ckpt"
    script = tmp_path / "train.py"
    script.write_text(WRAPPER)
    path = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    proc = subprocess.Popen(
        [sys.executable, str(script), "1.0", *CLI_ARGS, "--checkpoint-dir", str(ckpt_dir),
         "--out", str(tmp_path / "killed.json")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = ckpt_dir / "seed-4" / CHECKPOINT_FILE
    try:
        wait_for_file(ckpt, proc, 180.0)
        time.sleep(1.5)  # one or two more epochs run and are lost with the process
        assert proc.poll() is None, "training finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(ckpt, weights_only=True)
    assert 5 <= saved["epoch"] < 30 and not saved["stopped"]
    assert not list(ckpt.parent.glob("*.tmp"))

    monkeypatch.setattr(runner, "load_method_data", _small_data)
    # Uninterrupted reference run, then the resumed one, both through the command line.
    assert main([*CLI_ARGS, "--out", str(tmp_path / "ref.json"),
                 "--save-emb", str(tmp_path / "ref.pt")]) == 0
    assert main([*CLI_ARGS, "--checkpoint-dir", str(ckpt_dir), "--resume",
                 "--out", str(tmp_path / "resumed.json"),
                 "--save-emb", str(tmp_path / "resumed.pt")]) == 0
    ref = torch.load(tmp_path / "ref.pt", weights_only=True)["embeddings"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["embeddings"]
    assert ref.shape == (120, 16)
    assert torch.equal(ref, resumed)
    import json

    ref_rec = json.loads((tmp_path / "ref.json").read_text())
    res_rec = json.loads((tmp_path / "resumed.json").read_text())
    assert res_rec["runs"][0]["loss"] == ref_rec["runs"][0]["loss"]
    assert len(res_rec["runs"][0]["loss"]) == 30
    # the killed process's training time came with the checkpoint and is counted in the record
    resumed_at = res_rec["runs"][0]["meta"]["resumes"][-1]
    assert resumed_at["epoch"] == saved["epoch"]
    assert resumed_at["train_s"] == saved["history"]["meta"]["train_s"] > 0
    assert res_rec["runs"][0]["train_s"] > resumed_at["train_s"]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 30


def _pipeline():
    torch.manual_seed(0)
    views = (Compose([DropEdge(0.2, seed=1), MaskFeature(0.2)]),
             RandomChoice([DropEdge(0.3), MaskFeature(0.3, seed=4)], seed=2))
    return Pipeline(GCNEncoder(16, 16), InfoNCE(0.5), augment=views, head=ProjectionHead(16, 16),
                    lr=0.01, device="cpu", seed=3, progress=False,
                    scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 4, gamma=0.8))


class _Crash(Exception):
    pass


def _crash_at(epoch):
    def fn(pipeline, e, logs):
        if e == epoch:
            raise _Crash
    return LambdaCallback(fn)


def test_resume_restores_scheduler_and_augmentation_generators(tmp_path):
    data = synthetic(**SMALL, seed=0)
    ref = _pipeline()
    ref.fit(data, epochs=17)

    crashed = _pipeline()
    with pytest.raises(_Crash):
        crashed.fit(data, epochs=17, checkpoint_dir=tmp_path, checkpoint_every=5,
                    callbacks=[_crash_at(13)])
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert saved["epoch"] == 10
    assert saved["scheduler"]["last_epoch"] == 10
    # every seeded generator is saved, nested ones included
    assert set(saved["generators"]) == {"augment1", "augment1.0", "augment1.1", "augment2",
                                        "augment2.0", "augment2.1"}
    assert set(saved["generators"]["augment1.0"]) == {"cpu"}
    assert set(saved["rng"]) >= {"python", "numpy", "torch"}

    torch.manual_seed(99)  # the resumed process starts from other random states
    random.seed(99)
    np.random.seed(99)
    resumed = _pipeline()
    hist = resumed.fit(data, epochs=17, checkpoint_dir=tmp_path, resume=True)
    assert resumed.epoch == 17 and hist.losses == ref.history.losses
    assert torch.equal(resumed.embed(data), ref.embed(data))
    assert resumed.scheduler.last_epoch == ref.scheduler.last_epoch == 17
    # a finished run resumes to itself (nothing is retrained)
    again = _pipeline()
    again.fit(data, epochs=17, checkpoint_dir=tmp_path, resume=True)
    assert again.epoch == 17 and torch.equal(again.embed(data), ref.embed(data))
    # asking for more epochs extends it
    more = _pipeline()
    more.fit(data, epochs=19, checkpoint_dir=tmp_path, resume=True)
    assert more.epoch == 19 and len(more.history.epochs) == 19


def test_rng_state_round_trip_covers_python_numpy_torch():
    state = get_rng_state()
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)), float(np.random.randn()))
    set_rng_state(state)
    b = (random.random(), float(np.random.rand()), float(torch.rand(1)), float(np.random.randn()))
    assert a == b


def test_existing_checkpoint_needs_resume_and_resume_needs_a_folder(tmp_path, capsys):
    data = synthetic(**SMALL, seed=0)
    _pipeline().fit(data, epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="already exists: pass resume=True"):
        _pipeline().fit(data, epochs=2, checkpoint_dir=tmp_path)
    assert main(["train", "--method", "grace", "--dataset", "synthetic", "--resume"]) == 2
    assert "resume needs a checkpoint folder" in capsys.readouterr().err


def test_checkpoint_of_another_run_is_refused(tmp_path):
    data = synthetic(**SMALL, seed=0)
    first = _pipeline()
    first.meta["config"] = {"tau": 0.5}
    first.fit(data, epochs=2, checkpoint_dir=tmp_path)
    other = _pipeline()
    other.meta["config"] = {"tau": 0.2}
    with pytest.raises(ValueError, match=r"belongs to another run \(config"):
        other.fit(data, epochs=4, checkpoint_dir=tmp_path, resume=True)
    wider = Pipeline(GCNEncoder(16, 32), InfoNCE(0.5), device="cpu", progress=False)
    with pytest.raises(ValueError, match="does not fit this Pipeline"):
        wider.fit(data, epochs=4, checkpoint_dir=tmp_path, resume=True)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_names_the_file(tmp_path, damage):
    data = synthetic(**SMALL, seed=0)
    _pipeline().fit(data, epochs=2, checkpoint_dir=tmp_path)
    path = tmp_path / CHECKPOINT_FILE
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 64 + raw[64:])
    else:
        path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"could not read checkpoint .*last\.pt"):
        _pipeline().fit(data, epochs=4, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="last.pt"):
        _pipeline().load(path)


def test_checkpoint_is_weights_only_and_refuses_pickled_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": "gcl-pipeline/1", "model": Evil()}, path)
    with pytest.raises(ValueError, match="evil.pt"):
        _pipeline().load(path)
    assert not marker.exists()


def test_each_run_gets_its_own_checkpoint_folder_and_finished_runs_are_not_retrained(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "load_method_data", _small_data)
    args = ["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "4", "--runs", "2",
            "--device", "cpu", "--quiet", "--checkpoint-dir", str(tmp_path / "ck"),
            "--checkpoint-every", "2", "--set", "probe_epochs=5", "--set", "hidden=8",
            "--set", "proj_hidden=8"]
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0
    for seed in (0, 1):
        saved = torch.load(tmp_path / "ck" / f"seed-{seed}" / CHECKPOINT_FILE, weights_only=True)
        assert saved["epoch"] == 4 and saved["meta"]["seed"] == seed
        assert saved["meta"]["method"] == "grace" and saved["meta"]["dataset"] == "synthetic"
    # without --resume an existing checkpoint is never overwritten
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b.json")]) == 2
    assert "seed-0/last.pt already exists: pass resume=True" in capsys.readouterr().err
    calls = []
    original = Pipeline.training_step
    monkeypatch.setattr(Pipeline, "training_step",
                        lambda self, data, epoch: calls.append(epoch) or original(self, data, epoch))
    assert main([*args, "--resume", "--out", str(tmp_path / "c.json")]) == 0
    assert calls == []  # both runs were complete: only re-evaluated
    import json

    a, c = (json.loads((tmp_path / f"{k}.json").read_text()) for k in "ac")
    assert [r["loss"] for r in a["runs"]] == [r["loss"] for r in c["runs"]]
    assert a["metrics"]["accuracy"] == c["metrics"]["accuracy"]
    # a changed hyperparameter is refused instead of silently mixing two runs
    capsys.readouterr()
    assert main([*args, "--resume", "--set", "tau=0.9", "--out", str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err
    assert "belongs to another run (config:" in err and "'tau': 0.9" in err

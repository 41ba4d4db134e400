"""DGI, MVGRL, G-BT and CCA-SSG as registered methods: configurations, the parts they build,
their protocols (schedules, probes) against transcriptions of the reference code, and training
through the one loop from `gcl train` and `gcl.methods.run`."""

from __future__ import annotations

import math

import pytest
import torch

from gcl.cli import main
from gcl.methods import available_methods, get_method, load_config, run
from gcl.methods.gbt import warmup_cosine

METHODS = ("dgi", "mvgrl", "gbt", "ccassg")


def test_registered_with_configs():
    assert set(METHODS) <= set(available_methods())
    for name in METHODS:
        spec = get_method(name)
        for dataset in spec.datasets:  # every shipped section loads (unknown keys would raise)
            load_config(name, dataset)
    assert load_config("mvgrl", "citeseer")["threshold"] == "auto"
    assert load_config("ccassg", "coauthor-cs")["encoder"] == "mlp"
    assert load_config("gbt", "coauthor-cs")["lr"] == 1e-5
    assert load_config("dgi", "pubmed")["hidden"] == 256


def test_parts_of_each_recipe():
    from gcl.augment import Identity, NodeSubsample, PPRDiffusion, ShuffleFeatures
    from gcl.data import synthetic
    from gcl.objectives import BarlowTwins, CCALoss, DGIObjective, MVGRLObjective

    data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
    build = {m: get_method(m).build({**load_config(m, "synthetic"), "device": "cpu"}, data)
             for m in METHODS}
    assert isinstance(build["dgi"].augment1, Identity)
    assert isinstance(build["dgi"].augment2, ShuffleFeatures)
    assert isinstance(build["dgi"].objective, DGIObjective)
    assert isinstance(build["mvgrl"].view2, PPRDiffusion)
    assert isinstance(build["mvgrl"].sampler, NodeSubsample)
    assert isinstance(build["mvgrl"].objective, MVGRLObjective)
    assert isinstance(build["gbt"].objective, BarlowTwins)
    assert isinstance(build["gbt"].build_optimizer(), torch.optim.AdamW)
    assert isinstance(build["ccassg"].objective, CCALoss)


def test_warmup_cosine_equals_lightning_bolts_recursion():
    """pl_bolts' LinearWarmupCosineAnnealingLR (warmup_start_lr = eta_min = 0), its chained form
    transcribed: e = 0 -> 0; e < W -> lr += base / (W - 1); e == W -> base; then
    lr = (1 + cos(pi (e-W) / (T-W))) / (1 + cos(pi (e-W-1) / (T-W))) * lr."""
    base, warm, total = 1.0, 5, 20
    lrs, lr = [], 0.0
    for e in range(total):
        if e == 0:
            lr = 0.0
        elif e < warm:
            lr += base / (warm - 1)
        elif e == warm:
            lr = base
        else:
            lr = (1 + math.cos(math.pi * (e - warm) / (total - warm))) / (
                1 + math.cos(math.pi * (e - warm - 1) / (total - warm))) * lr
        lrs.append(lr)
    f = warmup_cosine(warm, total)
    assert [f(e) for e in range(total)] == pytest.approx(lrs, abs=1e-12)


def test_running_best_selection_equals_ccassg_loop():
    """CCA-SSG's main.py: for every step, if val_acc >= best_val: best_val = val_acc and, if
    test_acc > eval_acc, eval_acc = test_acc."""
    from gcl.evaluation import LogisticRegression, linear_probe
    from gcl.evaluation.probe import make_generator

    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    z = torch.nn.functional.one_hot(y, 3).float() + 0.9 * torch.randn(90, 3, generator=g)
    idx = torch.arange(90)
    train, val, test = idx < 20, (idx >= 20) & (idx < 50), idx >= 50
    ours = linear_probe(z, y, train, val, test, epochs=60, lr=0.05, eval_every=1,
                        selection="running_best")["accuracy"]["mean"]
    clf = LogisticRegression(3, 3, generator=make_generator(0))
    opt = torch.optim.Adam(clf.parameters(), lr=0.05)
    best_val, eval_acc = 0.0, 0.0
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(clf(z[train]), y[train]).backward()
        opt.step()
        with torch.no_grad():
            val_acc = float((clf(z[val]).argmax(1) == y[val]).float().mean())
            test_acc = float((clf(z[test]).argmax(1) == y[test]).float().mean())
        if val_acc >= best_val:
            best_val = val_acc
            if test_acc > eval_acc:
                eval_acc = test_acc
    assert ours == pytest.approx(eval_acc)


@pytest.mark.parametrize("method", METHODS)
def test_gcl_train_runs_each_method(method, tmp_path, capsys):
    code = main(["train", "--method", method, "--dataset", "synthetic", "--epochs", "3",
                 "--device", "cpu", "--no-progress", "--out", str(tmp_path / "r.json"),
                 "--checkpoint-dir", str(tmp_path / "ck")])
    assert code == 0
    assert (tmp_path / "r.json").is_file() and (tmp_path / "ck" / "seed-0" / "last.pt").is_file()
    assert "accuracy" in capsys.readouterr().out


def test_mvgrl_resumes_from_its_checkpoint(tmp_path):
    """The sampler's and the corruption's generators travel with the checkpoint: 2 + 2 epochs
    resumed equal 4 epochs at once."""
    over = {"epochs": 2, "patience": 0, "probe_runs": 2, "probe_epochs": 5}
    run("mvgrl", "synthetic", overrides=over, device="cpu", log=None,
        checkpoint_dir=tmp_path / "a")
    resumed = run("mvgrl", "synthetic", overrides={**over, "epochs": 4}, device="cpu", log=None,
                  checkpoint_dir=tmp_path / "a", resume=True)
    whole = run("mvgrl", "synthetic", overrides={**over, "epochs": 4}, device="cpu", log=None)
    assert resumed["runs"][0]["loss"] == pytest.approx(whole["runs"][0]["loss"], rel=1e-5)


def test_infomax_protocol_probes_and_early_stopping():
    record = run("dgi", "synthetic", overrides={"epochs": 30, "patience": 2, "probe_runs": 4,
                                                "probe_epochs": 20}, device="cpu", log=None)
    detail = record["runs"][0]["metrics_detail"]["accuracy"]
    assert len(detail["values"]) == 4  # one score per logistic regression
    meta = record["runs"][0]["meta"]
    assert meta["best_epoch"] <= len(record["runs"][0]["loss"]) <= 30

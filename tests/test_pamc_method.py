"""The PamC method: trainer, registry, runner and command line on small synthetic graphs."""

from __future__ import annotations

import pytest
import torch

from gcl.data import synthetic
from gcl.methods import get_method, load_config, run
from gcl.methods.pamc import ClusteringAE, PamCTrainer, pretrain_autoencoder

SMALL = {"epochs": 4, "hidden": [16, 16, 32], "pretrain_epochs": 2, "kmeans_n_init": 2}


def test_configs_convert_the_reference_tau():
    cfg = load_config("pamc", "sdcn-cite")
    assert (cfg["alpha"], cfg["beta"], cfg["order"], cfg["lr"]) == (2.0, 2.5, 3, 1e-3)
    assert cfg["temperature"] == pytest.approx(1 / 0.5)
    assert cfg["hidden"] == [500, 500, 2000] and cfg["z_dim"] == 10
    base = load_config("pamc-nodepair", "sdcn-cite")
    assert base["negatives"] == "node_pair" and base["temperature"] == pytest.approx(1 / 0.25)
    assert (base["alpha"], base["beta"], base["order"], base["lr"]) == (1.0, 0.1, 1, 1e-4)
    assert load_config("pamc", "sdcn-hhar")["temperature"] == pytest.approx(1 / 1.5)


def test_encoder_shape_and_sparse_input_agree():
    model = ClusteringAE(30, 4)
    assert [m.out_features for m in (model.enc_1, model.enc_2, model.enc_3, model.z_layer)] == \
        [500, 500, 2000, 10]
    x = (torch.rand(7, 30) < 0.2).float()
    assert torch.allclose(model.encode(x), model.encode(x.to_sparse()), atol=1e-5)


def test_pretraining_reduces_reconstruction_error():
    data = synthetic(num_nodes=80, num_classes=3, num_features=20, seed=0)
    model = ClusteringAE(20, 3, hidden=(16, 16, 32), z_dim=4)
    losses = pretrain_autoencoder(model, data.x, epochs=8, batch_size=16, lr=1e-2)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("negatives", ["meta_node", "node_pair"])
def test_trainer_reports_last_and_optionally_max(negatives):
    data = synthetic(num_nodes=90, num_classes=3, num_features=24, seed=1)
    trainer = PamCTrainer(24, 3, hidden=(16, 16, 32), z_dim=4, pretrain_epochs=2,
                          kmeans_n_init=2, negatives=negatives, order=2, device="cpu",
                          report_max_over_epochs=True)
    history = trainer.fit(data, epochs=5)
    assert len(history.epochs) == 5 and all(torch.isfinite(torch.tensor(history.losses)))
    assert [e["epoch"] for e in history.evals] == list(range(6))
    scores = trainer.scores()
    assert scores["cluster_acc"] == history.evals[-1]["cluster_acc"]
    best = max(e["nmi"] for e in history.evals[:-1])
    assert scores["nmi@max-over-epochs"] == best
    assert trainer.predict(data).shape == (90,)


def test_run_and_registry():
    assert get_method("pamc").fit is not None and get_method("pamc-nodepair") is not None
    record = run("pamc", "synthetic", overrides=SMALL, runs=2, device="cpu", log=None)
    assert sorted(record["metrics"]) == ["ari", "cluster_acc", "cluster_f1", "nmi"]
    assert len(record["metrics"]["nmi"]["values"]) == 2
    assert record["timing"]["epoch_s_median"] > 0


def test_cli_train(tmp_path):
    from gcl.cli import main

    out = tmp_path / "rec.json"
    code = main(["train", "--method", "pamc-nodepair", "--dataset", "synthetic", "--epochs", "2",
                 "--set", "hidden=[8, 8, 16]", "--set", "pretrain_epochs=1",
                 "--set", "kmeans_n_init=1", "--device", "cpu", "--out", str(out)])
    assert code == 0 and out.is_file()

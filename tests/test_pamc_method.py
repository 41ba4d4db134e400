"""The PamC method: module, registry, runner and command line on small synthetic graphs."""

from __future__ import annotations

import pytest
import torch

from gcl.data import synthetic
from gcl.methods import get_method, load_config, pamc, run
from gcl.methods.pamc import evaluate_pamc, pamc_callbacks
from gcl.modules.clustering import ClusteringAE, pretrain_autoencoder
from gcl.modules.clustering import to_csr as _to_csr

SMALL = {"epochs": 4, "hidden": [16, 16, 32], "pretrain_epochs": 2, "kmeans_n_init": 2}


def test_configs_convert_the_reference_tau():
    cfg = load_config("pamc", "sdcn-cite")
    assert (cfg["alpha"], cfg["beta"], cfg["order"], cfg["lr"]) == (2.0, 2.5, 3, 1e-3)
    assert cfg["temperature"] == pytest.approx(1 / 0.5)
    assert cfg["hidden"] == [500, 500, 2000] and cfg["z_dim"] == 10
    base = load_config("pamc-nodepair", "sdcn-cite")
    assert "negatives" not in base and base["temperature"] == pytest.approx(1 / 0.25)
    data = synthetic(num_nodes=30, num_classes=3, num_features=8, seed=0)
    assert get_method("pamc-nodepair").build(base, data).objective.negatives == "node_pair"
    assert (base["alpha"], base["beta"], base["order"], base["lr"]) == (1.0, 0.1, 1, 1e-4)
    assert load_config("pamc", "sdcn-hhar")["temperature"] == pytest.approx(1 / 1.5)


def test_encoder_shape_and_sparse_input_agree():
    model = ClusteringAE(30)
    assert [m.out_features for m in (model.enc_1, model.enc_2, model.enc_3, model.z_layer)] == \
        [500, 500, 2000, 10]
    x = (torch.rand(7, 30) < 0.2).float()
    dense = model.encode(x)
    (g_dense,) = torch.autograd.grad(dense.pow(2).sum(), model.enc_1.weight)
    for sparse in (x.to_sparse(), _to_csr(x)):
        out = model.encode(sparse)
        (grad,) = torch.autograd.grad(out.pow(2).sum(), model.enc_1.weight)
        assert torch.allclose(dense, out, atol=1e-5)
        assert torch.allclose(g_dense, grad, atol=1e-5)


def test_pretraining_reduces_reconstruction_error():
    data = synthetic(num_nodes=80, num_classes=3, num_features=20, seed=0)
    model = ClusteringAE(20, hidden=(16, 16, 32), z_dim=4)
    losses = pretrain_autoencoder(model, data.x, epochs=8, batch_size=16, lr=1e-2)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("negatives", ["meta_node", "node_pair"])
def test_module_reports_last_and_optionally_max(negatives):
    data = synthetic(num_nodes=90, num_classes=3, num_features=24, seed=1)
    module = pamc(24, 3, hidden=(16, 16, 32), z_dim=4, pretrain_epochs=2, kmeans_n_init=2,
                  negatives=negatives, order=2, device="cpu")
    config = {"report_max_over_epochs": True}
    history = module.fit(data, epochs=5, callbacks=pamc_callbacks(config, data))
    assert len(history.epochs) == 5 and all(torch.isfinite(torch.tensor(history.losses)))
    assert [e["epoch"] for e in history.evals] == list(range(6))
    scores = {k: v["mean"] for k, v in evaluate_pamc(module, data, config, 0).items()}
    assert scores["cluster_acc"] == history.evals[-1]["cluster_acc"]
    best = max(e["nmi"] for e in history.evals[:-1])
    assert scores["nmi@max-over-epochs"] == best
    assert module.predict(data).shape == (90,)


def test_run_and_registry():
    assert get_method("pamc").callbacks is not None and get_method("pamc-nodepair") is not None
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


def _naive_reference_epochs(state, data, num_clusters, epochs, *, alpha, beta, order, tau, lr,
                            seed, n_init, negatives):
    """The spec's training loop written out densely, in the reference's conventions.

    Per epoch: one forward pass for P (and the evaluation), a second one with gradients; KL as
    batchmean; meta-nodes from the N x K x d broadcast over one_hot(argmax Q); cosine
    similarities with the diagonal zeroed; exp(tau * cos) with tau a multiplier; dense S.
    """
    import torch.nn.functional as F
    from sklearn.cluster import KMeans

    model = ClusteringAE(data.num_features, hidden=(16, 16, 32), z_dim=4)
    model.load_state_dict(state)
    model.centroids = torch.nn.Parameter(torch.zeros(num_clusters, 4))
    x = data.x.float()
    n = x.size(0)
    a = torch.zeros(n, n)
    a[data.edge_index[0], data.edge_index[1]] = 1.0
    a = torch.maximum(a, a.t()) + torch.eye(n)
    a_hat = a / a.sum(1, keepdim=True)
    power, s_mat = torch.eye(n), torch.zeros(n, n)
    for _ in range(order):
        power = power @ a_hat
        s_mat = s_mat + power

    def cos(u):
        norms = u.pow(2).sum(1).sqrt()[:, None]
        return (u @ u.t()) / (norms @ norms.t()) * (1 - torch.eye(u.size(0)))

    def forward():
        h = model.encode(x)
        q = 1.0 / (1.0 + ((h[:, None, :] - model.centroids[None]) ** 2).sum(2))
        return h, q / q.sum(1, keepdim=True)

    with torch.no_grad():
        z0 = model.encode(x)
    km = KMeans(n_clusters=num_clusters, n_init=n_init, random_state=seed).fit(z0.numpy())
    with torch.no_grad():
        model.centroids.copy_(torch.as_tensor(km.cluster_centers_, dtype=torch.float32))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    labels = []
    for _ in range(epochs):
        with torch.no_grad():
            _, tmp_q = forward()
        labels.append(tmp_q.argmax(1))
        w = tmp_q ** 2 / tmp_q.sum(0)
        p = w / w.sum(1, keepdim=True)
        z, q = forward()
        kl = F.kl_div(q.log(), p, reduction="batchmean")
        pos = (s_mat * torch.exp(tau * cos(z))).sum(1)
        if negatives == "node_pair":
            neg = torch.log(torch.exp(tau * cos(z)).sum(1) + 1e-10).mean()
        else:
            cc = (z[:, None, :] * F.one_hot(q.detach().argmax(1), num_clusters)[:, :, None]).sum(0)
            neg = torch.log(torch.exp(tau * cos(cc)).sum(1) + 1e-10).mean()
        contrast = -torch.log(pos + 1e-10).mean() + neg
        loss = beta * kl + alpha * contrast
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, labels


@pytest.mark.parametrize("negatives", ["meta_node", "node_pair"])
def test_module_matches_a_naive_dense_training_loop(tmp_path, negatives):
    """A few epochs of PamC's module equal the spec's loop written densely (same pretrained AE,
    same k-means): same per-epoch clusters and same parameters afterwards. This checks the
    wiring (loss signs and weights, tau -> temperature, P refreshed each epoch and detached,
    meta-nodes from argmax Q) that the loss-only tests do not see."""
    data = synthetic(num_nodes=70, num_classes=3, num_features=24, seed=3)
    pre = ClusteringAE(24, hidden=(16, 16, 32), z_dim=4)
    pretrain_autoencoder(pre, data.x, epochs=6, batch_size=16, lr=1e-2, seed=1)
    path = tmp_path / "ae.pt"
    torch.save(pre.autoencoder_state(), path)
    hp = {"alpha": 2.0, "beta": 2.5, "order": 2, "tau": 0.5, "lr": 1e-2}
    module = pamc(24, 3, alpha=hp["alpha"], beta=hp["beta"], order=hp["order"],
                  temperature=1 / hp["tau"], lr=hp["lr"], negatives=negatives,
                  hidden=(16, 16, 32), z_dim=4, pretrained=str(path), kmeans_n_init=3,
                  kmeans_seed=5, device="cpu")
    epochs = 4
    history = module.fit(data, epochs=epochs, callbacks=pamc_callbacks({}, data))
    naive, labels = _naive_reference_epochs(pre.autoencoder_state(), data, 3, epochs, seed=5,
                                            n_init=3, negatives=negatives, **hp)
    from gcl.evaluation import clustering_scores

    ours = [e["cluster_acc"] for e in history.evals[:-1]]
    theirs = [clustering_scores(data.y, lab)["acc"] for lab in labels]
    assert ours == pytest.approx(theirs)
    ours_state = {**module.autoencoder.state_dict(), "centroids": module.objective.centroids}
    naive_state = naive.state_dict()
    for key in ("enc_1.weight", "z_layer.weight", "z_layer.bias", "centroids"):
        assert torch.allclose(ours_state[key], naive_state[key], atol=1e-5), key
    assert not torch.allclose(naive_state["z_layer.weight"], pre.state_dict()["z_layer.weight"])

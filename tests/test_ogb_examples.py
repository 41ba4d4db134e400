"""The OGB examples run unchanged on tiny folders in OGB's layout; mini-batch training works."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import gcl
from gcl.augment import DropEdge
from gcl.data import NeighborSampler, make_fake_ogb
from gcl.encoders import GCNEncoder
from gcl.objectives import InfoNCE

REPO = Path(__file__).resolve().parents[1]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, extra", [
    ("ogbn_arxiv", ["--block-size", "64"]),           # blockwise loss on 240 nodes
    ("ogbn_arxiv", ["--objective", "pamc"]),          # GCN + PamC negatives
    ("ogbn_arxiv", ["--objective", "bgrl", "--batch-size", "64", "--fanout", "5", "3"]),
    ("ogbn_products", ["--batch-size", "64", "--fanout", "5", "3"]),
])
def test_example_on_fake_ogb(tmp_path, monkeypatch, no_network, name, extra):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    make_fake_ogb(tmp_path / "root" / "ogb", name.replace("_", "-"), num_nodes=240,
                  num_features=12, num_classes=4)
    out = tmp_path / "r.json"
    metrics = _example(name).main(["--data-root", str(tmp_path / "root"), "--epochs", "2",
                                   "--hidden", "16", "--probe-epochs", "60", "--device", "cpu",
                                   "--out", str(out), *extra])
    record = json.loads(out.read_text())
    assert record["dataset"] == name.replace("_", "-")
    for key in ("val_acc", "test_acc"):
        assert 0.0 <= metrics[key]["mean"] <= 1.0
        assert record["metrics"][key]["mean"] == pytest.approx(metrics[key]["mean"])
    # the fake graph is a planted partition with informative features: far above chance (25%)
    assert metrics["test_acc"]["mean"] > 0.5


def test_minibatch_fit_steps_once_per_batch_on_seed_nodes():
    data = gcl.data.synthetic(num_nodes=200, num_features=8, num_classes=3, seed=0)
    seen = []

    class Recording(InfoNCE):
        def forward(self, h1, h2, step=None):
            seen.append((h1.size(0), step.nodes.clone()))
            return super().forward(h1, h2, step)

    pipe = gcl.Pipeline(GCNEncoder(8, 16), Recording(tau=0.5), augment=DropEdge(0.2),
                        lr=0.01, device="cpu", progress=False)
    loader = NeighborSampler(data, [5, 5], batch_size=64, seed=0)
    before = [p.detach().clone() for p in pipe.parameters()]
    history = pipe.fit(data, epochs=2, loader=loader)
    assert [n for n, _ in seen] == [64, 64, 64, 8] * 2
    assert sorted(torch.cat([nodes for _, nodes in seen[:4]]).tolist()) == list(range(200))
    assert len(history.epochs) == 2 and history.epochs[0]["batches"] == 4.0
    assert all(torch.isfinite(torch.tensor(history.losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, pipe.parameters(), strict=True))
    assert pipe.embed(data).shape == (200, 16)  # full-graph inference afterwards


def test_pamc_negatives_in_minibatch_use_the_seed_block_of_s():
    from gcl.objectives import PamCObjective, influence_matrix
    from gcl.objectives.pamc import positive_term, restrict_sparse

    data = gcl.data.synthetic(num_nodes=150, num_features=8, num_classes=3, seed=2)
    full = influence_matrix(data.edge_index, data.num_nodes, 1)
    nodes = torch.tensor([5, 17, 3, 99, 42])
    sub = restrict_sparse(full, nodes).to_dense()
    assert torch.equal(sub, full.to_dense()[nodes][:, nodes])
    # the objective's positive term on a batch equals the naive one on the dense seed block
    objective = PamCObjective(3, 16)
    objective.setup(data)
    seen = []
    real = positive_term

    def spy(a, target, temperature, other=None):
        seen.append(target.to_dense())
        return real(a, target, temperature, other=other)

    import gcl.objectives.pamc as mod

    mod.positive_term, saved = spy, mod.positive_term
    try:
        loader = NeighborSampler(data, [4, 4], batch_size=40, seed=0)
        pipe = gcl.Pipeline(GCNEncoder(8, 16), objective, augment=DropEdge(0.2), lr=0.01,
                            device="cpu", progress=False)
        batch = next(iter(loader))
        step = pipe.training_step(batch, epoch=1)
        loss = step.loss
    finally:
        mod.positive_term = saved
    seeds = batch.n_id[:batch.batch_size]
    assert torch.isfinite(loss) and seen
    assert torch.equal(seen[0], full.to_dense()[seeds][:, seeds])
    assert objective.target.size(0) == data.num_nodes  # the full matrix is kept for later batches
    history = pipe.fit(data, epochs=1, loader=loader)
    assert history.epochs[0]["batches"] == 4.0 and torch.isfinite(torch.tensor(history.losses)).all()

"""PamC's meta-node negatives as a two-view objective inside gcl.Pipeline."""

from __future__ import annotations

import pytest
import torch

from gcl import Pipeline
from gcl.augment import Compose, DropEdge, MaskFeature
from gcl.data import synthetic
from gcl.encoders import GCNEncoder
from gcl.objectives import PamCObjective


@pytest.mark.parametrize("assignment, negatives", [("hard", "meta_node"), ("soft", "meta_node"),
                                                   ("hard", "node_pair")])
def test_pipeline_trains_with_pamc_objective(assignment, negatives):
    data = synthetic(num_nodes=120, num_classes=4, num_features=16, seed=0)
    objective = PamCObjective(4, 16, temperature=0.5, order=2, assignment=assignment,
                              negatives=negatives)
    pipe = Pipeline(GCNEncoder(16, 16), objective,
                    augment=Compose([DropEdge(0.2), MaskFeature(0.2)]), lr=0.01, device="cpu",
                    seed=0, progress=False)
    before = objective.centroids.detach().clone()
    history = pipe.fit(data, epochs=6)
    assert len(history.losses) == 6
    assert all(torch.isfinite(torch.tensor(history.losses)))
    assert bool(objective.initialized)
    assert not torch.equal(before, objective.centroids.detach())
    assert {"contrast", "kl"} <= set(history.epochs[-1])
    assert objective.target.is_sparse and objective.target.size(0) == 120
    q = objective.assign(pipe.embed(data))
    assert q.shape == (120, 4) and torch.allclose(q.sum(1), torch.ones(120))


def test_pamc_objective_validates_arguments():
    with pytest.raises(ValueError, match="assignment"):
        PamCObjective(3, 8, assignment="fuzzy")
    with pytest.raises(ValueError, match="temperature"):
        PamCObjective(3, 8, temperature=0)
    with pytest.raises(ValueError, match="setup"):
        PamCObjective(3, 8)(torch.randn(4, 8), torch.randn(4, 8))


def test_gcn_pamc_method_runs_with_probe_and_clustering():
    from gcl.methods import run

    record = run("gcn-pamc", "synthetic", overrides={"epochs": 3, "probe_epochs": 20},
                 device="cpu", log=None)
    assert {"accuracy", "nmi", "cluster_acc"} <= set(record["metrics"])
    assert record["timing"]["epoch_s_median"] > 0


def test_warmup_is_infonce_then_meta_node_loss_with_centroids_from_that_step():
    from gcl.objectives import info_nce
    from gcl.objectives.base import Step

    gen = torch.Generator().manual_seed(0)
    data = synthetic(num_nodes=40, num_features=6, num_classes=3, seed=0)
    obj = PamCObjective(3, 8, warmup_epochs=2, warmup_tau=0.3)
    obj.setup(data)
    h1, h2 = torch.randn(40, 8, generator=gen), torch.randn(40, 8, generator=gen)
    for epoch in (1, 2):
        step = Step(epoch=epoch, data=data, views=(None, None), z=(h1, h2), h=(h1, h2))
        torch.testing.assert_close(obj(h1, h2, step), info_nce(h1, h2, 0.3))
        assert not bool(obj.initialized)
    step = Step(epoch=3, data=data, views=(None, None), z=(h1, h2), h=(h1, h2))
    loss = obj(h1, h2, step)
    assert bool(obj.initialized) and torch.isfinite(loss)
    assert not torch.allclose(loss, info_nce(h1, h2, 0.3))
    # more nodes than warmup_nodes: a random subset of that size
    small = PamCObjective(3, 8, warmup_epochs=1, warmup_nodes=10)
    step = Step(epoch=1, data=data, views=(None, None), z=(h1, h2), h=(h1, h2))
    torch.manual_seed(1)
    got = small(h1, h2, step)
    torch.manual_seed(1)
    pick = torch.randperm(40)[:10]
    torch.testing.assert_close(got, info_nce(h1[pick], h2[pick], 0.5))


def test_hard_assignment_collapse_is_warned_once():
    data = synthetic(num_nodes=30, num_features=6, num_classes=3, seed=0)
    obj = PamCObjective(3, 4, assignment="hard")
    obj.setup(data)
    h = torch.ones(30, 4) + 1e-3 * torch.randn(30, 4)
    with torch.no_grad():
        obj.centroids.copy_(torch.tensor([[1.0] * 4, [-5.0] * 4, [9.0] * 4]))
        obj.initialized.fill_(True)
    with pytest.warns(RuntimeWarning, match="one cluster"):
        loss = obj(h, h.clone())  # two views
    # one non-empty cluster: no negatives, the loss is the positive term alone (about -1/T)
    assert float(loss) < -1.5
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        obj(h, h.clone())  # warned once only

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

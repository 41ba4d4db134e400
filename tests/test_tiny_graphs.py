"""Regressions on tiny graphs found by the property tests (tests/test_properties.py)."""

import torch
from torch_geometric.data import Data

from gcl.augment import AdaptiveEdgeDropping, AdaptiveFeatureMasking
from gcl.augment.adaptive import adaptive_edge_weights, eigenvector_centrality
from gcl.objectives import PamCObjective


def test_adaptive_augmentations_accept_a_graph_without_edges():
    data = Data(x=torch.ones(3, 2), edge_index=torch.empty(2, 0, dtype=torch.long))
    assert adaptive_edge_weights(data).shape == (0,)
    for centrality in ("degree", "pagerank", "eigenvector"):
        out = AdaptiveEdgeDropping(0.5, centrality=centrality, seed=0)(data)
        assert out.edge_index.shape == (2, 0)
        assert AdaptiveFeatureMasking(0.5, centrality=centrality, seed=0)(data).x.shape == (3, 2)


def test_eigenvector_centrality_of_tiny_and_acyclic_graphs_is_defined_and_repeatable():
    # one and two nodes (ARPACK needs N > 2), no edges (uniform), a path without cycles (ARPACK
    # restarts from a random vector there)
    cases = [(torch.tensor([[0], [0]]), 1), (torch.tensor([[0], [1]]), 2),
             (torch.empty(2, 0, dtype=torch.long), 4), (torch.tensor([[0, 1, 2], [1, 2, 3]]), 4)]
    for ei, n in cases:
        first = eigenvector_centrality(ei, n)
        assert first.shape == (n,) and bool(torch.isfinite(first).all())
        for _ in range(5):
            assert torch.equal(eigenvector_centrality(ei, n), first)
    assert torch.allclose(eigenvector_centrality(torch.empty(2, 0, dtype=torch.long), 4),
                          torch.full((4,), 0.5))


def test_pamc_objective_with_more_clusters_than_nodes():
    data = Data(x=torch.ones(2, 3), edge_index=torch.tensor([[0], [1]]))
    objective = PamCObjective(num_classes=4, dim=3)
    objective.setup(data)
    h1 = torch.randn(2, 3, requires_grad=True)
    loss = objective(h1, torch.randn(2, 3))
    loss.backward()
    assert bool(torch.isfinite(loss)) and bool(torch.isfinite(h1.grad).all())
    assert objective.centroids.shape == (4, 3)

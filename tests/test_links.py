"""Held-out link prediction and the reconstruction AUC."""

from __future__ import annotations

import pytest
import torch

from gcl.data import synthetic
from gcl.evaluation.links import (
    link_prediction,
    reconstruction_auc,
    sample_non_edges,
    split_edges,
)


def keys(pairs, n):
    u = torch.minimum(pairs[0], pairs[1])
    v = torch.maximum(pairs[0], pairs[1])
    return set((u * n + v).tolist())


def test_split_holds_out_edges_and_samples_true_non_edges():
    data = synthetic(num_nodes=120, num_features=4, num_classes=3, seed=0)
    n = data.num_nodes
    split = split_edges(data, test_ratio=0.2, val_ratio=0.1, seed=1)
    all_edges = keys(data.edge_index, n)
    train = keys(split.train_data.edge_index, n)
    test, val = keys(split.test_pos, n), keys(split.test_neg, n)
    assert len(test) == split.test_pos.size(1) == split.test_neg.size(1)
    assert len(keys(split.val_pos, n)) == split.val_pos.size(1) == split.val_neg.size(1) > 0
    assert test <= all_edges and not (test & train) and not (keys(split.val_pos, n) & train)
    assert train | test | keys(split.val_pos, n) == all_edges
    assert len(test) == round(0.2 * len(all_edges))
    negs = test_neg = keys(split.test_neg, n) | keys(split.val_neg, n)
    assert not (negs & all_edges) and len(negs) == split.test_neg.size(1) + split.val_neg.size(1)
    assert bool((split.test_neg[0] != split.test_neg[1]).all()) and val == test_neg & val
    # training graph is symmetric, and the split is seeded
    ei = split.train_data.edge_index
    assert keys(ei, n) == train and ei.size(1) == 2 * len(train)
    again = split_edges(data, test_ratio=0.2, val_ratio=0.1, seed=1)
    assert torch.equal(again.test_pos, split.test_pos) and torch.equal(again.test_neg, split.test_neg)
    assert split.train_data.x is not None and data.edge_index.size(1) == 2 * len(all_edges)


def test_split_checks_ratios():
    data = synthetic(num_nodes=30, num_features=4, num_classes=2, seed=0)
    with pytest.raises(ValueError, match="test_ratio"):
        split_edges(data, test_ratio=0.0)


def test_sample_non_edges_refuses_impossible_requests():
    with pytest.raises(ValueError, match="non-edges"):
        sample_non_edges(torch.tensor([[0, 1, 0], [1, 2, 2]]), 3, 1)


def test_link_prediction_scores_perfect_and_random_embeddings():
    data = synthetic(num_nodes=100, num_features=4, num_classes=2, seed=0)
    split = split_edges(data, test_ratio=0.2, seed=0)
    # one column per test edge, set at both endpoints: z_u . z_v = 1 iff (u, v) is a test edge
    n, t = data.num_nodes, split.test_pos.size(1)
    oracle = torch.zeros(n, t)
    oracle[split.test_pos[0], torch.arange(t)] = 1
    oracle[split.test_pos[1], torch.arange(t)] = 1
    scores = link_prediction(oracle, split)
    assert scores["link_auc"]["mean"] == 1.0 and scores["link_ap"]["mean"] == 1.0
    rand = link_prediction(torch.randn(n, 16, generator=torch.Generator().manual_seed(0)), split)
    assert 0.3 < rand["link_auc"]["mean"] < 0.7


def test_reconstruction_auc_uses_every_edge():
    ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
    z = torch.tensor([[2.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 2, 0], [0, 0, 2], [0, 0, 2]])
    assert reconstruction_auc(z, ei, 6, repeats=2)["reconstruction_auc"]["values"] == [1.0, 1.0]


def test_run_with_link_task_trains_on_training_edges_only():
    from gcl.methods import run

    record = run("grace", "synthetic", overrides={"epochs": 2, "task": "link",
                                                  "reconstruction_auc": True},
                 device="cpu", log=None)
    assert {"link_auc", "link_ap", "reconstruction_auc"} <= set(record["metrics"])
    assert "accuracy" not in record["metrics"]

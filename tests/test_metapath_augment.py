"""Meta-path augmentations (MEOW's masked view): never in place, seeded, the documented counts,
and the same draws as the masks MEOW's preprocessing made before they were augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcl.augment import Compose, DropEdge, MetaPathEdgeMask, MetaPathFeatureMask
from gcl.data import synthetic, synthetic_metapath_graph
from gcl.data.metapath_ops import mask_feature_entries, mask_metapath_edges
from gcl.modules.metapath import pathsim_graph

#: name -> factory(rate, seed); the registry test in test_properties.py checks it is complete
METAPATH_AUGMENTATIONS = {
    "MetaPathEdgeMask": lambda rate, seed: MetaPathEdgeMask(rate, seed=seed),
    "MetaPathFeatureMask": lambda rate, seed: MetaPathFeatureMask(rate, seed=seed),
}


def _graph():
    return pathsim_graph(synthetic_metapath_graph(num_nodes=40, seed=1), 6)


def _snapshot(g):
    return ([a.copy() for a in g.adjs], {t: x.clone() for t, x in g.x_dict.items()})


@pytest.mark.parametrize("name", sorted(METAPATH_AUGMENTATIONS))
@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("seed", [None, 0, 7])
def test_never_in_place_and_seeded(name, rate, seed):
    g = _graph()
    adjs, xs = _snapshot(g)
    torch.manual_seed(0)
    out = METAPATH_AUGMENTATIONS[name](rate, seed)(g)
    assert all((a != b).nnz == 0 for a, b in zip(g.adjs, adjs))
    assert all(torch.equal(g.x_dict[t], x) for t, x in xs.items())
    assert out.num_nodes == g.num_nodes and out.metapaths == g.metapaths
    torch.manual_seed(0)
    again = METAPATH_AUGMENTATIONS[name](rate, seed)(g)
    assert all((a != b).nnz == 0 for a, b in zip(out.adjs, again.adjs))
    assert torch.equal(out.x, again.x)


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 1.0])
def test_counts_follow_the_rate(rate):
    g = _graph()
    edges = MetaPathEdgeMask(rate, seed=0)(g)
    for clean, masked in zip(g.adjs, edges.adjs):
        off = clean.nnz - int((clean.diagonal() != 0).sum())
        kept = off - int(rate * off)
        assert masked.nnz == kept + g.num_nodes  # the survivors, binary, plus the identity
        assert set(np.unique(masked.data)) <= {1.0, 2.0}
    feats = MetaPathFeatureMask(rate, seed=0)(g)
    nnz = int((g.x != 0).sum())
    assert int((feats.x != 0).sum()) == nnz - int(rate * nnz)
    assert torch.equal(feats.x[feats.x != 0], g.x[feats.x != 0])


def test_same_draws_as_the_functional_masks_in_metapath_order():
    g = _graph()
    out = Compose([MetaPathEdgeMask([0.3, 0.5], seed=4), MetaPathFeatureMask(0.2, seed=4)])(g)
    rng = np.random.default_rng(4)
    for a, rate, got in zip(g.adjs, [0.3, 0.5], out.adjs):
        want = mask_metapath_edges(a, rate, rng, normalize=False)
        assert (got != want).nnz == 0
    want_x = mask_feature_entries(g.x, 0.2, torch.Generator().manual_seed(4))
    assert torch.equal(out.x, want_x)


def test_wrong_inputs_are_named():
    with pytest.raises(ValueError, match="expects a gcl.data.MetaPathGraph, got Data"):
        MetaPathEdgeMask(0.2)(synthetic(num_nodes=30))
    with pytest.raises(ValueError, match="one value per meta-path"):
        MetaPathEdgeMask([0.2, 0.3, 0.4])(_graph())
    with pytest.raises(ValueError, match="rate"):
        MetaPathFeatureMask(1.5)
    with pytest.raises(ValueError, match="expects a torch_geometric.data.Data"):
        DropEdge(0.2)(_graph())

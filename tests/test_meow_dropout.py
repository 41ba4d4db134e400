"""MEOW's context dropout: the clean and the masked view of a meta-path draw their own dropout
mask on the context term (the reference's ACM, IMDB and AMiner code evaluates
``dropout(agg(context))`` once per view) or share one (its DBLP code), as configured."""

from __future__ import annotations

import pytest
import torch

from gcl.encoders.meow import MEOWEncoder
from gcl.modules.metapath import prepare_inputs
from tests.test_meow import tiny_graph


def _gcn_inputs(shared: bool, train: bool = True):
    """The input of the shared GCN for each view, keyed by (meta-path, "clean" | "masked").

    The target features and projection biases are zero, so a view's GCN input is
    ``ELU(context term)`` alone: the context dropout is what tells the two views apart."""
    g = tiny_graph()
    g.x_dict["p"] = torch.zeros_like(g.x_dict["p"])
    inp = prepare_inputs(g, nei_max=[3, 4], adj_mask=[0.3, 0.5], feat_mask=0.0, seed=0)
    torch.manual_seed(0)
    enc = MEOWEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, "p", [["a"], ["s"]],
                      hidden=16, dropout=0.5, shared_context_dropout=shared, checkpoint=False)
    with torch.no_grad():
        enc.proj["p"].bias.zero_()
    enc.train(train)
    views = {id(a): (p, "clean") for p, a in enumerate(inp["adjs"])}
    views.update({id(a): (p, "masked") for p, a in enumerate(inp["adjs_masked"])})
    seen = {}

    def record(module, args):
        x, adj = args
        if id(adj) in views:
            seen[views[id(adj)]] = x.detach().clone()

    enc.gcn.register_forward_pre_hook(record)
    torch.manual_seed(1)
    enc(inp)
    return seen, enc


@pytest.mark.parametrize("shared", [False, True])
def test_context_dropout_masks_differ_or_are_shared_as_configured(shared):
    seen, enc = _gcn_inputs(shared)
    assert len(seen) == 4
    for p in range(2):
        clean, masked = seen[(p, "clean")], seen[(p, "masked")]
        assert (clean != 0).any() and (clean == 0).any()  # dropout at 0.5 kept some, dropped some
        if shared:
            torch.testing.assert_close(clean, masked, rtol=0, atol=0)
        else:
            assert not torch.equal(clean != 0, masked != 0)  # masks of their own
            both = (clean != 0) & (masked != 0)
            assert both.any()  # where both masks keep an entry, it is the same term, rescaled
            torch.testing.assert_close(clean[both], masked[both])
    # in eval mode there is no dropout: both views read the same term either way
    seen, _ = _gcn_inputs(shared, train=False)
    for p in range(2):
        torch.testing.assert_close(seen[(p, "clean")], seen[(p, "masked")], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_configs_follow_the_reference_per_dataset(method):
    from gcl.methods import get_method, load_config

    for dataset, shared in (("acm", False), ("imdb", False), ("aminer", False), ("dblp", True)):
        assert load_config(method, dataset)["shared_context_dropout"] is shared, dataset
    base = {**load_config(method, "acm"), "nei_max": [3, 2], "num_clusters": [2, 3],
            "hidden": 8, "proj_dim": 8, "device": "cpu", "seed": 0}
    for shared in (False, True):
        enc = get_method(method).build({**base, "shared_context_dropout": shared},
                                       tiny_graph()).encoder
        assert enc.shared_context_dropout is shared

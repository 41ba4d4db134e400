"""metapath2vec inputs (MEOW's AMiner features): seeding, what they learn, caching, errors, and a
MEOW/AdaMEOW run on them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from gcl.data.hetero import MetaPathGraph, scipy_to_torch
from gcl.data.metapath2vec import metapath2vec_embeddings, metapath2vec_features

SMALL = {"dim": 8, "walks_per_node": 4, "walk_length": 12, "context_size": 3, "epochs": 3}


def two_groups():
    """20 papers: 0-9 written by authors 0-1, 10-19 by authors 2-3; references split the same
    way (0-9 cite 0-2, 10-19 cite 3-5)."""
    rng = np.random.default_rng(0)
    pa = np.zeros((20, 4))
    pr = np.zeros((20, 6))
    for i in range(20):
        g = i // 10
        pa[i, 2 * g + rng.integers(2)] = 1
        pa[i, 2 * g + rng.integers(2)] = 1
        pr[i, 3 * g + rng.integers(3)] = 1
    pa, pr = sp.csr_matrix(pa), sp.csr_matrix(pr)
    return MetaPathGraph("groups", "p", {"p": torch.eye(20), "a": torch.eye(4), "r": torch.eye(6)},
                         ["pap", "prp"], [scipy_to_torch(pa @ pa.T), scipy_to_torch(pr @ pr.T)],
                         [[("a", scipy_to_torch(pa))], [("r", scipy_to_torch(pr))]],
                         torch.arange(20) // 10)


def test_embeddings_are_seeded_and_leave_the_global_rng_alone():
    inc = two_groups().contexts[0][0][1]
    state = torch.random.get_rng_state()
    p1, a1 = metapath2vec_embeddings(inc, seed=1, **SMALL)
    assert torch.equal(torch.random.get_rng_state(), state)
    p2, a2 = metapath2vec_embeddings(inc, seed=1, **SMALL)
    p3, _ = metapath2vec_embeddings(inc, seed=2, **SMALL)
    assert torch.equal(p1, p2) and torch.equal(a1, a2)
    assert not torch.equal(p1, p3)
    assert p1.shape == (20, 8) and a1.shape == (4, 8)


def test_embeddings_separate_what_the_walks_separate():
    g = two_groups()
    p, a = metapath2vec_embeddings(g.contexts[0][0][1], seed=0,
                                   **{**SMALL, "walks_per_batch": 8, "epochs": 20})
    sim = F.normalize(p, dim=1) @ F.normalize(p, dim=1).T
    same = g.y.unsqueeze(0) == g.y.unsqueeze(1)
    off = ~torch.eye(20, dtype=torch.bool)
    within, across = float(sim[same & off].mean()), float(sim[~same].mean())
    assert within > across + 0.6, (within, across)
    sa = F.normalize(a, dim=1) @ F.normalize(p, dim=1).T  # authors sit with their own papers
    assert float(sa[:2, :10].mean()) > float(sa[:2, 10:].mean()) + 0.6


def test_features_replace_inputs_and_are_cached(tmp_path, monkeypatch):
    import gcl.data.metapath2vec as m2v

    g = two_groups()
    out = metapath2vec_features(g, cache=tmp_path, **SMALL)
    assert [tuple(x.shape) for x in out.x_paths] == [(20, 8), (20, 8)]
    assert tuple(out.x_dict["a"].shape) == (4, 8) and tuple(out.x_dict["r"].shape) == (6, 8)
    assert torch.equal(out.x_dict["p"], g.x_dict["p"])  # the target's own features stay
    assert out.info["inputs"] == "metapath2vec" and out.info["metapath2vec"]["dim"] == 8
    assert g.x_paths is None and g.x_dict["a"].shape == (4, 4)  # the input graph is untouched
    assert len(list(tmp_path.glob("groups-*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(m2v, "metapath2vec_embeddings", fail)
    again = metapath2vec_features(g, cache=tmp_path, **SMALL)
    for x, y in zip(out.x_paths, again.x_paths):
        assert torch.equal(x, y)
    with pytest.raises(AssertionError, match="recomputed"):  # other parameters: another key
        metapath2vec_features(g, cache=tmp_path, **{**SMALL, "seed": 7})


def test_errors_name_the_problem():
    g = two_groups()
    with pytest.raises(ValueError, match="unknown parameters \\['walks'\\]"):
        metapath2vec_features(g, cache=False, walks=3)
    multi = MetaPathGraph("m", "p", g.x_dict, ["pap"], g.adjs[:1],
                          [[("a", g.contexts[0][0][1]), ("r", g.contexts[1][0][1])]])
    with pytest.raises(ValueError, match="2 context types"):
        metapath2vec_features(multi, cache=False)
    inc = g.contexts[0][0][1]
    with pytest.raises(ValueError, match="walks_per_node must be a positive integer"):
        metapath2vec_embeddings(inc, walks_per_node=0)
    with pytest.raises(ValueError, match="context_size"):
        metapath2vec_embeddings(inc, walk_length=3, context_size=7)
    with pytest.raises(ValueError, match="no entries"):
        metapath2vec_embeddings(torch.zeros(3, 2).to_sparse())


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_meow_trains_on_metapath2vec_inputs(method, tmp_path, monkeypatch):
    from gcl.methods import get_method, load_config
    from gcl.methods.meow import meow_callbacks

    monkeypatch.setenv("GCL_CACHE", str(tmp_path))
    assert load_config(method, "aminer")["features"] == "metapath2vec"
    g = two_groups()
    cfg = load_config(method, "acm", overrides={
        "nei_max": 4, "adj_mask": 0.2, "hidden": 8, "proj_dim": 8, "epochs": 3,
        "features": "metapath2vec", **{f"m2v_{k}": v for k, v in SMALL.items()}})
    if method == "meow":
        cfg.update(num_clusters=[2, 3], kmeans_nredo=1)
    cfg = {**cfg, "device": "cpu", "seed": 0}
    m = get_method(method)
    model = m.build(cfg, g)
    assert model.encoder.path_proj is not None and "p" not in model.encoder.proj
    assert model.inputs_for(g)["info"]["metapath2vec"]["walks_per_node"] == 4
    history = model.fit(g, epochs=cfg["epochs"], callbacks=meow_callbacks(cfg, g))
    assert len(history.epochs) == 3 and all(np.isfinite(e["loss"]) for e in history.epochs)
    assert model.embed(g).shape == (20, 8)
    assert len(list((tmp_path / "hetero" / "metapath2vec").glob("groups-*.npz"))) == 1
    # the derivation's cost goes into the run's meta, and comes back from the cache
    seconds = history.meta["metapath2vec_s"]
    assert set(seconds) == set(g.metapaths) and all(v > 0 for v in seconds.values())
    assert m.build(cfg, g).inputs_for(g)["info"]["metapath2vec_s"] == seconds

"""GCN, GAT, GraphSAGE and GIN encoders from PyG layers: equal to the PyG layers they wrap,
layer-wise inference equal to the full pass, and Pipeline.embed in blocks after mini-batch
training."""

import pytest
import torch
from torch_geometric.nn import GATConv, GCNConv

from gcl import Pipeline
from gcl.augment import DropEdge
from gcl.data import NeighborSampler, synthetic
from gcl.encoders import MLP, GATEncoder, GCNEncoder, GINEncoder, GNNEncoder, SAGEEncoder
from gcl.objectives import InfoNCE


def _graph():
    return synthetic(num_nodes=50, num_features=7, num_classes=3, seed=0)


@pytest.mark.parametrize("make", [
    lambda: GNNEncoder(7, 8, conv="gcn"),
    lambda: GNNEncoder(7, 8, 4, conv="gcn", batch_norm=True, activation="prelu",
                       activate_last=True),
    lambda: GATEncoder(7, 8, heads=2),
    lambda: SAGEEncoder(7, 8, num_layers=3),
    lambda: GINEncoder(7, 8, batch_norm=True),
    lambda: GCNEncoder(7, 8),
])
def test_inference_equals_forward(make):
    torch.manual_seed(0)
    data = _graph()
    enc = make()
    if getattr(enc, "norms", None) is not None:  # give the batch norms non-trivial statistics
        enc.train()
        enc(data.x, data.edge_index)
    enc.eval()
    full = enc(data.x, data.edge_index)
    for bs in (7, 50):
        assert torch.allclose(enc.inference(data.x, data.edge_index, batch_size=bs), full,
                              atol=1e-5)


def test_unnormalised_gcn_uses_the_given_weights():
    data = _graph()
    w = torch.rand(data.edge_index.size(1))
    enc = GNNEncoder(7, 5, conv="gcn", num_layers=1, normalize=False).eval()
    h = enc.convs[0].lin(data.x)
    expected = torch.zeros(50, 5).index_add_(0, data.edge_index[1],
                                             h[data.edge_index[0]] * w[:, None])
    assert torch.allclose(enc(data.x, data.edge_index, w), expected + enc.convs[0].bias,
                          atol=1e-5)
    assert torch.allclose(enc.inference(data.x, data.edge_index, w, batch_size=9),
                          enc(data.x, data.edge_index, w), atol=1e-5)


def test_gcn_and_gat_equal_their_pyg_layers():
    torch.manual_seed(1)
    data = _graph()
    enc = GNNEncoder(7, 6, conv="gcn", num_layers=1)
    ref = GCNConv(7, 6)
    ref.load_state_dict(enc.convs[0].state_dict())
    assert torch.allclose(enc(data.x, data.edge_index), ref(data.x, data.edge_index), atol=1e-5)
    gat = GNNEncoder(7, 6, conv="gat", heads=3, num_layers=1)
    ref = GATConv(7, 2, heads=3)
    ref.load_state_dict(gat.convs[0].state_dict())
    assert torch.allclose(gat(data.x, data.edge_index), ref(data.x, data.edge_index), atol=1e-5)


def test_encoder_argument_errors():
    with pytest.raises(ValueError, match="multiple of heads"):
        GNNEncoder(7, 10, conv="gat", heads=3)
    with pytest.raises(ValueError, match="conv"):
        GNNEncoder(7, 8, conv="cheb")
    with pytest.raises(ValueError, match=r"\[N, 7\]"):
        GNNEncoder(7, 8)(torch.randn(3, 5), torch.zeros(2, 0, dtype=torch.long))


def test_pipeline_embeds_in_blocks_after_minibatch_training(monkeypatch):
    data = _graph()
    pipe = Pipeline(SAGEEncoder(7, 8), InfoNCE(0.5), augment=DropEdge(0.2), device="cpu",
                    progress=False, seed=0)
    pipe.fit(data, epochs=2, loader=NeighborSampler(data, [5, 5], batch_size=16, seed=0))
    calls = []
    original = pipe.encoder.inference
    monkeypatch.setattr(pipe.encoder, "inference",
                        lambda *a, **k: calls.append(k["batch_size"]) or original(*a, **k))
    monkeypatch.setattr("gcl.pipeline.EMBED_BATCH_SIZE", 13)
    blocks = pipe.embed(data)
    assert calls == [13]
    assert torch.allclose(blocks, pipe.embed(data, batch_size=0), atol=1e-5)
    pipe.fit(data, epochs=1)  # full-batch training: one pass again
    pipe.embed(data)
    assert calls == [13]
    mlp = Pipeline(MLP([7, 8]), InfoNCE(), device="cpu", progress=False)
    with pytest.warns(UserWarning, match="no inference"):
        assert mlp.embed(data, batch_size=4).shape == (50, 8)
    with pytest.raises(ValueError, match="batch_size"):
        pipe.embed(data, batch_size=-1)

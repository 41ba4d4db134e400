"""SDCN-layout reader, the sdcn-cite catalog entry and the chunked kNN graph builder."""

from __future__ import annotations

import pytest
import torch

from gcl.data.sdcn import knn_graph, read_sdcn


def _naive_similarity(x: torch.Tensor, similarity: str) -> torch.Tensor:
    """The dense N x N similarity of SDCN's calcu_graph.py, written out directly."""
    if similarity == "heat":
        diff = x[:, None, :] - x[None, :, :]
        return torch.exp(-0.5 * diff.pow(2).sum(-1))
    b = (x > 0).float()
    if similarity == "ncos":
        b = b / b.sum(1, keepdim=True).clamp_min(1)
    return b @ b.t()


@pytest.mark.parametrize("similarity", ["heat", "cos", "ncos"])
@pytest.mark.parametrize("chunk_size", [7, 1000])
def test_knn_graph_matches_dense_topk(similarity, chunk_size):
    gen = torch.Generator().manual_seed(0)
    if similarity == "heat":
        x = torch.randn(40, 5, generator=gen)
    else:
        x = (torch.rand(40, 30, generator=gen) < 0.3).float() * torch.rand(40, 30, generator=gen)
    k = 4
    edge_index = knn_graph(x, k, similarity, chunk_size=chunk_size)
    assert edge_index.shape == (2, 40 * k)
    assert torch.equal(edge_index[0], torch.arange(40).repeat_interleave(k))
    assert not (edge_index[0] == edge_index[1]).any()
    sim = _naive_similarity(x, similarity)
    off = sim.clone()
    off.fill_diagonal_(-float("inf"))
    # the chosen neighbours are a top-k set of the other nodes (ties may pick either)
    chosen = sim[edge_index[0], edge_index[1]].view(40, k).sort(1, descending=True).values
    best = off.topk(k, dim=1).values
    assert torch.allclose(chosen, best, atol=1e-6)


def test_knn_graph_rejects_bad_input():
    with pytest.raises(ValueError, match="similarity"):
        knn_graph(torch.randn(5, 2), 2, "euclid")
    with pytest.raises(ValueError, match="smaller than the number of nodes"):
        knn_graph(torch.randn(3, 2), 3)


def test_read_sdcn_layout(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "graph").mkdir()
    (tmp_path / "data" / "toy.txt").write_text("1 0 0\n0 1 0\n0 0 1\n1 1 0\n")
    (tmp_path / "data" / "toy_label.txt").write_text("0\n1\n2\n0\n")
    (tmp_path / "graph" / "toy_graph.txt").write_text("0 3\n3 0\n1 2\n2 1\n")
    (tmp_path / "graph" / "toy1_graph.txt").write_text("0 3\n1 2\n2 1\n3 0\n")
    data = read_sdcn(tmp_path, "toy")
    assert data.x.shape == (4, 3) and data.y.tolist() == [0, 1, 2, 0]
    assert data.edge_index.shape == (2, 4)
    assert read_sdcn(tmp_path, "toy", k=1).edge_index[1].tolist() == [3, 2, 1, 0]
    with pytest.raises(FileNotFoundError, match="toy5_graph"):
        read_sdcn(tmp_path, "toy", k=5)
    (tmp_path / "graph" / "toy_graph.txt").write_text("0 9\n")
    with pytest.raises(ValueError, match="out of range"):
        read_sdcn(tmp_path, "toy")


def test_load_sdcn_cite(require_dataset, data_root):
    require_dataset("sdcn-cite")
    require_dataset("citeseer")
    from gcl.data import load

    data = load("sdcn-cite", root=data_root)
    citeseer = load("citeseer", root=data_root)
    assert data.num_nodes == 3327 and data.num_features == 3703
    assert data.edge_index.size(1) == 9104
    assert int(data.y.min()) == 0 and int(data.y.max()) == 5
    assert torch.equal(data.x, citeseer.x) and torch.equal(data.y, citeseer.y)
    assert torch.equal(data.edge_index, citeseer.edge_index)

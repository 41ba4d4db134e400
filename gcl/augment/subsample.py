"""Node sub-sampling: a batch of induced subgraphs, drawn once and applied to several views.

MVGRL trains on ``num_graphs`` subgraphs of ``size`` nodes per step, the same node sets in its
adjacency view and in its diffusion view; :class:`NodeSubsample` draws the node sets
(:meth:`~NodeSubsample.sample`) and cuts any view to them (:meth:`~NodeSubsample.restrict`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from .._utils import check_positive
from .base import Augmentation, edge_attribute_keys

__all__ = ["NodeSubsample"]


class NodeSubsample(Augmentation):
    """Sub-sample ``num_graphs`` node sets of ``size`` nodes and return the disjoint union of
    the subgraphs they induce.

    Each node set is a run of consecutive node ids from a uniform start (``contiguous=True``,
    MVGRL's reference: ``adj[i:i + size, i:i + size]``) or ``size`` distinct nodes drawn
    uniformly. The union keeps every node attribute (``x``, ``y``, masks) of the drawn nodes,
    the edges between them with their attributes (a weighted propagation matrix stays as the
    whole graph's), and adds ``batch`` (the subgraph of each node) and ``n_id`` (its id in the
    input graph).

    Args:
        size: nodes per subgraph (all nodes when the graph is smaller).
        num_graphs: subgraphs per call (default: 1).
        contiguous: runs of consecutive ids (default: ``True``) or uniform node sets.
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> d = Data(x=torch.arange(6.).view(6, 1),
        ...          edge_index=torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]))
        >>> out = NodeSubsample(3, num_graphs=2, seed=0)(d)
        >>> out.num_nodes, out.batch.tolist()
        (6, [0, 0, 0, 1, 1, 1])
    """

    def __init__(self, size: int, num_graphs: int = 1, contiguous: bool = True,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.size = int(check_positive(size, "size", "NodeSubsample", integer=True))
        self.num_graphs = int(check_positive(num_graphs, "num_graphs", "NodeSubsample",
                                             integer=True))
        self.contiguous = bool(contiguous)

    def sample(self, num_nodes: int, device: torch.device | str = "cpu") -> Tensor:
        """Draw the node sets: ``[num_graphs, min(size, num_nodes)]`` node ids.

        Returns:
            Tensor: one row of node ids per subgraph.
        """
        size = min(self.size, num_nodes)
        gen = self.generator(device)
        if self.contiguous:
            start = torch.randint(0, num_nodes - size + 1, (self.num_graphs, 1), device=device,
                                  generator=gen)
            return start + torch.arange(size, device=device)
        return torch.stack([torch.randperm(num_nodes, device=device, generator=gen)[:size]
                            for _ in range(self.num_graphs)])

    @staticmethod
    def restrict(data: Data, nodes: Tensor) -> Data:
        """The disjoint union of the subgraphs of ``data`` induced by each row of ``nodes``.

        Args:
            data: the graph (a view).
            nodes: ``[G, S]`` node ids, distinct within a row.

        Returns:
            Data: ``G * S`` nodes with ``batch`` and ``n_id``.
        """
        n, (g, size) = data.num_nodes, nodes.shape
        src, dst = data.edge_index
        edge_keys = edge_attribute_keys(data)
        parts: dict[str, list[Tensor]] = {"edge_index": [], **{k: [] for k in edge_keys}}
        local = torch.full((n,), -1, dtype=torch.long, device=src.device)
        for k in range(g):
            local.fill_(-1)
            local[nodes[k]] = torch.arange(size, device=src.device)
            keep = (local[src] >= 0) & (local[dst] >= 0)
            parts["edge_index"].append(torch.stack([local[src[keep]], local[dst[keep]]])
                                       + k * size)
            for key in edge_keys:
                parts[key].append(data[key][keep])
        flat = nodes.reshape(-1)
        out = Data()
        for key, value in data.items():
            if key in parts:
                continue
            if isinstance(value, Tensor) and value.dim() > 0 and value.size(0) == n:
                out[key] = value[flat]
            elif key != "num_nodes":
                out[key] = value
        for key, chunks in parts.items():
            out[key] = torch.cat(chunks, dim=1 if key == "edge_index" else 0)
        out.batch = torch.arange(g, device=flat.device).repeat_interleave(size)
        out.n_id = flat
        out.num_nodes = g * size
        return out

    def forward(self, data: Data) -> Data:
        return self.restrict(data, self.sample(data.num_nodes, data.edge_index.device))

    def extra_repr(self) -> str:
        return f"size={self.size}, num_graphs={self.num_graphs}, contiguous={self.contiguous}"

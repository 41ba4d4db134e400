"""Neighbour sampling for mini-batch training on graphs too large for full-batch steps.

:class:`NeighborSampler` yields the same kind of mini-batches as PyG's ``NeighborLoader``: for
each batch of seed nodes, a subgraph holding the seeds first, then their sampled 1-hop
neighbours, 2-hop neighbours and so on, with ``n_id`` (global ids of the subgraph's nodes) and
``batch_size`` (the number of seeds). PyG's loader needs ``pyg-lib`` or ``torch-sparse``; this
one is written in plain torch (vectorised: one sort per hop, no Python loop over nodes), so it
runs wherever torch does. With ``backend="pyg"`` it wraps ``NeighborLoader`` instead.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from .._graphs import edge_attribute_keys
from .._utils import check_positive, excerpt

__all__ = ["NeighborSampler", "sample_neighbors"]


def _csr_by_target(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Edges grouped by target node: ``(rowptr, sources, edge_ids)``."""
    dst = edge_index[1]
    order = torch.argsort(dst, stable=True)
    counts = torch.bincount(dst, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
    torch.cumsum(counts, 0, out=rowptr[1:])
    return rowptr, edge_index[0, order], order


def sample_neighbors(rowptr: Tensor, sources: Tensor, nodes: Tensor, k: int,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Sample up to ``k`` incoming edges of each node in ``nodes``, without replacement.

    Args:
        rowptr, sources: the CSR of incoming edges (edges into node ``v`` are
            ``sources[rowptr[v]:rowptr[v + 1]]``).
        nodes: ``[M]`` target nodes.
        k: neighbours per node; ``-1`` keeps all of them.
        generator: random generator (default: torch's global one).

    Returns:
        (Tensor, Tensor): positions into ``sources`` of the sampled edges, and for each of them
        the index (into ``nodes``) of its target.

    Example:
        >>> rowptr = torch.tensor([0, 2, 3, 3])
        >>> sources = torch.tensor([1, 2, 0])
        >>> pos, owner = sample_neighbors(rowptr, sources, torch.tensor([0, 2]), k=-1)
        >>> pos.tolist(), owner.tolist()
        ([0, 1], [0, 0])
    """
    start = rowptr[nodes]
    deg = rowptr[nodes + 1] - start
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), deg)
    offset = torch.arange(owner.numel(), device=nodes.device) - torch.repeat_interleave(
        torch.cumsum(deg, 0) - deg, deg)
    pos = start[owner] + offset
    if k < 0 or owner.numel() == 0 or int(deg.max()) <= k:
        return pos, owner
    # A random order within each node's edges: sort by owner, then by a uniform key.
    keys = torch.rand(owner.numel(), device=nodes.device, generator=generator,
                      dtype=torch.float64) + owner.to(torch.float64)
    order = torch.argsort(keys)
    keep = offset < k  # offset is the rank after the shuffle, since `order` keeps owners grouped
    pos, owner = pos[order][keep], owner[order][keep]
    return pos, owner


class NeighborSampler:
    """Mini-batches of seed nodes with their sampled multi-hop neighbourhoods.

    Args:
        data: a PyG ``Data`` with ``x`` and ``edge_index`` (messages flow source → target).
        num_neighbors: neighbours sampled per node at each hop, e.g. ``[10, 10]``; ``-1`` keeps
            all neighbours at that hop.
        batch_size: seed nodes per batch.
        input_nodes: the nodes to draw seeds from (indices or a boolean mask; default: all).
        shuffle: draw the seeds in a random order each epoch (default: ``True``).
        seed: seed of the sampler's own random generator (default: ``None``, torch's global RNG).
        backend: ``"torch"`` (this implementation), ``"pyg"`` (``torch_geometric.loader.
            NeighborLoader``, which needs ``pyg-lib`` or ``torch-sparse``) or ``"auto"`` (PyG's
            when it can run, else this one). Default: ``"torch"``.
        rank, world_size: distributed training (the equivalent of ``DistributedSampler``): each
            epoch the seeds are shuffled with a generator seeded by ``(seed, epoch)``
            (``seed=None`` counts as 0), the same on every rank, cut into global batches of
            ``world_size * batch_size`` seeds, and rank ``r`` takes the ``r``-th of ``world_size``
            near-equal parts of each: the ranks' seeds are disjoint and cover ``input_nodes``
            every epoch, and every rank has the same number of batches. Neighbours are sampled
            with a generator of ``(seed, epoch, rank)``; :meth:`set_epoch` (called by the training
            loop) picks the epoch. Default: ``None``, the initialised ``torch.distributed``
            process group's rank and size when there is one, else a single process.

    Each batch is a ``Data`` with the subgraph's ``x`` (and ``y`` and other node attributes),
    ``edge_index`` in local ids, ``n_id`` (global ids, seeds first) and ``batch_size``.
    Sampling runs on the CPU (the edges are indexed there once); a graph kept on a GPU gives
    batches whose tensors are on the GPU, gathered there.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=100, num_features=4, num_classes=2, seed=0)
        >>> loader = NeighborSampler(data, [5, 5], batch_size=32, seed=0)
        >>> batch = next(iter(loader))
        >>> batch.batch_size, bool((batch.n_id[:32] < 100).all()), len(loader)
        (32, True, 4)
    """

    def __init__(self, data, num_neighbors: Sequence[int], batch_size: int, *,
                 input_nodes: Tensor | None = None, shuffle: bool = True, seed: int | None = None,
                 backend: str = "torch", rank: int | None = None,
                 world_size: int | None = None) -> None:
        if not hasattr(data, "edge_index") or data.edge_index is None:
            raise ValueError("NeighborSampler needs a graph with edge_index")
        try:
            counts = None if isinstance(num_neighbors, str) else list(num_neighbors)
        except TypeError:
            counts = None
        if not counts or any(isinstance(k, bool) or not isinstance(k, numbers.Integral)
                             or k == 0 or k < -1 for k in counts):
            raise ValueError(f"num_neighbors must be a non-empty list of positive integer counts "
                             f"(or -1 for all neighbours), got {excerpt(num_neighbors)}; a "
                             "fractional fan-out is not rounded for you")
        self.num_neighbors = [int(k) for k in counts]
        self.batch_size = int(check_positive(batch_size, "batch_size", "NeighborSampler",
                                             integer=True))
        if backend not in ("torch", "pyg", "auto"):
            raise ValueError(f"backend must be 'torch', 'pyg' or 'auto', got {backend!r}")
        self.data = data
        n = int(data.num_nodes)
        if input_nodes is None:
            input_nodes = torch.arange(n)
        elif not isinstance(input_nodes, Tensor) or input_nodes.is_floating_point() \
                or input_nodes.is_complex():
            kind = input_nodes.dtype if isinstance(input_nodes, Tensor) else \
                type(input_nodes).__name__
            raise ValueError(f"input_nodes must be a boolean mask or a tensor of integer node "
                             f"ids, got {kind}; convert ids with .long() yourself if they are "
                             "whole numbers")
        input_nodes = input_nodes.cpu()  # seeds are drawn and indexed on the CPU
        if input_nodes.dtype == torch.bool:
            if input_nodes.numel() != n:
                raise ValueError(f"input_nodes mask has {input_nodes.numel()} entries for {n} nodes")
            input_nodes = input_nodes.nonzero().view(-1)
        input_nodes = input_nodes.long().view(-1)
        if input_nodes.numel() == 0:
            raise ValueError("input_nodes is empty: there are no seed nodes to sample")
        if int(input_nodes.min()) < 0 or int(input_nodes.max()) >= n:
            raise ValueError(f"input_nodes must be node ids in [0, {n})")
        self.input_nodes = input_nodes
        self.shuffle = bool(shuffle)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.backend = self._resolve_backend(backend)
        self.rank, self.world_size = _ranks(rank, world_size)
        self.seed = seed
        self.epoch = 0
        if self.world_size > 1:
            if self.backend != "torch":
                raise ValueError("distributed mini-batches need backend='torch' (the built-in "
                                 "sampler splits the seeds over the ranks)")
            if input_nodes.numel() < self.world_size:
                raise ValueError(f"input_nodes has {input_nodes.numel()} seed nodes for "
                                 f"{self.world_size} ranks: every rank needs at least one")
        if self.backend == "torch":
            self.rowptr, self.sources, self.edge_ids = _csr_by_target(data.edge_index.cpu(), n)

    @staticmethod
    def _resolve_backend(backend: str) -> str:
        if backend == "torch":
            return backend
        try:
            import torch_geometric.typing as pyg_typing

            ok = bool(getattr(pyg_typing, "WITH_PYG_LIB", False)
                      or getattr(pyg_typing, "WITH_TORCH_SPARSE", False))
        except ImportError:  # pragma: no cover
            ok = False
        if ok:
            return "pyg"
        if backend == "pyg":
            raise ValueError("backend='pyg' needs pyg-lib or torch-sparse installed; use "
                             "backend='torch' (the built-in sampler) instead")
        return "torch"

    def __len__(self) -> int:
        if self.world_size > 1:
            return len(self._global_batches(self.input_nodes))
        return (self.input_nodes.numel() + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle and the neighbour samples of ``epoch`` (distributed training; the
        training loop calls it before every epoch)."""
        self.epoch = int(epoch)

    def _global_batches(self, seeds: Tensor) -> list[Tensor]:
        """Cut ``seeds`` into global batches of ``world_size * batch_size``; a last batch with
        fewer seeds than ranks joins the one before."""
        size = self.batch_size * self.world_size
        batches = list(torch.split(seeds, size))
        if len(batches) > 1 and batches[-1].numel() < self.world_size:
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def _rank_batches(self) -> Iterator:
        from ..distributed.world import rank_seed

        base = 0 if self.seed is None else int(self.seed)
        seeds = self.input_nodes
        if self.shuffle:
            order = torch.Generator().manual_seed(rank_seed(base, self.epoch))
            seeds = seeds[torch.randperm(seeds.numel(), generator=order)]
        gen = torch.Generator().manual_seed(rank_seed(base, self.epoch, self.rank))
        for batch in self._global_batches(seeds):
            yield self.sample(torch.tensor_split(batch, self.world_size)[self.rank], gen)

    def __iter__(self) -> Iterator:
        if self.backend == "pyg":  # pragma: no cover - needs pyg-lib / torch-sparse
            from torch_geometric.loader import NeighborLoader

            yield from NeighborLoader(self.data, num_neighbors=self.num_neighbors,
                                      batch_size=self.batch_size, input_nodes=self.input_nodes,
                                      shuffle=self.shuffle)
            return
        if self.world_size > 1:
            yield from self._rank_batches()
            return
        seeds = self.input_nodes
        if self.shuffle:
            seeds = seeds[torch.randperm(seeds.numel(), generator=self.generator)]
        for start in range(0, seeds.numel(), self.batch_size):
            yield self.sample(seeds[start:start + self.batch_size])

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None):
        """The sampled subgraph around ``seeds`` (global ids; the seeds come first), drawn with
        ``generator`` (default: the sampler's own)."""
        from torch_geometric.data import Data

        seeds = seeds.cpu()
        n = int(self.data.num_nodes)
        local = torch.full((n,), -1, dtype=torch.long)
        local[seeds] = torch.arange(seeds.numel())
        if int((local[seeds] != torch.arange(seeds.numel())).sum()) != 0:
            raise ValueError("seed nodes must be distinct")
        n_ids, edge_src, edge_dst, edge_ids = [seeds], [], [], []
        frontier, count = seeds, seeds.numel()
        for k in self.num_neighbors:
            pos, owner = sample_neighbors(self.rowptr, self.sources, frontier, k,
                                          generator if generator is not None else self.generator)
            src = self.sources[pos]
            new = torch.unique(src[local[src] < 0])
            local[new] = torch.arange(count, count + new.numel())
            count += new.numel()
            n_ids.append(new)
            edge_src.append(local[src])
            edge_dst.append(local[frontier[owner]])
            edge_ids.append(self.edge_ids[pos])
            frontier = new
            if frontier.numel() == 0:
                break
        # the subgraph's tensors go where the graph's are; its attributes are gathered there
        device = self.data.edge_index.device
        n_id = torch.cat(n_ids).to(device)
        e_id = torch.cat(edge_ids).to(device)
        batch = Data(edge_index=torch.stack([torch.cat(edge_src), torch.cat(edge_dst)]).to(device),
                     num_nodes=n_id.numel())
        edge_keys = set(edge_attribute_keys(self.data))
        for key, value in self.data.items():
            if key == "edge_index" or not isinstance(value, Tensor) or value.dim() == 0:
                continue
            if key in edge_keys:
                batch[key] = value[e_id.to(value.device)]
            elif value.size(0) == n:
                batch[key] = value[n_id.to(value.device)]
        batch.n_id, batch.e_id, batch.batch_size = n_id, e_id, int(seeds.numel())
        return batch


def _ranks(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: the given ones (checked), else the initialised process group's."""
    if rank is None and world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise ValueError("NeighborSampler: pass both rank= and world_size= (or neither, to "
                         "use the initialised torch.distributed process group)")
    world_size = int(check_positive(world_size, "world_size", "NeighborSampler", integer=True))
    if not 0 <= int(rank) < world_size:
        raise ValueError(f"NeighborSampler: rank must lie in [0, {world_size}), got {rank}")
    return int(rank), world_size

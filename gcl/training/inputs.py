"""Checks of what :class:`gcl.training.Trainer` is given, made once before training starts:
the module's precision on the CPU, the loader's graph, and each mini-batch the loader yields."""

from __future__ import annotations

import torch

__all__ = ["check_cpu_precision", "check_loader_graph", "check_batch"]

_HALF = (torch.float16, torch.bfloat16)


def check_cpu_precision(module) -> None:
    """Refuse half-precision parameters on the CPU, where PyTorch's sparse products (every GCN
    propagation) have no float16/bfloat16 kernels and training would stop at the first step.

    Args:
        module: a :class:`~gcl.training.TrainingModule` already moved to its device.

    Raises:
        ValueError: naming the dtype and the two ways out.

    Example:
        >>> from torch import nn
        >>> m = nn.Linear(2, 2).half()
        >>> m.device = torch.device("cpu")
        >>> try:
        ...     check_cpu_precision(m)
        ... except ValueError as err:
        ...     print(str(err)[:48])
        the module's parameters are torch.float16 on the
    """
    if getattr(module, "device", torch.device("cpu")).type != "cpu":
        return
    dtypes = {p.dtype for p in module.parameters()} & set(_HALF)
    if dtypes:
        dtype = sorted(dtypes, key=str)[0]
        raise ValueError(
            f"the module's parameters are {dtype} on the CPU, where PyTorch's sparse products "
            "(the GCN propagation) have no half-precision kernels: train in float32 on the CPU "
            "(module.float() and data.x.float()), or in half precision on a GPU")


def _graph_size(graph) -> str:
    edges = getattr(graph, "edge_index", None)
    e = int(edges.size(1)) if isinstance(edges, torch.Tensor) else "?"
    return f"{getattr(graph, 'num_nodes', '?')} nodes, {e} edges"


def check_loader_graph(loader, data) -> None:
    """Refuse a loader that samples another graph than the one given to ``fit``.

    A loader that names its graph (``loader.data``, as :class:`gcl.data.NeighborSampler` does)
    must sample ``data`` itself or a graph with the same nodes and edges; otherwise training would
    run on one graph while set-up (communities, normalisation) and evaluation use another.

    Args:
        loader: the ``loader`` given to ``fit`` (``None``: full-batch training).
        data: the graph given to ``fit``.

    Raises:
        ValueError: naming both graphs' sizes.

    Example:
        >>> from gcl.data import NeighborSampler, synthetic
        >>> a = synthetic(num_nodes=20, num_classes=2, num_features=4, seed=0)
        >>> b = synthetic(num_nodes=30, num_classes=2, num_features=4, seed=0)
        >>> check_loader_graph(NeighborSampler(a, [3], batch_size=8), a)
        >>> try:
        ...     check_loader_graph(NeighborSampler(b, [3], batch_size=8), a)
        ... except ValueError as err:
        ...     print(str(err)[:42])
        the loader samples another graph (30 nodes
    """
    sampled = getattr(loader, "data", None)
    if sampled is None or sampled is data:
        return
    same = getattr(sampled, "num_nodes", None) == getattr(data, "num_nodes", None)
    a, b = getattr(sampled, "edge_index", None), getattr(data, "edge_index", None)
    if same and isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    if not same:
        raise ValueError(
            f"the loader samples another graph ({_graph_size(sampled)}) than the one given to "
            f"fit ({_graph_size(data)}): build the loader over the graph you train on, e.g. "
            "NeighborSampler(data, [10, 10], batch_size=1024)")


def check_batch(batch) -> None:
    """Refuse a mini-batch that is not a graph (a loader of numbers, say).

    Args:
        batch: one item the loader yielded.

    Raises:
        ValueError: naming what was yielded.

    Example:
        >>> try:
        ...     check_batch(3)
        ... except ValueError as err:
        ...     print(str(err)[:36])
        the loader yielded a int, not a grap
    """
    if not (hasattr(batch, "to") and hasattr(batch, "num_nodes")):
        raise ValueError(
            f"the loader yielded a {type(batch).__name__}, not a graph: a loader gives sampled "
            "subgraphs (PyG Data), e.g. gcl.data.NeighborSampler(data, [10, 10], batch_size=1024)")

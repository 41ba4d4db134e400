"""Checks of the graphs given to gcl, and which of their attributes belong to nodes or edges.

:func:`validate_graph` is the one check every entry point runs on a PyG ``Data`` before training
or evaluating on it; :func:`edge_attribute_keys` decides, with PyG's ``is_edge_attr`` rule, which
attributes must be filtered together with the edges.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["validate_graph", "edge_attribute_keys"]


def edge_attribute_keys(data: Any) -> list[str]:
    """Names of the per-edge attributes of ``data`` besides ``edge_index`` (``edge_weight``,
    ``edge_attr``, ...): the tensors that must be filtered together with the edges.

    PyG's rule (``Data.is_edge_attr``): a tensor whose size along its concatenation dimension
    is the number of edges ``E`` is an edge attribute, unless ``E`` equals the number of nodes
    and its name does not contain ``"edge"`` (then it is a node attribute).

    Args:
        data: a PyG ``Data``.

    Returns:
        list[str]: the keys whose tensors have one entry per edge.

    Example:
        >>> from torch_geometric.data import Data
        >>> d = Data(edge_index=torch.tensor([[0], [1]]), edge_weight=torch.ones(1),
        ...          w=torch.ones(1), num_nodes=2)
        >>> edge_attribute_keys(d)
        ['edge_weight', 'w']
    """
    edge_index = getattr(data, "edge_index", None)
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2:
        return []
    num_edges, num_nodes = edge_index.size(1), data.num_nodes
    keys = []
    for key, value in data.items():
        if key == "edge_index" or not isinstance(value, Tensor) or value.dim() == 0:
            continue
        dim = data.__cat_dim__(key, value)
        if not isinstance(dim, int) or value.size(dim) != num_edges:
            continue
        if num_edges != num_nodes or "edge" in key:
            keys.append(key)
    return keys


def validate_graph(data: Any, *, name: str = "data", require_x: bool = True,
                   require_y: bool = False) -> None:
    """Check a PyG ``Data`` object before training on it.

    Checks that ``edge_index`` is an integer tensor of shape ``[2, E]`` with every index in
    ``[0, num_nodes)``; that ``x`` (when present or required) is a dense 2-D floating tensor with
    one row per node and only finite values; that ``edge_weight`` (when present) has one finite
    value per edge; that ``y`` and the split masks (``train_mask``, ``val_mask``, ``test_mask``,
    when present) have one entry per node; and that the graph has at least one node. Isolated
    nodes, self-loops and duplicate edges are allowed: the encoders handle them.

    Args:
        data: the graph.
        name: how to call the graph in error messages (default: ``"data"``).
        require_x: fail when ``data.x`` is missing (default: ``True``).
        require_y: fail when ``data.y`` is missing (default: ``False``).

    Raises:
        ValueError: naming the first problem found and how to fix it.

    Example:
        >>> from torch_geometric.data import Data
        >>> validate_graph(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]])))
    """
    if not hasattr(data, "edge_index") or not hasattr(data, "num_nodes"):
        raise ValueError(
            f"{name} must be a torch_geometric.data.Data graph (with x and edge_index), got "
            f"{type(data).__name__}"
        )
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise ValueError(f"{name}.edge_index is missing: give the graph a [2, E] edge_index tensor")
    if not isinstance(edge_index, Tensor):
        raise ValueError(f"{name}.edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"{name}.edge_index must have shape [2, E], got {list(edge_index.shape)}; "
            "if you have a list of (source, target) pairs, pass edge_index.t().contiguous()"
        )
    if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
        raise ValueError(
            f"{name}.edge_index must hold integer node indices, got dtype {edge_index.dtype}; "
            "convert it with edge_index.long()"
        )
    x = getattr(data, "x", None)
    num_nodes = data.num_nodes if hasattr(data, "num_nodes") else None
    if num_nodes is None or num_nodes == 0:
        raise ValueError(f"{name} has no nodes: an empty graph cannot be trained on or evaluated")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            bad = lo if lo < 0 else hi
            source = f" (the number of rows of {name}.x)" if x is not None else ""
            raise ValueError(
                f"{name}.edge_index holds node index {bad}, outside [0, {num_nodes - 1}] for a graph "
                f"with {num_nodes} nodes{source}; fix the edge list, or give every node a row"
            )
    if x is None:
        if require_x:
            raise ValueError(f"{name}.x is missing: give every node a feature row ([N, F] tensor)")
    else:
        if isinstance(x, Tensor) and x.layout != torch.strided:
            raise ValueError(f"{name}.x is a sparse tensor ({x.layout}); pass x.to_dense()")
        if not isinstance(x, Tensor) or x.dim() != 2:
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}.x must be a 2-D [num_nodes, num_features] tensor, got {shape}")
        if x.size(0) != num_nodes:
            raise ValueError(
                f"{name}.x has {x.size(0)} rows but the graph has {num_nodes} nodes; "
                "x needs one row per node"
            )
        if not x.is_floating_point():
            raise ValueError(f"{name}.x must be a floating tensor, got {x.dtype}; use x.float()")
        if x.requires_grad:
            raise ValueError(
                f"{name}.x requires grad: training would accumulate gradients into {name}.x.grad "
                f"and keep every step's graph alive; pass a graph whose x is detached "
                f"({name}.x = {name}.x.detach())"
            )
        if x.numel() > 0 and not bool(torch.isfinite(x).all()):
            bad_rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten()
            raise ValueError(
                f"{name}.x holds NaN or infinite values in {bad_rows.numel()} row(s) "
                f"(first: node {int(bad_rows[0])}); impute or drop them before training"
            )
    edge_weight = getattr(data, "edge_weight", None)
    if edge_weight is not None:
        if not isinstance(edge_weight, Tensor) or edge_weight.dim() != 1 \
                or edge_weight.numel() != edge_index.size(1):
            shape = list(edge_weight.shape) if isinstance(edge_weight, Tensor) else \
                type(edge_weight).__name__
            raise ValueError(
                f"{name}.edge_weight must be a [E] tensor with one weight per edge "
                f"(E = {edge_index.size(1)}), got {shape}; filter it together with edge_index"
            )
        if not edge_weight.is_floating_point():
            raise ValueError(f"{name}.edge_weight must be a floating tensor, got "
                             f"{edge_weight.dtype}; use edge_weight.float()")
        if not bool(torch.isfinite(edge_weight).all()):
            bad = int((~torch.isfinite(edge_weight)).sum())
            raise ValueError(f"{name}.edge_weight holds {bad} NaN or infinite value(s); fix or "
                             "drop those edges before training")
        _check_edge_weight_values(edge_weight, edge_index, num_nodes, x, name)
    for key in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(data, key, None)
        if isinstance(mask, Tensor) and mask.dtype == torch.bool and (
                mask.dim() == 0 or mask.size(0) != num_nodes):
            raise ValueError(
                f"{name}.{key} has shape {list(mask.shape)} but the graph has {num_nodes} nodes; "
                "a boolean mask needs one entry per node ([N] or [N, num_splits])"
            )
    y = getattr(data, "y", None)
    if y is None:
        if require_y:
            raise ValueError(f"{name}.y is missing: evaluation needs one label per node")
    elif isinstance(y, Tensor) and (y.dim() == 0 or y.size(0) != num_nodes):
        raise ValueError(
            f"{name}.y has {y.size(0) if y.dim() else 0} entries but the graph has {num_nodes} nodes; "
            "labels need one entry per node"
        )


def _check_edge_weight_values(edge_weight: Tensor, edge_index: Tensor, num_nodes: int,
                              x: Any, name: str) -> None:
    """Edge weights GCN normalisation can use: non-negative, x's dtype, finite degrees."""
    if isinstance(x, Tensor) and x.is_floating_point() and edge_weight.dtype != x.dtype:
        raise ValueError(
            f"{name}.edge_weight has dtype {edge_weight.dtype} but {name}.x has {x.dtype}; "
            f"use {name}.edge_weight.to({name}.x.dtype)"
        )
    if edge_weight.numel() == 0:
        return
    negative = edge_weight < 0
    if bool(negative.any()):
        first = int(negative.nonzero()[0])
        raise ValueError(
            f"{name}.edge_weight holds {int(negative.sum())} negative value(s) (first: edge "
            f"{first}, weight {float(edge_weight[first]):g}); GCN normalisation divides by the "
            "square root of weighted degrees, which needs weights >= 0: drop or re-weight those "
            "edges"
        )
    for side, index in (("target", edge_index[1]), ("source", edge_index[0])):
        degree = torch.ones(num_nodes, dtype=edge_weight.dtype, device=edge_weight.device)
        degree.index_add_(0, index.to(edge_weight.device).long(), edge_weight)
        if not bool(torch.isfinite(degree).all()):
            node = int((~torch.isfinite(degree)).nonzero()[0])
            raise ValueError(
                f"{name}.edge_weight is too large: the weighted {side} degree of node {node} "
                f"overflows {edge_weight.dtype} (largest weight {float(edge_weight.max()):g}), "
                "so every embedding would be the same; rescale the weights, e.g. "
                f"{name}.edge_weight / {name}.edge_weight.max()"
            )

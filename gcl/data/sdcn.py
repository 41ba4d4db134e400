"""Clustering data sets in the SDCN layout, and kNN graphs for feature-only data.

The SDCN layout (used by SDCN, SCGC and PamC) is a folder with

* ``data/<name>.txt``: the feature matrix, one node per line, whitespace-separated numbers;
* ``data/<name>_label.txt``: one integer label per line (some sets are 1-based);
* ``graph/<name>_graph.txt`` (natural graphs) or ``graph/<name><k>_graph.txt`` (kNN graphs with
  ``k`` neighbours per node): an ``i j`` edge list, 0-based.

:func:`read_sdcn` reads such a folder into a PyG ``Data``. :func:`knn_graph` builds the kNN
graphs of SDCN (similarities ``heat``, ``cos`` and ``ncos``) in row chunks, so that memory is
``O(chunk * N)`` instead of ``O(N^2)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from .._utils import check_choice, check_positive

__all__ = ["read_sdcn", "read_edge_list", "read_labels", "knn_graph", "SIMILARITIES"]

#: the similarity measures of SDCN's ``calcu_graph.py``
SIMILARITIES = ("heat", "cos", "ncos")


def read_labels(path: str | os.PathLike) -> Tensor:
    """Read an SDCN label file (one integer per line) as given, without shifting the ids.

    Args:
        path: the ``<name>_label.txt`` file.

    Returns:
        Tensor: long ``[N]``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy_label.txt"
        >>> _ = p.write_text("1\\n2\\n2\\n")
        >>> read_labels(p).tolist()
        [1, 2, 2]
    """
    values = [int(line.split()[0]) for line in Path(path).read_text().splitlines() if line.strip()]
    if not values:
        raise ValueError(f"label file {path} is empty: expected one integer per line")
    return torch.tensor(values, dtype=torch.long)


def read_edge_list(path: str | os.PathLike, num_nodes: int | None = None) -> Tensor:
    """Read an ``i j`` edge list (0-based node ids, one edge per line).

    Args:
        path: the ``graph/*_graph.txt`` file.
        num_nodes: when given, ids must be below it.

    Returns:
        Tensor: long ``[2, E]`` in file order (not symmetrised).

    Raises:
        ValueError: for malformed lines or out-of-range ids.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy_graph.txt"
        >>> _ = p.write_text("0 1\\n1 2\\n")
        >>> read_edge_list(p).tolist()
        [[0, 1], [1, 2]]
    """
    pairs = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"{path} line {n}: expected 'i j', got {line!r}")
        pairs.append((int(parts[0]), int(parts[1])))
    edge_index = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    if edge_index.numel() and int(edge_index.min()) < 0:
        raise ValueError(f"{path}: negative node id {int(edge_index.min())}")
    if num_nodes is not None and edge_index.numel() and int(edge_index.max()) >= num_nodes:
        raise ValueError(f"{path}: node id {int(edge_index.max())} is out of range for "
                         f"{num_nodes} nodes (the label file's length)")
    return edge_index


def read_sdcn(root: str | os.PathLike, name: str, *, k: int | None = None,
              x: Tensor | None = None, one_based: bool | None = None) -> Data:
    """Read an SDCN-layout data set: features, labels and graph.

    Args:
        root: the folder holding ``data/`` and ``graph/``.
        name: the set's file stem (``usps``, ``hhar``, ``reut``, ``acm``, ``dblp``, ``cite``).
        k: the kNN graph's ``k`` (reads ``graph/<name><k>_graph.txt``); ``None`` reads the
            natural graph ``graph/<name>_graph.txt`` (default: ``None``).
        x: features to use instead of ``data/<name>.txt`` (e.g. CiteSeer's for ``cite``).
        one_based: whether labels are 1-based (default: detected, when the smallest label is 1).

    Returns:
        Data: ``x`` float32 ``[N, d]``, ``y`` long ``[N]`` (0-based), ``edge_index`` long
        ``[2, E]`` as stored in the file (SDCN's natural graphs list both directions; kNN graphs
        are directed, ``k`` edges per node).

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: when the features, labels and graph disagree on the number of nodes.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "data").mkdir(); (root / "graph").mkdir()
        >>> _ = (root / "data" / "toy.txt").write_text("1 0\\n0 1\\n1 1\\n")
        >>> _ = (root / "data" / "toy_label.txt").write_text("1\\n2\\n2\\n")
        >>> _ = (root / "graph" / "toy3_graph.txt").write_text("0 1\\n1 2\\n")
        >>> data = read_sdcn(root, "toy", k=3)
        >>> data.x.shape, data.y.tolist(), data.edge_index.shape
        (torch.Size([3, 2]), [0, 1, 1], torch.Size([2, 2]))
    """
    root = Path(root)
    label_path = root / "data" / f"{name}_label.txt"
    graph_path = root / "graph" / (f"{name}_graph.txt" if k is None else f"{name}{k}_graph.txt")
    for path in (label_path, graph_path):
        if not path.is_file():
            raise FileNotFoundError(f"SDCN data set {name!r}: {path} not found")
    y = read_labels(label_path)
    if one_based is None:
        one_based = int(y.min()) == 1
    if one_based:
        y = y - 1
    if x is None:
        feat_path = root / "data" / f"{name}.txt"
        if not feat_path.is_file():
            raise FileNotFoundError(
                f"SDCN data set {name!r}: the feature file {feat_path} was not found; SDCN "
                "distributes it separately from its repository, or pass x= explicitly")
        import numpy as np

        x = torch.from_numpy(np.loadtxt(feat_path, dtype=np.float32, ndmin=2))
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.size(0) != y.numel():
        raise ValueError(f"SDCN data set {name!r}: {x.size(0)} feature rows but {y.numel()} labels")
    edge_index = read_edge_list(graph_path, num_nodes=y.numel())
    return Data(x=x, y=y, edge_index=edge_index, num_nodes=y.numel())


def _similarity_rows(x: Tensor, rows: Tensor, similarity: str, sq_norm: Tensor | None) -> Tensor:
    if similarity == "heat":
        # exp(-||xi - xj||^2 / 2) is monotone in -||xi - xj||^2, so rank by the distance
        d2 = sq_norm[rows, None] - 2.0 * x[rows] @ x.t() + sq_norm[None, :]
        return torch.exp(-0.5 * d2.clamp_min(0))
    return x[rows] @ x.t()


def knn_graph(x: Tensor, k: int, similarity: str = "heat", *, chunk_size: int = 1024) -> Tensor:
    """SDCN's kNN graph: each node is linked to its ``k`` most similar other nodes.

    As in SDCN's ``calcu_graph.py``, for each node the ``k + 1`` most similar nodes are taken
    and the node itself is dropped (if it is not among them, because of ties, the ``k + 1``-th is
    dropped instead, so every node has exactly ``k`` neighbours). Similarities:

    * ``heat``: ``exp(-||x_i - x_j||^2 / 2)`` (continuous features);
    * ``cos``: features binarised (``> 0``), then the dot product;
    * ``ncos``: binarised, rows L1-normalised, then the dot product.

    Rows are processed ``chunk_size`` at a time, so memory is ``O(chunk_size * N)``, never
    ``N x N``.

    Args:
        x: features ``[N, d]``.
        k: neighbours per node, ``1 <= k < N``.
        similarity: ``"heat"``, ``"cos"`` or ``"ncos"`` (default: ``"heat"``).
        chunk_size: rows per block (default: 1024).

    Returns:
        Tensor: long ``[2, N * k]``: directed edges ``(i, neighbour)``, ``k`` per node, like
        SDCN's ``graph/<name><k>_graph.txt`` files.

    Raises:
        ValueError: for a bad ``k``, ``similarity`` or ``chunk_size``.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.2]])
        >>> knn_graph(x, k=1).tolist()
        [[0, 1, 2, 3], [1, 0, 3, 2]]
    """
    similarity = check_choice(similarity, "similarity", SIMILARITIES, "knn_graph")
    check_positive(k, "k", "knn_graph", integer=True)
    check_positive(chunk_size, "chunk_size", "knn_graph", integer=True)
    if x.dim() != 2:
        raise ValueError(f"knn_graph: x must be [N, d], got shape {tuple(x.shape)}")
    n = x.size(0)
    if k >= n:
        raise ValueError(f"knn_graph: k={k} must be smaller than the number of nodes ({n})")
    x = x.float()
    if similarity in ("cos", "ncos"):
        x = (x > 0).float()
        if similarity == "ncos":
            x = x / x.sum(1, keepdim=True).clamp_min(1.0)
    sq_norm = x.pow(2).sum(1) if similarity == "heat" else None
    cols = []
    for start in range(0, n, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n), device=x.device)
        sim = _similarity_rows(x, rows, similarity, sq_norm)
        top = sim.topk(k + 1, dim=1).indices  # [B, k+1]
        is_self = top == rows[:, None]
        # drop the node itself; where it is absent (ties), drop the last candidate
        drop = torch.where(is_self.any(1), is_self.float().argmax(1),
                           torch.full_like(rows, k))
        keep = torch.ones_like(top, dtype=torch.bool)
        keep[torch.arange(rows.numel(), device=x.device), drop] = False
        cols.append(top[keep].view(rows.numel(), k))
    col = torch.cat(cols).reshape(-1)
    row = torch.arange(n, device=x.device).repeat_interleave(k)
    return torch.stack([row, col])

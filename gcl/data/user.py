"""Your own graph, through the same doors as the catalog's.

* :func:`from_files` — an edge list (CSV, TSV or whitespace) with optional feature and label
  files;
* :func:`from_networkx` — a networkx graph, node attributes as features and labels;
* :func:`prepare_graph` — any PyG ``Data`` (e.g. one saved with ``torch.save`` and read back
  with :func:`gcl.data.user_io.read_graph_file`);
* heterogeneous graphs: :func:`gcl.data.from_hetero_data` with the meta-paths to follow.

Each returns a validated graph: float32 features (a one-hot vector per node when there are none,
with a warning), 0-based long labels when given, an undirected edge set unless
``directed=True`` (with a warning saying how many reverse edges were added when the input did
not list both directions), and seeded random train/validation/test masks when the graph has
labels but no masks. :func:`gcl.data.register_graph` then lets :func:`gcl.data.load`,
:func:`gcl.methods.run` and ``gcl train`` use it by name; random splits are then drawn again
with each run's seed, as for the catalog's datasets.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "edges.csv").write_text("src,dst\\n0,1\\n1,2\\n2,3\\n3,0\\n")
    >>> _ = (folder / "y.txt").write_text("0\\n0\\n1\\n1\\n")
    >>> data = from_files(folder / "edges.csv", labels=folder / "y.txt", split="random:0.5:0.25",
    ...                   warn=False)
    >>> data.num_nodes, data.num_edges, data.x.shape, int(data.train_mask.sum())
    (4, 8, torch.Size([4, 4]), 2)
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from .._utils import validate_graph
from .splits import parse_split, random_split
from .transforms import RowNormalize
from .user_io import read_edge_list, read_labels, read_matrix

__all__ = ["from_files", "from_networkx", "prepare_graph", "load_registered",
           "ONE_HOT_LIMIT"]

#: largest graph given one-hot features when it has none (N x N floats)
ONE_HOT_LIMIT = 10_000
_MASKS = ("train_mask", "val_mask", "test_mask")


def _say(warn: bool, message: str) -> None:
    if warn:
        warnings.warn(message, UserWarning, stacklevel=3)


def _undirected(edge_index: torch.Tensor, n: int, name: str, warn: bool) -> torch.Tensor:
    edge_index = coalesce(edge_index, num_nodes=n)
    both = to_undirected(edge_index, num_nodes=n)
    added = both.size(1) - edge_index.size(1)
    if added:
        listed = edge_index.size(1)
        _say(warn, f"graph {name!r}: the edge list is not symmetric ({added} of {listed} "
                   "edges have no reverse edge); added the reverse edges, so the graph is "
                   "undirected. Pass directed=True (gcl train --directed) to keep the edges as "
                   "given")
    return both


def prepare_graph(data: Data, *, directed: bool = False, name: str = "graph",
                  split: str | None = "random", split_seed: int = 0,
                  warn: bool = True) -> Data:
    """Make a user's PyG ``Data`` ready for training and evaluation (a new object).

    Args:
        data: the graph: ``edge_index`` (required), ``x``, ``y``, optional masks.
        directed: keep the edges as given (default: ``False``: every edge is made
            bidirectional, with a warning counting the reverse edges that were added).
        name: the graph's name in messages and records (default: ``"graph"``).
        split: masks to draw when the graph has labels but no masks: ``"random"`` (10/10/80)
            or ``"random:TRAIN:VAL"`` (see :mod:`gcl.data.splits`); ``None`` draws none
            (default: ``"random"``). Masks the graph has are kept.
        split_seed: seed of the random split (default: 0).
        warn: warn about what was changed (default: ``True``).

    Returns:
        Data: float32 ``x`` (one-hot when absent, up to :data:`ONE_HOT_LIMIT` nodes), long
        ``edge_index`` (coalesced), long 1-D ``y`` when labelled, boolean masks, ``name`` and
        ``split_name`` (``"given"`` for the graph's own masks, e.g. ``"random-0.1-0.1"`` for
        drawn ones, ``"none"`` without masks).

    Raises:
        ValueError: for a graph without ``edge_index``, too many nodes for one-hot features,
            labels of another length, or anything :func:`gcl._utils.validate_graph` refuses.

    Example:
        >>> g = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, 1]), num_nodes=3)
        >>> out = prepare_graph(g, split=None, warn=False)
        >>> out.edge_index.tolist(), out.x.shape, out.split_name
        ([[0, 1, 1, 2], [1, 0, 2, 1]], torch.Size([3, 3]), 'none')
    """
    if not isinstance(data, Data) or getattr(data, "edge_index", None) is None:
        raise ValueError(f"graph {name!r}: expected a PyG Data with an edge_index, got "
                         f"{type(data).__name__}")
    out = data.clone()
    n = out.num_nodes
    if out.x is None:
        if n > ONE_HOT_LIMIT:
            raise ValueError(f"graph {name!r} has no node features and {n} nodes: one-hot "
                             f"features are only made up to {ONE_HOT_LIMIT} nodes; give a "
                             "feature matrix (features=..., gcl train --features FILE)")
        _say(warn, f"graph {name!r} has no node features: using a one-hot vector per node "
                   f"({n} features)")
        out.x = torch.eye(n)
    out.x = out.x.float()
    if out.edge_index.dtype != torch.long:
        out.edge_index = out.edge_index.long()
    if directed:
        out.edge_index = coalesce(out.edge_index, num_nodes=n)
    else:
        out.edge_index = _undirected(out.edge_index, n, name, warn)
    for key in ("edge_attr", "edge_weight"):
        if key in out:  # their order no longer matches the coalesced edges
            del out[key]
            _say(warn, f"graph {name!r}: dropped {key} (edge attributes are not used)")
    if out.y is not None:
        y = out.y.view(-1) if out.y.dim() == 2 and out.y.size(1) == 1 else out.y
        out.y = y.long()
    _attach_masks(out, split, split_seed, 1)
    out.name = name
    validate_graph(out, name=name, require_y=False)
    return out


def _attach_masks(data: Data, split: str | None, split_seed: int, num_splits: int) -> None:
    if all(getattr(data, k, None) is not None for k in ("train_mask", "test_mask")) and not \
            str(getattr(data, "split_name", "given")).startswith("random"):
        data.split_name = "given"
        return
    for key in _MASKS:
        if key in data:
            del data[key]
    if split is None or data.y is None:
        data.split_name = "none"
        return
    spec = parse_split(split)
    if spec.kind != "random":
        raise ValueError(f"split {split!r}: a graph of your own gets random splits only "
                         "('random' or 'random:TRAIN:VAL'), or masks of its own")
    train, val, test = random_split(data.num_nodes, spec.train_ratio, spec.val_ratio,
                                    num_splits, split_seed)
    data.train_mask, data.val_mask, data.test_mask = train, val, test
    data.split_name = spec.name


def from_files(edges: str | os.PathLike, features: str | os.PathLike | None = None,
               labels: str | os.PathLike | None = None, *, directed: bool = False,
               name: str | None = None, split: str | None = "random", split_seed: int = 0,
               warn: bool = True) -> Data:
    """A graph from plain files: an edge list, optional features and labels.

    Args:
        edges: the edge list: two integer columns (source, target), comma- (``.csv``), tab-
            (``.tsv``) or whitespace-separated, an optional header line (see
            :func:`gcl.data.user_io.read_edge_list`). Node ids are row numbers of the other
            files, from 0.
        features: node features, one row per node: ``.npy`` or a text table (default: none:
            one-hot features, with a warning).
        labels: one integer class per node: ``.npy`` or text, one per line (default: none; then
            nothing is evaluated).
        directed: keep the edges as given (default: ``False``, see :func:`prepare_graph`).
        name: the graph's name (default: the edge file's stem).
        split: random masks to draw when there are labels (default: ``"random"``, 10/10/80).
        split_seed: seed of the split (default: 0).
        warn: warn about what was changed (default: ``True``).

    Returns:
        Data: see :func:`prepare_graph`. The node count is the number of feature (or label)
        rows, else the largest id + 1.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: for malformed files, ids beyond the feature rows, or files that disagree
            on the node count (the messages name the files).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "e.tsv"; _ = p.write_text("0\\t1\\n1\\t0\\n")
        >>> from_files(p, warn=False).edge_index.tolist()
        [[0, 1], [1, 0]]
    """
    pairs = read_edge_list(edges)
    name = name or Path(edges).stem
    counts = {}
    x = read_matrix(features) if features is not None else None
    y = read_labels(labels) if labels is not None else None
    if x is not None:
        counts[str(features)] = x.shape[0]
    if y is not None:
        counts[str(labels)] = y.shape[0]
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{path}: {count}" for path, count in counts.items())
        raise ValueError(f"graph {name!r}: the files disagree on the number of nodes ({shown})")
    n = next(iter(counts.values()), int(pairs.max()) + 1)
    if pairs.max() >= n:
        raise ValueError(f"{edges}: node id {int(pairs.max())} but {next(iter(counts))} has only "
                         f"{n} rows (ids are 0-based row numbers)")
    data = Data(edge_index=torch.from_numpy(np.ascontiguousarray(pairs.T)), num_nodes=n)
    if x is not None:
        data.x = torch.from_numpy(x)
    if y is not None:
        data.y = torch.from_numpy(y)
    return prepare_graph(data, directed=directed, name=name, split=split,
                         split_seed=split_seed, warn=warn)


def from_networkx(graph, *, features: str | list[str] | None = None,
                  labels: str | None = None, directed: bool | None = None,
                  name: str = "networkx", split: str | None = "random", split_seed: int = 0,
                  warn: bool = True) -> Data:
    """A graph from networkx, through PyG's ``torch_geometric.utils.from_networkx``.

    Nodes are numbered in ``graph.nodes`` order.

    Args:
        graph: a ``networkx.Graph`` or ``DiGraph``.
        features: node attribute(s) that hold the features (numbers or equal-length vectors)
            (default: none: one-hot features, with a warning).
        labels: the node attribute that holds the class; any values (numbers or strings) are
            numbered in sorted order, kept in ``data.label_names`` (default: no labels).
        directed: keep edge directions (default: ``graph.is_directed()``).
        name: the graph's name (default: ``"networkx"``).
        split: random masks to draw when there are labels (default: ``"random"``).
        split_seed: seed of the split (default: 0).
        warn: warn about what was changed (default: ``True``).

    Returns:
        Data: see :func:`prepare_graph`.

    Raises:
        ValueError: for a node without the label attribute or unusable features.

    Example:
        >>> import networkx as nx
        >>> g = nx.path_graph(4)
        >>> nx.set_node_attributes(g, {0: "a", 1: "a", 2: "b", 3: "b"}, "kind")
        >>> data = from_networkx(g, labels="kind", split=None, warn=False)
        >>> data.y.tolist(), data.label_names
        ([0, 0, 1, 1], ['a', 'b'])
    """
    from torch_geometric.utils import from_networkx as pyg_from_networkx

    names = [features] if isinstance(features, str) else list(features or [])
    raw_labels = None
    if labels is not None:
        raw_labels = [attrs.get(labels) for _, attrs in graph.nodes(data=True)]
        if any(v is None for v in raw_labels):
            raise ValueError(f"graph {name!r}: some nodes have no {labels!r} attribute")
    try:
        data = pyg_from_networkx(graph.copy(), group_node_attrs=names or None)
    except (ValueError, TypeError, RuntimeError) as err:
        raise ValueError(f"graph {name!r}: cannot read node attributes {names} as features: "
                         f"{err}") from None
    keep = {"edge_index", "x"}
    for key in list(data.keys()):
        if key not in keep:
            del data[key]
    data.num_nodes = graph.number_of_nodes()
    if raw_labels is not None:
        classes = sorted(set(raw_labels), key=lambda v: (str(type(v)), v))
        index = {v: i for i, v in enumerate(classes)}
        data.y = torch.tensor([index[v] for v in raw_labels])
    out = prepare_graph(data, directed=graph.is_directed() if directed is None else directed,
                        name=name, split=split, split_seed=split_seed, warn=warn)
    if raw_labels is not None:
        out.label_names = [str(v) if not isinstance(v, (int, float)) else v for v in classes]
    return out


def load_registered(graph, *, name: str, split: str | None, split_seed: int, num_splits: int,
                    normalize_features: bool):
    """A registered graph as :func:`gcl.data.load` returns it (a new object each call).

    Masks or splits of the graph's own are kept; random ones (and none, when there are
    labels) are drawn with ``split_seed``, so that each run of :func:`gcl.methods.run` gets its
    own split, as for the catalog's datasets.

    Args:
        graph: a ``Data`` or :class:`gcl.data.MetaPathGraph` from :func:`gcl.data.register_graph`.
        name: its registered name.
        split: the random split to draw (``None``: ``"random"``).
        split_seed: seed of the split.
        num_splits: number of random split columns (``Data`` only).
        normalize_features: divide each feature row by its sum (``Data`` only; see
            :class:`gcl.data.RowNormalize`).

    Returns:
        Data | MetaPathGraph: the graph with its splits.

    Example:
        >>> g = Data(x=torch.rand(10, 2), edge_index=torch.tensor([[0], [1]]), y=torch.arange(10) % 2)
        >>> a = load_registered(g, name="g", split=None, split_seed=1, num_splits=1,
        ...                     normalize_features=False)
        >>> int(a.train_mask.sum()), a.split_name
        (1, 'random-0.1-0.1')
    """
    split = split or "random"
    if not isinstance(graph, Data):
        return _hetero_splits(graph, split, split_seed)
    data = graph.clone()
    _attach_masks(data, split, split_seed, num_splits)
    if normalize_features:
        data = RowNormalize()(data)
    data.name = name
    validate_graph(data, name=name, require_y=False)
    return data


def _hetero_splits(graph, split: str, split_seed: int):
    splits = {k: v for k, v in graph.splits.items() if not str(k).startswith("random")}
    if not splits and graph.y is not None:
        spec = parse_split(split)
        masks = random_split(graph.num_nodes, spec.train_ratio, spec.val_ratio, 1, split_seed)
        splits = {"random": tuple(m.nonzero().view(-1) for m in masks)}
    return dataclasses.replace(graph, splits=splits)

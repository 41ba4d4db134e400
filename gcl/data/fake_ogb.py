"""Tiny OGB-shaped dataset folders for tests and examples (no download, no 70 MB files).

:func:`make_fake_ogb` writes exactly the files ``ogb.nodeproppred.PygNodePropPredDataset``
reads for ``ogbn-arxiv`` or ``ogbn-products`` (ogb 1.3.6, see its ``master.csv``):

* ``raw/edge.csv.gz`` — one ``src,dst`` row per edge. arxiv stores directed citations
  (``add_inverse_edge=False``); products stores each undirected edge once and ogb adds the
  reverse (``add_inverse_edge=True``);
* ``raw/node-feat.csv.gz`` — one row of floats per node;
* ``raw/node-label.csv.gz`` — one integer label per node;
* ``raw/num-node-list.csv.gz`` and ``raw/num-edge-list.csv.gz`` — one row each (one graph);
* ``raw/node_year.csv.gz`` — arxiv only (its "additional node file");
* ``split/<type>/{train,valid,test}.csv.gz`` — node indices, ``<type>`` being ``time``
  (arxiv: train before 2018, valid 2018, test 2019) or ``sales_ranking`` (products: about
  8% / 1.6% / 90.4% of the nodes, like the real split);
* ``RELEASE_v1.txt`` — without it ogb asks "Will you update the dataset now?" on stdin.

The graph is a planted partition (labels = communities) and the features are noisy class
centroids, so a model trained on the fake folder learns something measurable.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import torch

from .._utils import check_positive
from .synthetic import balanced_communities, planted_partition_edges

__all__ = ["make_fake_ogb", "FAKE_OGB_NAMES"]

#: name -> (split type, add_inverse_edge, extra node files, (train, valid) fractions)
FAKE_OGB_NAMES = {
    "ogbn-arxiv": ("time", False, ("node_year",), (0.537, 0.176)),
    "ogbn-products": ("sales_ranking", True, (), (0.0803, 0.0161)),
}


def _write_csv_gz(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(("\n".join(rows) + "\n").encode())


def make_fake_ogb(root: str | os.PathLike, name: str = "ogbn-arxiv", num_nodes: int = 200,
                  num_features: int = 16, num_classes: int = 5, avg_degree: float = 4,
                  seed: int = 0) -> Path:
    """Write a small ``ogbn-arxiv`` or ``ogbn-products`` folder in OGB's own layout.

    The folder is ``<root>/<name with '-' replaced by '_'>`` (e.g. ``root/ogbn_arxiv``), so
    ``PygNodePropPredDataset(name, root=root)`` and ``gcl.data.load(name, root=R)`` with
    ``root = R / "ogb"`` read it without downloading. The same arguments give byte-identical
    files.

    Args:
        root: the parent folder (the ``ogb/`` folder of a gcl data root).
        name: ``"ogbn-arxiv"`` or ``"ogbn-products"`` (default: ``"ogbn-arxiv"``).
        num_nodes: number of nodes (default: 200).
        num_features: node feature dimension (default: 16).
        num_classes: number of classes (default: 5).
        avg_degree: average undirected degree (default: 4).
        seed: the seed (default: 0).

    Returns:
        Path: the dataset folder, e.g. ``<root>/ogbn_arxiv``.

    Raises:
        ValueError: for an unsupported name or invalid sizes.

    Example:
        >>> import tempfile
        >>> folder = make_fake_ogb(tempfile.mkdtemp(), "ogbn-arxiv", num_nodes=50)
        >>> sorted(p.name for p in (folder / "split" / "time").iterdir())
        ['test.csv.gz', 'train.csv.gz', 'valid.csv.gz']
    """
    if name not in FAKE_OGB_NAMES:
        raise ValueError(f"make_fake_ogb supports {sorted(FAKE_OGB_NAMES)}, got {name!r}")
    owner = "make_fake_ogb"
    check_positive(num_nodes, "num_nodes", owner, integer=True)
    check_positive(num_features, "num_features", owner, integer=True)
    check_positive(num_classes, "num_classes", owner, integer=True)
    check_positive(avg_degree, "avg_degree", owner)
    check_positive(seed, "seed", owner, allow_zero=True, integer=True)
    if num_nodes < max(3, num_classes):
        raise ValueError(f"num_nodes ({num_nodes}) must be at least 3 and at least num_classes "
                         f"({num_classes})")
    if avg_degree > num_nodes - 1:
        raise ValueError(f"avg_degree ({avg_degree}) must be at most num_nodes - 1")
    split_type, add_inverse, extra_files, (f_train, f_valid) = FAKE_OGB_NAMES[name]

    gen = torch.Generator().manual_seed(seed)
    label = balanced_communities(num_nodes, num_classes, gen)
    num_edges = max(1, int(round(num_nodes * avg_degree / 2)))
    edges = planted_partition_edges(label, num_edges, 0.8, gen)
    if not add_inverse:  # arxiv: directed citations, a random direction per edge
        flip = torch.rand(edges.size(1), generator=gen) < 0.5
        edges = torch.where(flip, edges.flip(0), edges)
    edges = edges[:, torch.randperm(edges.size(1), generator=gen)]

    centroids = torch.randn(num_classes, num_features, generator=gen)
    feat = centroids[label] + 1.5 * torch.randn(num_nodes, num_features, generator=gen)

    n_train = max(1, int(round(f_train * num_nodes)))
    n_valid = max(1, int(round(f_valid * num_nodes)))
    order = torch.randperm(num_nodes, generator=gen)
    parts = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid],
             "test": order[n_train + n_valid:]}

    folder = Path(root) / name.replace("-", "_")
    raw = folder / "raw"
    _write_csv_gz(raw / "edge.csv.gz", [f"{u},{v}" for u, v in edges.t().tolist()])
    _write_csv_gz(raw / "node-feat.csv.gz",
                  [",".join(f"{v:.6f}" for v in row) for row in feat.tolist()])
    _write_csv_gz(raw / "node-label.csv.gz", [str(v) for v in label.tolist()])
    _write_csv_gz(raw / "num-node-list.csv.gz", [str(num_nodes)])
    _write_csv_gz(raw / "num-edge-list.csv.gz", [str(edges.size(1))])
    if "node_year" in extra_files:
        year = torch.empty(num_nodes, dtype=torch.long)
        year[parts["train"]] = 2010 + torch.randint(8, (n_train,), generator=gen)
        year[parts["valid"]] = 2018
        year[parts["test"]] = 2019
        _write_csv_gz(raw / "node_year.csv.gz", [str(v) for v in year.tolist()])
    for key, idx in parts.items():
        _write_csv_gz(folder / "split" / split_type / f"{key}.csv.gz",
                      [str(v) for v in sorted(idx.tolist())])
    (folder / "RELEASE_v1.txt").write_text(
        f"Fake {name} folder written by gcl.data.make_fake_ogb (seed {seed}); not real data.\n")
    return folder

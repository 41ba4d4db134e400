"""Datasets for graph contrastive learning: ``load(name)`` -> a validated PyG ``Data``.

* :func:`load` — Planetoid (Cora, CiteSeer, PubMed), Amazon Photo/Computers, Coauthor CS/Physics,
  WikiCS, ogbn-arxiv/products and a synthetic planted-partition graph, with split masks;
* :func:`catalog`, :func:`list_datasets`, :func:`dataset_status` — what is known and what is
  available at the data root;
* :func:`resolve_root`, :func:`cache_dir` — where raw files are read from (``root``, else
  ``$GCL_DATA``, else the repository's ``datasets/``) and where everything is written
  (``$GCL_CACHE``, else ``~/.cache/gcl``);
* :func:`load_hetero`, :class:`MetaPathGraph`, :func:`from_hetero_data` — heterogeneous graphs
  (ACM, DBLP, AMiner, IMDB in the MEOW and HeCo layouts) seen through their meta-paths;
  :func:`metapath2vec_features` derives metapath2vec inputs for them (MEOW's AMiner inputs);
* :func:`random_split`, :func:`synthetic`, :func:`synthetic_metapath_graph`,
  :class:`RowNormalize`, :func:`make_fake_ogb`;
* :class:`NeighborSampler` (mini-batches for large graphs), :func:`ogb_evaluator`.

Only torch and torch_geometric are imported here; ogb is imported by the OGB loader when used.

Example:
    >>> import gcl
    >>> data = gcl.data.synthetic(num_nodes=100, num_classes=4, num_features=16, seed=0)
    >>> data.train_mask.sum().item(), data.x.shape
    (10, torch.Size([100, 16]))
"""

from __future__ import annotations

from .catalog import canonical_name, catalog, dataset_entry, dataset_status, list_datasets
from .fake_ogb import make_fake_ogb
from .loaders import load, ogb_evaluator
from .sampler import NeighborSampler
from .splits import parse_split, random_split
from .storage import DatasetNotFoundError, cache_dir, resolve_root
from .synthetic import synthetic
from .transforms import RowNormalize

__all__ = [
    "load",
    "DatasetNotFoundError",
    "resolve_root",
    "cache_dir",
    "catalog",
    "list_datasets",
    "canonical_name",
    "dataset_entry",
    "dataset_status",
    "random_split",
    "parse_split",
    "synthetic",
    "RowNormalize",
    "make_fake_ogb",
    "NeighborSampler",
    "ogb_evaluator",
    "MetaPathGraph",
    "load_hetero",
    "from_hetero_data",
    "metapath2vec_features",
    "synthetic_metapath_graph",
]

_LAZY = {"MetaPathGraph", "from_hetero_data", "load_hetero"}


def __getattr__(name: str):
    # The heterogeneous-graph tools need numpy and scipy: import them on first use only, so
    # that ``import gcl.data`` stays light.
    if name in _LAZY:
        from . import hetero

        return getattr(hetero, name)
    if name == "synthetic_metapath_graph":
        from .synthetic_hetero import synthetic_metapath_graph

        return synthetic_metapath_graph
    if name == "metapath2vec_features":
        from .metapath2vec import metapath2vec_features

        return metapath2vec_features
    raise AttributeError(f"module 'gcl.data' has no attribute {name!r}")

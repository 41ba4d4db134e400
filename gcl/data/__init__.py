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
* :class:`NeighborSampler` (mini-batches for large graphs), :func:`ogb_evaluator`;
* your own graph: :func:`from_files` (edge list, features, labels), :func:`from_networkx`,
  :func:`prepare_graph` (a PyG ``Data``), :func:`from_hetero_data` (a ``HeteroData`` and its
  meta-paths), and :func:`register_graph`, after which :func:`load`, ``gcl.methods.run`` and
  ``gcl train`` take it by name.

``import gcl.data`` reads only the catalog (JSON); the loaders, and with them torch and
torch_geometric, are imported on first use of a name that needs them (``gcl datasets`` stays fast).

Example:
    >>> import gcl
    >>> data = gcl.data.synthetic(num_nodes=100, num_classes=4, num_features=16, seed=0)
    >>> data.train_mask.sum().item(), data.x.shape
    (10, torch.Size([100, 16]))
"""

from __future__ import annotations

import importlib
import sys
import types

from .catalog import canonical_name, catalog, dataset_entry, dataset_status, list_datasets
from .storage import DatasetNotFoundError, cache_dir, resolve_root

#: public name -> the module that defines it (imported on first access)
_LAZY = {
    "load": ".loaders",
    "ogb_evaluator": ".loaders",
    "make_fake_ogb": ".fake_ogb",
    "NeighborSampler": ".sampler",
    "parse_split": ".splits",
    "random_split": ".splits",
    "synthetic": ".synthetic",
    "RowNormalize": ".transforms",
    "MetaPathGraph": ".hetero",
    "load_hetero": ".hetero",
    "from_hetero_data": ".hetero",
    "metapath2vec_features": ".metapath2vec",
    "synthetic_metapath_graph": ".synthetic_hetero",
    "from_files": ".user",
    "from_networkx": ".user",
    "prepare_graph": ".user",
    "register_graph": ".registry",
    "unregister_graph": ".registry",
    "registered_names": ".registry",
}

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
    "from_files",
    "from_networkx",
    "prepare_graph",
    "register_graph",
    "unregister_graph",
    "registered_names",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'gcl.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing a submodule binds it to the package attribute of the same name; keep the
    function ``synthetic`` (``gcl.data.synthetic(...)``) from being replaced by its module."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f".{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""Training modules beyond the two-view :class:`gcl.Pipeline`, all trained by the one loop.

* :class:`MetaPathModule` — coarse and fine views of a meta-path graph (MEOW, AdaMEOW).
* :class:`HeCoModule` — HeCo's network-schema and meta-path views of a meta-path graph.
* :class:`DeepClusteringModule` — a graph-free encoder with a clustering objective whose
  centroids start from k-means on a pretrained autoencoder (SDCN-style PamC).
* :class:`CrossViewModule` — one encoder per view, a shared sub-sample and corrupted
  negatives (MVGRL).
"""

from __future__ import annotations

from .crossview import CrossViewModule

__all__ = ["MetaPathModule", "HeCoModule", "DeepClusteringModule", "ClusteringAE",
           "pretrain_autoencoder", "CrossViewModule"]


def __getattr__(name: str):
    # numpy, scipy and scikit-learn are imported on first use only
    if name == "MetaPathModule":
        from .metapath import MetaPathModule

        return MetaPathModule
    if name == "HeCoModule":
        from .heco import HeCoModule

        return HeCoModule
    if name in ("DeepClusteringModule", "ClusteringAE", "pretrain_autoencoder"):
        from . import clustering

        return getattr(clustering, name)
    raise AttributeError(f"module 'gcl.modules' has no attribute {name!r}")

"""Graph augmentations: PyG transforms that build the contrastive views.

Example:
    >>> from gcl.augment import Compose, DropEdge, MaskFeature
    >>> view = Compose([DropEdge(p=0.2), MaskFeature(p=0.3)])
"""

from .adaptive import AdaptiveEdgeDropping, AdaptiveFeatureMasking
from .base import (
    Augmentation,
    Compose,
    Identity,
    RandomChoice,
    drop_edges,
    edge_attribute_keys,
    edge_keep_mask,
    mask_columns,
)
from .basic import DropEdge, MaskFeature, apply_edge_mask
from .communal import CommunalAttributeVoting, CommunalEdgeDropping
from .communities import Communities, get_communities
from .diffusion import FixedView, NormalizedAdjacency, PPRDiffusion, column_minmax, ppr_diffusion
from .structural import AddEdge, DropNode, RandomWalkSubgraph, ShuffleFeatures
from .subsample import NodeSubsample

__all__ = [
    "Augmentation",
    "Compose",
    "Identity",
    "RandomChoice",
    "DropEdge",
    "MaskFeature",
    "drop_edges",
    "edge_keep_mask",
    "mask_columns",
    "apply_edge_mask",
    "edge_attribute_keys",
    "Communities",
    "get_communities",
    "CommunalAttributeVoting",
    "CommunalEdgeDropping",
    "AdaptiveEdgeDropping",
    "AdaptiveFeatureMasking",
    "DropNode",
    "AddEdge",
    "ShuffleFeatures",
    "RandomWalkSubgraph",
    "NodeSubsample",
    "FixedView",
    "NormalizedAdjacency",
    "PPRDiffusion",
    "ppr_diffusion",
    "column_minmax",
    "MetaPathEdgeMask",
    "MetaPathFeatureMask",
]

_LAZY = {"MetaPathEdgeMask", "MetaPathFeatureMask"}


def __getattr__(name: str):
    # the meta-path augmentations need numpy and scipy: imported on first use
    if name in _LAZY:
        from . import metapath

        return getattr(metapath, name)
    raise AttributeError(f"module 'gcl.augment' has no attribute {name!r}")

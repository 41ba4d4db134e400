"""Which edges a view's augmentation drops, and with what probability: the input POT's bound
needs from each view (:func:`find_edge_drop_probs`)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["find_edge_drop_probs"]


# -- which augmentations drop edges ------------------------------------------------------------
def find_edge_drop_probs(augmentation, data) -> tuple[Tensor, bool]:
    """Per-edge drop probabilities of one view's augmentation, and whether it masks features.

    Walks :class:`~gcl.augment.Compose` chains. Anything exposing ``edge_drop_prob(data)``
    (``DropEdge``, GCA's adaptive and CSGCL's communal dropping) is an edge drop; feature masks
    (``MaskFeature`` and anything exposing ``feature_drop_prob(data)``) are noted (POT ignores
    them); identities pass. Anything else (edge adding, diffusion, subgraphs) raises. Two edge
    drops in one chain combine as ``1 - (1 - p)(1 - q)``.

    Args:
        augmentation: one view's augmentation (a single one, a :class:`~gcl.augment.Compose`
            chain, or ``None`` for no augmentation).
        data: the clean graph; its ``edge_index`` fixes ``E`` and is passed to
            ``edge_drop_prob``.

    Returns:
        (Tensor, bool): ``[E]`` drop probabilities (zeros without edge dropping) and whether a
        feature mask was found.

    Raises:
        ValueError: for an augmentation POT cannot bound.

    Example:
        >>> from gcl.augment import Compose, DropEdge, MaskFeature
        >>> from torch_geometric.data import Data
        >>> d = Data(x=torch.ones(2, 2), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> p, masked = find_edge_drop_probs(Compose([DropEdge(0.3), MaskFeature(0.2)]), d)
        >>> [round(v, 4) for v in p.tolist()], masked
        ([0.3, 0.3], True)
    """
    from ..augment.base import Compose, Identity

    num_edges = data.edge_index.size(1)
    probs = torch.zeros(num_edges, device=data.edge_index.device)
    masked = False
    stack = [augmentation]
    while stack:
        aug = stack.pop()
        if aug is None or isinstance(aug, Identity):
            continue
        if isinstance(aug, Compose):
            stack.extend(aug.augmentations)
            continue
        if callable(getattr(aug, "edge_drop_prob", None)):
            p = torch.as_tensor(aug.edge_drop_prob(data), dtype=probs.dtype, device=probs.device)
            p = p.expand(num_edges) if p.dim() == 0 else p
            if p.numel() != num_edges:
                raise ValueError(f"{aug!r}.edge_drop_prob returned {p.numel()} values for "
                                 f"{num_edges} edges")
            # two successive drops keep an edge with probability (1 - p)(1 - q)
            probs = 1 - (1 - probs) * (1 - p.detach())
            continue
        from ..augment.basic import MaskFeature

        if isinstance(aug, MaskFeature) or callable(getattr(aug, "feature_drop_prob", None)):
            # feature masks (uniform, or with per-dimension probabilities: GCA, CSGCL's CAV)
            masked = masked or float(getattr(aug, "p", 1.0)) > 0
            continue
        raise ValueError(
            f"POT can only bound edge-dropping views (augmentations with edge_drop_prob(data), "
            f"plus feature masks, which it ignores); got {aug!r}. Remove POT or use DropEdge-"
            "like augmentations.")
    return probs, masked

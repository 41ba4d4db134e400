"""MVGRL: Contrastive Multi-View Representation Learning on Graphs (Hassani & Khasahmadi,
ICML 2020)."""

from __future__ import annotations

from ..augment import NodeSubsample, NormalizedAdjacency, PPRDiffusion, ShuffleFeatures
from ..encoders import GNNEncoder
from ..modules import CrossViewModule
from ..objectives import MVGRLObjective
from .base import CONFIG_DIR, Method, register
from .protocols import INFOMAX_KEYS, early_stopping_callbacks, repeated_probe_evaluate

__all__ = ["mvgrl"]


def mvgrl(in_channels: int, *, hidden: int = 512, alpha: float = 0.2,
          threshold: float | str | None = 1e-4, top_k: int | None = None, minmax: bool = False,
          improved: bool = True, sample_size: int = 2000, batch_size: int = 4,
          contiguous: bool = True, lr: float = 1e-3, weight_decay: float = 0.0,
          device: str = "auto", seed: int | None = None,
          progress: bool | None = None) -> CrossViewModule:
    """Assemble MVGRL: the normalised adjacency and the sparse personalised-PageRank
    diffusion as two views with one single-layer GCN (PReLU) each, ``batch_size`` sub-sampled
    subgraphs of ``sample_size`` nodes per step, feature-shuffled copies of both views as
    negatives, and the cross-view node-graph objective; embeddings are the sum of both
    encoders' outputs.

    Args:
        in_channels: input feature dimension.
        hidden: embedding size (default: 512).
        alpha: PPR teleport probability (default: 0.2).
        threshold: diffusion entries kept: a number, ``"auto"`` (MVGRL's rule, used by its code
            on CiteSeer) or ``None`` (default: 1e-4; the reference keeps the dense matrix on
            Cora, which gcl never builds: 1e-4 keeps 97 % of each row's mass on Cora).
        top_k: keep the ``k`` largest entries per node instead (default: none).
        minmax: min-max scale the diffusion per column (the reference on CiteSeer)
            (default: ``False``).
        improved: the adjacency view with ``A + 2I`` (the reference adds the identity twice)
            (default: ``True``).
        sample_size: nodes per sub-sampled subgraph (default: 2000).
        batch_size: subgraphs per step (default: 4).
        contiguous: subgraphs are runs of consecutive node ids, as the reference slices them;
            ``False`` draws uniform node sets (default: ``True``).
        lr: Adam learning rate (default: 0.001).
        weight_decay: Adam weight decay (default: 0).
        device: training device (default: ``"auto"``).
        seed: seed everything when training starts (default: ``None``).
        progress: progress bar (default: only on a terminal).

    Returns:
        CrossViewModule: ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=10, num_classes=2, seed=0)
        >>> module = mvgrl(10, hidden=16, sample_size=30, batch_size=2, device="cpu",
        ...                progress=False)
        >>> _ = module.fit(data, epochs=2)
        >>> module.embed(data).shape
        torch.Size([60, 16])
    """
    def encoder() -> GNNEncoder:
        return GNNEncoder(in_channels, hidden, conv="gcn", num_layers=1, activation="prelu",
                          activate_last=True, normalize=False)

    views = (NormalizedAdjacency(improved=improved),
             PPRDiffusion(alpha, threshold=threshold, top_k=top_k, minmax=minmax))
    return CrossViewModule((encoder(), encoder()), MVGRLObjective(hidden), views,
                           sampler=NodeSubsample(sample_size, batch_size, contiguous=contiguous),
                           corruption=ShuffleFeatures(), combine="sum", lr=lr,
                           weight_decay=weight_decay, device=device, seed=seed, progress=progress)


register(Method(
    name="mvgrl",
    recipe=mvgrl,
    protocol_keys=INFOMAX_KEYS,
    config_file=CONFIG_DIR / "mvgrl.yaml",
    evaluate=repeated_probe_evaluate,
    callbacks=early_stopping_callbacks,
))

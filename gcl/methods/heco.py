"""HeCo: Self-supervised Heterogeneous Graph Neural Network with Co-contrastive Learning (Wang,
Liu, Shi; KDD 2021), MEOW's baseline.

The recipe assembles a :class:`gcl.modules.HeCoModule`: per-type projections and HeCo's two views
(:class:`gcl.encoders.HeCoEncoder`), the shared Linear-ELU-Linear projection and the
co-contrastive loss with positives from meta-path counts
(:class:`gcl.objectives.CoContrastiveLoss`), trained full batch with Adam by the one loop,
stopping early on the training loss and restoring the best state (MEOW's protocol, the same
callbacks). Embeddings: the meta-path view in eval mode, scored with the HeCo/DMGI protocol
(:func:`gcl.evaluation.heco_evaluate`).

Differences from the reference code (documented in ``docs/methods/heco.md``):

* the positives are computed from the graph (:func:`gcl.objectives.heco_positives`: ties in
  the score are broken by column, the reference by numpy's unstable sort);
* early stopping keeps the state after the optimiser step of the best epoch (the reference the
  state before it, one step earlier);
* the loss is in log-sum-exp form (the reference divides sums of exponentials, plus ``1e-8``).
"""

from __future__ import annotations

from torch import nn

from ..encoders import ProjectionHead
from ..encoders.heco import HeCoEncoder
from ..objectives.heco import CoContrastiveLoss
from .base import CONFIG_DIR, Method, recipe_kwargs, register
from .metapath_protocol import evaluate_meow, meow_callbacks

__all__ = ["heco", "build_heco"]

#: configuration keys read by training and evaluation rather than by the recipe
PROTOCOL_KEYS = ("epochs", "patience", "restore_best", "embed_mode", "eval_lr", "eval_wd",
                 "eval_heads", "eval_steps", "clustering", "cluster_fits", "monitor_heads",
                 "monitor_cluster_fits")


def heco(graph, *, hidden: int = 64, feat_drop: float = 0.3, attn_drop: float = 0.5,
         sample_rate=(7, 1), schema_types=None, tau: float = 0.8, lam: float = 0.5,
         pos_num: int = 5, positives: str = "counts", binary: bool = True,
         row_normalize: bool = True, lr: float = 8e-4, weight_decay: float = 0.0,
         device: str = "auto", seed: int | None = None, progress: bool | None = None):
    """Assemble HeCo for a meta-path graph (defaults: the reference's ACM configuration).

    Args:
        graph: the :class:`gcl.data.MetaPathGraph` (its types and meta-paths size the encoder).
        hidden: embedding width (default: 64).
        feat_drop: dropout after the type projections (default: 0.3).
        attn_drop: dropout on the attention vectors (default: 0.5).
        sample_rate: neighbours sampled per node for each schema type (default: ``(7, 1)``:
            ACM's authors and subjects).
        schema_types: the schema view's neighbour types; ``None``: the first context type of
            each meta-path, see :func:`gcl.modules.heco.schema_neighbors` (default: ``None``).
        tau: temperature (default: 0.8).
        lam: weight of the meta-path-view term of the loss (default: 0.5).
        pos_num: positives per node (default: 5).
        positives: ``"counts"`` (:func:`gcl.objectives.heco_positives` of the graph, the
            paper's rule) or ``"release"`` (the ``pos.npz`` HeCo's authors released with
            ``heco-acm``, ``heco-dblp``, ``heco-aminer``, see
            :func:`gcl.modules.heco.release_positives`) (default: ``"counts"``).
        binary: binarise the meta-path adjacencies, as HeCo's inputs are 0/1 (default: true).
        row_normalize: divide every feature row by its sum, as HeCo's loader (default: true).
        lr: Adam's learning rate (default: 8e-4).
        weight_decay: Adam's weight decay (default: 0).
        device, seed, progress: the loop's settings.

    Returns:
        HeCoModule: ready to ``fit``; add :func:`gcl.methods.metapath_protocol.meow_callbacks` for HeCo's
        early stopping.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> g = synthetic_metapath_graph(num_nodes=30, seed=0)
        >>> module = heco(g, hidden=8, sample_rate=[2, 1], pos_num=3, device="cpu",
        ...               progress=False)
        >>> len(module.fit(g, epochs=2).losses), module.embed(g).shape
        (2, torch.Size([30, 8]))
    """
    from .._utils import check_choice
    from ..modules.heco import HeCoModule, release_positives, schema_neighbors

    source = check_choice(positives, "positives", ("counts", "release"), "heco")

    types = [t for t, _ in schema_neighbors(graph, schema_types)]
    encoder = HeCoEncoder({t: int(x.shape[1]) for t, x in graph.x_dict.items()}, graph.target,
                          types, graph.num_metapaths, hidden=hidden, feat_drop=feat_drop,
                          attn_drop=attn_drop)
    head = ProjectionHead(hidden, hidden, hidden)
    for lin in (head.fc1, head.fc2):  # HeCo's Contrast.proj: xavier_normal, gain 1.414
        nn.init.xavier_normal_(lin.weight, gain=1.414)
    objective = CoContrastiveLoss(tau=tau, lam=lam, pos_num=pos_num,
                                  positives=release_positives if source == "release" else None)
    return HeCoModule(encoder, objective, head, sample_rate=sample_rate, schema_types=types,
                      binary=binary, row_normalize=row_normalize, lr=lr,
                      weight_decay=weight_decay, device=device, seed=seed, progress=progress)


def build_heco(config: dict, graph):
    """HeCo from a configuration (``configs/heco.yaml``; keys: the arguments of :func:`heco`).

    Args:
        config: a configuration from :func:`gcl.methods.load_config` (plus ``device``).
        graph: the meta-path graph.

    Returns:
        HeCoModule: HeCo, ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> from gcl.methods import load_config
        >>> cfg = load_config("heco", "acm", overrides={"hidden": 8})
        >>> module = build_heco({**cfg, "device": "cpu"}, synthetic_metapath_graph(seed=0))
        >>> module.sample_rate, module.objective.pos_num
        ([7, 1], 5)
    """
    return heco(graph, **recipe_kwargs(heco, config))


register(Method(name="heco", build=build_heco, recipe=heco, config_file=CONFIG_DIR / "heco.yaml",
                callbacks=meow_callbacks, evaluate=evaluate_meow, protocol_keys=PROTOCOL_KEYS))

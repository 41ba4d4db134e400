"""CSGCL: Community-Strength-enhanced Graph Contrastive Learning (Chen et al., IJCAI 2023)."""

from __future__ import annotations

import warnings

import torch

from ..augment import Compose
from ..augment.communal import CommunalAttributeVoting, CommunalEdgeDropping
from ..encoders import GCNEncoder, ProjectionHead
from ..objectives.teamup import TeamUp
from ..pipeline import Pipeline
from .base import CONFIG_DIR, PROBE_KEYS, Method, recipe_kwargs, register
from .grace import _pair

__all__ = ["csgcl", "build_csgcl", "check_teamup_starts"]


def csgcl(in_channels: int, *, hidden: int = 256, proj_hidden: int = 64,
          activation: str = "relu", ced_drop_rate=(0.5, 0.7), cav_drop_rate=(0.1, 0.1),
          tau: float = 0.3, t0: int = 1000, gamma: float = 1.0, cav_dense: bool = False,
          ced_threshold: float = 1.0, cav_threshold: float = 1.0,
          community_method: str = "leiden", community_seed: int | None = None,
          legacy_strength: bool = False,
          block_size: int | None = None, lr: float = 0.01, weight_decay: float = 1e-5,
          keep_blocks_mb: float | None = None, precision: str = "fp32",
          device: str = "auto", seed: int | None = None,
          progress: bool | None = None) -> Pipeline:
    """Assemble CSGCL: two views of Communal Edge Dropping + Communal Attribute Voting, a 2-layer
    GCN encoder, the Linear-ELU-Linear head and the Team-up objective (InfoNCE with the community
    strength bias, after ``t0`` warm-up epochs and a ramp of +0.01 γ per epoch).

    The communities are detected once, on the clean graph, when training starts; CED, CAV and
    Team-up share that detection.

    Args:
        in_channels: input feature dimension.
        hidden: encoder output dimension (the first layer has twice as many) (default: 256).
        proj_hidden: hidden size of the projection head (default: 64).
        activation: ``relu``, ``prelu``, ``rrelu`` or ``elu`` (default: ``relu``).
        ced_drop_rate: CED drop rates of view 1 and view 2 (default: ``(0.5, 0.7)``).
        cav_drop_rate: CAV drop rates of view 1 and view 2 (default: ``(0.1, 0.1)``).
        tau: temperature (default: 0.3).
        t0: warm-up epochs of plain InfoNCE; the Team-up term switches on after epoch ``t0``,
            so training needs more epochs than ``t0`` (default: 1000, as the configuration
            file's defaults).
        gamma: final strength weight γ_max (default: 1).
        cav_dense: CAV's dense-feature variant (WikiCS) (default: ``False``).
        ced_threshold: cap on an edge's drop probability (default: 1.0, as the reference runs).
        cav_threshold: cap on a column's drop probability (default: 1.0, as the reference runs).
        community_method: ``leiden`` or ``louvain`` (default: ``leiden``).
        community_seed: seed of the community detection; ``None`` draws one from torch's global
            RNG (seeded per run by ``gcl.methods.run``) (default: ``None``).
        legacy_strength: use the reference's pre-``ecd5763`` strength ``2L_c/m - (D_c/2m)^2``
            (intra-community edges counted twice), with which the paper's numbers were probably
            produced (default: ``False``, the corrected modularity term).
        block_size: Team-up's dense/blockwise choice (see :func:`gcl.objectives.info_nce`).
        lr: Adam learning rate (default: 0.01).
        weight_decay: Adam weight decay (default: 1e-5).
        keep_blocks_mb, precision, device, seed, progress: as for :func:`gcl.methods.grace`.

    Returns:
        Pipeline: ready to ``fit``. Defaults are the reference's Amazon-Photo configuration,
        except ``t0`` (Amazon-Photo: 2000 of 3000 epochs) and ``lr`` (Amazon-Photo: 0.1).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = csgcl(10, hidden=16, proj_hidden=16, t0=1, gamma=0.02, device="cpu",
        ...              progress=False)
        >>> history = pipe.fit(data, epochs=3)
        >>> [e["gamma"] for e in history.epochs]
        [0.0, 0.01, 0.02]
    """
    e1, e2 = _pair(ced_drop_rate, "ced_drop_rate")
    f1, f2 = _pair(cav_drop_rate, "cav_drop_rate")
    if community_seed is None:
        community_seed = int(torch.randint(0, 2**31 - 1, ()).item())
    common = {"method": community_method, "community_seed": int(community_seed),
              "legacy_strength": bool(legacy_strength)}
    views = (
        Compose([CommunalEdgeDropping(e1, ced_threshold, **common),
                 CommunalAttributeVoting(f1, cav_threshold, cav_dense, **common)]),
        Compose([CommunalEdgeDropping(e2, ced_threshold, **common),
                 CommunalAttributeVoting(f2, cav_threshold, cav_dense, **common)]),
    )
    objective = TeamUp(tau=tau, gamma_max=gamma, t0=t0, block_size=block_size,
                       keep_blocks_mb=keep_blocks_mb, precision=precision, **common)
    pipe = Pipeline(
        GCNEncoder(in_channels, hidden, activation=activation),
        objective,
        augment=views,
        head=ProjectionHead(hidden, proj_hidden, hidden),
        lr=lr,
        weight_decay=weight_decay,
        device=device,
        seed=seed,
        progress=progress,
    )
    # Recorded with the run (result records keep each run's history meta).
    pipe.history.meta.update(community_method=community_method,
                             community_seed=int(community_seed))
    return pipe


def build_csgcl(config: dict, data) -> Pipeline:
    """Build CSGCL from a configuration dictionary (see ``configs/csgcl.yaml``); keys that are
    not arguments of :func:`csgcl` (epochs, evaluation settings) are ignored here.

    Args:
        config: a configuration from :func:`gcl.methods.load_config`.
        data: the graph (its feature dimension sizes the encoder).

    Returns:
        Pipeline: CSGCL, ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
        >>> pipe = build_csgcl({**load_config("csgcl", "amazon-photo"), "device": "cpu"}, data)
        >>> pipe.objective.t0, pipe.objective.gamma_max
        (2000.0, 1.0)
    """
    check_teamup_starts(config)
    return csgcl(data.num_features, **recipe_kwargs(csgcl, config))


def check_teamup_starts(config: dict) -> None:
    """Warn when a configuration trains no more epochs than Team-up's warm-up ``t0``: the
    community-strength term would then never switch on, and CSGCL would train as plain
    InfoNCE on community-aware views.

    Args:
        config: a configuration with ``epochs`` and ``t0`` (either may be absent).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     check_teamup_starts({"epochs": 200, "t0": 1000})
        >>> "never switches on" in str(caught[0].message)
        True
    """
    epochs, t0 = config.get("epochs"), config.get("t0", 1000)
    if epochs is not None and t0 is not None and int(epochs) <= int(t0):
        warnings.warn(f"CSGCL: epochs={epochs} is not above the Team-up start t0={t0}, so the "
                      "community-strength term never switches on (plain InfoNCE on CED/CAV "
                      f"views); train more epochs or lower t0 (--set t0={max(int(epochs) // 2, 0)})",
                      UserWarning, stacklevel=2)


register(Method(
    name="csgcl",
    recipe=csgcl,
    protocol_keys=PROBE_KEYS,
    build=build_csgcl,
    config_file=CONFIG_DIR / "csgcl.yaml",
))

"""CSGCL's "Team-up" objective: InfoNCE with community strength added to every similarity."""

from __future__ import annotations

import torch
from torch import Tensor

from .._utils import check_positive
from .base import Step
from .infonce import InfoNCE

__all__ = ["TeamUp", "team_up_gamma"]


def team_up_gamma(epoch: int | None, t0: float, gamma_max: float, ramp: float = 100.0) -> float:
    """The Team-up schedule ``γ(t) = min(max(0, (t - t0) / ramp), γ_max)``.

    Epochs count from 1: plain InfoNCE up to epoch ``t0``, then γ grows by ``1/ramp`` per epoch
    until it saturates at ``γ_max``. ``epoch=None`` (no training step known) gives ``γ_max``.

    Args:
        epoch: the current epoch, counted from 1, or ``None``.
        t0: warm-up epochs during which γ is 0.
        gamma_max: the final γ.
        ramp: epochs per unit of γ (default: 100, the reference's fixed value).

    Returns:
        float: γ at ``epoch``.

    Example:
        >>> [team_up_gamma(t, t0=1000, gamma_max=10) for t in (1, 1000, 1001, 1250, 3000)]
        [0.0, 0.0, 0.01, 2.5, 10.0]
    """
    if epoch is None:
        return float(gamma_max)
    return float(min(max(0.0, (epoch - t0) / ramp), gamma_max))


class TeamUp(InfoNCE):
    r"""InfoNCE with the strength-enhanced similarity
    :math:`\tilde\theta(i, j) = \theta(h_i, h'_j) + \gamma (s_i + s_j)` on every entry of the
    inter-view and intra-view similarity matrices (CSGCL, Chen et al., 2023).

    The :math:`\gamma s_i` term is the same for every entry of anchor row :math:`i`, positive
    included, so it cancels in the softmax; the loss is InfoNCE with the column bias
    :math:`\gamma s_j / \tau` on the logits, computed with log-sum-exp (stable for any γ, τ) and
    memory-bounded above :data:`gcl.objectives.infonce.DENSE_MAX_NODES` nodes. With γ = 0 it is
    exactly :class:`InfoNCE`. γ follows :func:`team_up_gamma` of ``step.epoch``.

    Args:
        tau: temperature τ > 0 (default: 0.5).
        gamma_max: the final γ (the reference's ``gamma``) (default: 1.0).
        t0: warm-up epochs of plain InfoNCE (default: 0).
        ramp: epochs per unit of γ (default: 100, the reference's fixed value).
        node_strength: ``[N]`` community strength of each node; by default :meth:`setup` takes it
            from the communities of the clean graph (:func:`gcl.augment.get_communities`).
        method: community detection method when detecting (default: ``"leiden"``).
        community_seed: detection seed (default: 0; the same default as CAV/CED, so all share
            one cached detection).
        intra_view, symmetric, block_size, keep_blocks_mb: as in :class:`InfoNCE`.
        legacy_strength: detect with the reference's earlier doubled strength formula
            (default: ``False``).
        precision: ``"fp32"`` (default, exact), ``"tf32"`` or ``"bf16"`` similarity products,
            as in :class:`InfoNCE`.

    Example:
        >>> loss_fn = TeamUp(tau=0.5, gamma_max=1.0, t0=0, node_strength=torch.rand(6))
        >>> h1, h2 = torch.randn(6, 4), torch.randn(6, 4)
        >>> loss_fn(h1, h2).dim()
        0
    """

    def __init__(self, tau: float = 0.5, gamma_max: float = 1.0, t0: float = 0, ramp: float = 100.0,
                 node_strength: Tensor | None = None, method: str = "leiden",
                 community_seed: int = 0, intra_view: bool = True, symmetric: bool = True,
                 block_size: int | None = None, legacy_strength: bool = False,
                 keep_blocks_mb: float | None = None, precision: str = "fp32") -> None:
        super().__init__(tau=tau, intra_view=intra_view, symmetric=symmetric,
                         block_size=block_size, keep_blocks_mb=keep_blocks_mb,
                         precision=precision)
        self.gamma_max = float(check_positive(gamma_max, "gamma_max", "TeamUp", allow_zero=True))
        self.t0 = float(check_positive(t0, "t0", "TeamUp", allow_zero=True))
        self.ramp = float(check_positive(ramp, "ramp", "TeamUp"))
        self.method = method
        self.community_seed = int(community_seed)
        self.legacy_strength = bool(legacy_strength)
        self.node_strength: Tensor | None = None
        self._strength_spread = 0.0
        if node_strength is not None:
            self.set_strength(node_strength)

    def set_strength(self, node_strength: Tensor) -> None:
        """Use ``node_strength`` (``[N]``) as the per-node community strength."""
        s = torch.as_tensor(node_strength, dtype=torch.float32)
        if s.dim() != 1:
            raise ValueError(f"TeamUp: node_strength must be a [N] tensor, got {list(s.shape)}")
        self.node_strength = s.detach()
        # read once here, so that the loss need not read the bias on the device every step
        self._strength_spread = float(s.max() - s.min()) if s.numel() else 0.0

    def setup(self, data) -> None:
        if self.node_strength is None:
            from ..augment.communities import get_communities

            comms = get_communities(data, method=self.method, seed=self.community_seed,
                                    legacy_strength=self.legacy_strength)
            self.set_strength(comms.node_strength)

    def gamma(self, epoch: int | None) -> float:
        """γ at ``epoch`` (see :func:`team_up_gamma`)."""
        return team_up_gamma(epoch, self.t0, self.gamma_max, self.ramp)

    def column_bias(self, step: Step | None, num_nodes: int) -> Tensor | None:
        """``γ(epoch) s_j / τ`` for each column ``j``, or ``None`` while γ = 0."""
        gamma = self.gamma(None if step is None else step.epoch)
        if step is not None:
            step.log("gamma", gamma)
        if gamma == 0.0:
            return None
        if self.node_strength is None:
            raise ValueError("TeamUp needs node strengths: pass node_strength=... or call "
                             "setup(data) on the clean graph (gcl.Pipeline does this)")
        s = self.node_strength
        if step is not None and step.nodes is not None:
            s = s[step.nodes.to(s.device)]
        if s.numel() != num_nodes:
            raise ValueError(f"TeamUp: node_strength has {s.numel()} entries but the views have "
                             f"{num_nodes} nodes")
        return (gamma / self.tau) * s

    def column_bias_spread(self, step: Step | None) -> float | None:
        """``γ(epoch) (max s − min s) / τ``, bounding the spread of :meth:`column_bias` on any
        node subset."""
        return self.gamma(None if step is None else step.epoch) / self.tau * self._strength_spread

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        if self.node_strength is not None and self.node_strength.device != h1.device:
            self.node_strength = self.node_strength.to(h1.device)
        return super().forward(h1, h2, step)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, gamma_max={self.gamma_max}, t0={self.t0}, "
                f"ramp={self.ramp}")

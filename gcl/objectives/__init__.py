"""Contrastive objectives and regularizers.

Example:
    >>> from gcl.objectives import InfoNCE
    >>> objective = InfoNCE(tau=0.4)
"""

from .base import Objective, Regularizer, Step
from .infonce import InfoNCE, info_nce
from .pamc import PamCLoss, PamCObjective, influence_matrix, pamc_loss

__all__ = ["Objective", "Regularizer", "Step", "InfoNCE", "info_nce", "PamCLoss", "PamCObjective",
           "pamc_loss", "influence_matrix"]

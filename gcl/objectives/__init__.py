"""Contrastive objectives and regularizers.

Example:
    >>> from gcl.objectives import InfoNCE
    >>> objective = InfoNCE(tau=0.4)
"""

from .base import Objective, Regularizer, Step
from .infonce import InfoNCE, info_nce
from .pot import POT, add_pot

__all__ = ["Objective", "Regularizer", "Step", "InfoNCE", "info_nce", "POT", "add_pot"]

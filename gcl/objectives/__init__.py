"""Contrastive objectives and regularizers.

Example:
    >>> from gcl.objectives import InfoNCE
    >>> objective = InfoNCE(tau=0.4)
"""

from .barlow import BarlowTwins, barlow_twins_loss
from .base import Objective, Regularizer, Step
from .bootstrap import BootstrapLoss, bootstrap_loss
from .cca import CCALoss, cca_loss
from .dgi import DGIObjective
from .heco import CoContrastiveLoss, co_contrastive_loss, heco_positives
from .infonce import InfoNCE, info_nce
from .meow import AdaMEOWLoss, MEOWLoss
from .mvgrl import MVGRLObjective
from .pamc import PamCObjective, influence_matrix, pamc_loss
from .pot import POT, add_pot
from .teamup import TeamUp, team_up_gamma

__all__ = ["Objective", "Regularizer", "Step", "InfoNCE", "info_nce", "TeamUp", "team_up_gamma",
           "POT", "add_pot", "PamCObjective", "pamc_loss", "influence_matrix", "MEOWLoss",
           "AdaMEOWLoss", "BootstrapLoss", "bootstrap_loss", "CoContrastiveLoss",
           "co_contrastive_loss", "heco_positives", "DGIObjective", "MVGRLObjective",
           "BarlowTwins", "barlow_twins_loss", "CCALoss", "cca_loss"]

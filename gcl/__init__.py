"""gcl — graph contrastive learning on PyTorch and PyTorch Geometric.

Every method is a recipe that assembles a few parts (augmentations, an encoder, a head, an
objective and optional regularizers) into a training module — :class:`Pipeline` for two-view
methods — and one training loop (:class:`Trainer`) trains them all.

Example:
    >>> import gcl
    >>> from gcl.augment import Compose, DropEdge, MaskFeature
    >>> from gcl.encoders import GCNEncoder, ProjectionHead
    >>> from gcl.objectives import InfoNCE
    >>> data = gcl.data.synthetic(num_nodes=80, num_features=12, num_classes=4, seed=0)
    >>> pipe = gcl.Pipeline(GCNEncoder(12, 16, activation="relu"), InfoNCE(tau=0.5),
    ...                     augment=Compose([DropEdge(0.2), MaskFeature(0.2)]),
    ...                     head=ProjectionHead(16, 16), lr=0.01, device="cpu", progress=False)
    >>> _ = pipe.fit(data, epochs=3)
    >>> pipe.embed(data).shape
    torch.Size([80, 16])

``import gcl`` needs only torch and torch_geometric; the data layer, evaluation and recipes import
numpy, scikit-learn, ogb, igraph and PyYAML where they use them.
"""

from __future__ import annotations

import importlib

from . import augment, encoders, objectives
from ._utils import resolve_device, seed_everything
from .callbacks import Callback, CostEstimate, EarlyStopping, LambdaCallback, PeriodicEval
from .pipeline import Pipeline
from .training import History, NonFiniteLossError, Trainer, TrainingModule

__version__ = "0.1.0"

__all__ = [
    "Pipeline",
    "TrainingModule",
    "Trainer",
    "History",
    "NonFiniteLossError",
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "PeriodicEval",
    "CostEstimate",
    "seed_everything",
    "resolve_device",
    "augment",
    "encoders",
    "objectives",
    "data",
    "evaluation",
    "methods",
    "modules",
    "__version__",
]

_LAZY = {"data", "evaluation", "methods", "modules"}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gcl' has no attribute {name!r}")

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

``import gcl`` itself imports nothing heavy: every name below is imported on first use (PEP 562),
so that ``gcl --help`` answers at once. Training needs torch and torch_geometric; the data layer,
evaluation and recipes import numpy, scikit-learn, ogb, igraph and PyYAML where they use them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first access)
_EXPORTS = {
    "Pipeline": ".pipeline",
    "TrainingModule": ".training",
    "Trainer": ".training",
    "History": ".training",
    "NonFiniteLossError": ".training",
    "Callback": ".callbacks",
    "CostEstimate": ".callbacks",
    "EarlyStopping": ".callbacks",
    "LambdaCallback": ".callbacks",
    "PeriodicEval": ".callbacks",
    "seed_everything": "._utils",
    "resolve_device": "._utils",
}
_SUBMODULES = {"augment", "encoders", "objectives", "data", "evaluation", "methods", "modules",
               "training"}

__all__ = [*_EXPORTS, *sorted(_SUBMODULES), "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    else:
        raise AttributeError(f"module 'gcl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

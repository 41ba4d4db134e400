"""Method recipes: each assembles parts into a :class:`gcl.Pipeline` and carries its per-dataset
configuration and evaluation protocol.

Example:
    >>> from gcl.methods import available_methods, load_config
    >>> "grace" in available_methods()
    True
    >>> load_config("grace", "cora")["tau"]
    0.4
"""

from .base import (
    CONFIG_DIR,
    Method,
    available_methods,
    get_method,
    load_config,
    parse_override,
    recipe_kwargs,
    register,
)
from .csgcl import build_csgcl, csgcl
from .gca import build_gca, gca
from .gcn_pamc import build_gcn_pamc, gcn_pamc
from .grace import build_grace, grace
from .meow import build_adameow, build_meow
from .pamc import PamCTrainer, build_pamc
from .runner import default_evaluate, default_fit, run

__all__ = [
    "Method",
    "register",
    "get_method",
    "available_methods",
    "load_config",
    "parse_override",
    "recipe_kwargs",
    "CONFIG_DIR",
    "grace",
    "build_grace",
    "PamCTrainer",
    "gcn_pamc",
    "build_gcn_pamc",
    "build_pamc",
    "build_meow",
    "build_adameow",
    "run",
    "default_evaluate",
    "default_fit",
    "csgcl",
    "build_csgcl",
    "gca",
    "build_gca",
]

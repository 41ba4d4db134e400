"""Method recipes: each assembles parts into a training module of the one loop (a
:class:`gcl.Pipeline`, a :class:`gcl.modules.MetaPathModule` or a
:class:`gcl.modules.DeepClusteringModule`) and carries its per-dataset configuration, training
callbacks and evaluation protocol.

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
    build_from_recipe,
    get_method,
    load_config,
    parse_override,
    recipe_kwargs,
    register,
)
from .bgrl import bgrl
from .ccassg import ccassg
from .csgcl import build_csgcl, csgcl
from .dgi import dgi
from .gbt import build_gbt, gbt
from .gca import gca
from .gcn_pamc import build_gcn_pamc, gcn_pamc
from .grace import grace
from .heco import build_heco, heco
from .meow import adameow, build_metapath_method, meow
from .mvgrl import mvgrl
from .pamc import build_pamc, pamc, pamc_nodepair
from .runner import default_evaluate, default_fit, protocol_callbacks, run

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
    "pamc",
    "pamc_nodepair",
    "meow",
    "adameow",
    "gcn_pamc",
    "build_gcn_pamc",
    "build_pamc",
    "build_metapath_method",
    "build_from_recipe",
    "run",
    "default_evaluate",
    "default_fit",
    "protocol_callbacks",
    "csgcl",
    "build_csgcl",
    "gca",
    "bgrl",
    "heco",
    "build_heco",
    "dgi",
    "mvgrl",
    "gbt",
    "build_gbt",
    "ccassg",
]

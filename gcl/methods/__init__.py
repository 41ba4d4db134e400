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
    get_method,
    load_config,
    parse_override,
    recipe_kwargs,
    register,
)
from .bgrl import bgrl, build_bgrl
from .ccassg import build_ccassg, ccassg
from .csgcl import build_csgcl, csgcl
from .dgi import build_dgi, dgi
from .gbt import build_gbt, gbt
from .gca import build_gca, gca
from .gcn_pamc import build_gcn_pamc, gcn_pamc
from .grace import build_grace, grace
from .heco import build_heco, heco
from .meow import adameow, build_adameow, build_meow, meow
from .mvgrl import build_mvgrl, mvgrl
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
    "build_grace",
    "pamc",
    "pamc_nodepair",
    "meow",
    "adameow",
    "gcn_pamc",
    "build_gcn_pamc",
    "build_pamc",
    "build_meow",
    "build_adameow",
    "run",
    "default_evaluate",
    "default_fit",
    "protocol_callbacks",
    "csgcl",
    "build_csgcl",
    "gca",
    "build_gca",
    "bgrl",
    "build_bgrl",
    "heco",
    "build_heco",
    "dgi",
    "build_dgi",
    "mvgrl",
    "build_mvgrl",
    "gbt",
    "build_gbt",
    "ccassg",
    "build_ccassg",
]

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
from .grace import build_grace, grace
from .meow import build_adameow, build_meow
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
    "build_meow",
    "build_adameow",
    "run",
    "default_evaluate",
    "default_fit",
]

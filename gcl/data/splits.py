"""Train/validation/test splits as boolean node masks.

The graph-contrastive-learning convention for graphs without a public split (Amazon, Coauthor)
is a seeded random split of 10/10/80 percent of the nodes, or 1/1/98. :func:`random_split` makes
one or several such splits; :func:`parse_split` reads the ``split=`` strings that
:func:`gcl.data.load` accepts.

Split strings:

* ``"public"`` — the dataset's published split (Planetoid, WikiCS's 20 columns);
* ``"full"`` — Planetoid only: every node outside the public validation and test sets trains;
* ``"ogb"`` — the OGB split from ``get_idx_split()``;
* ``"random"`` — 10% train, 10% validation, 80% test;
* ``"random:TRAIN:VAL"`` — e.g. ``"random:0.01:0.01"`` for 1/1/98. Numbers that are all
  below 1 are fractions; otherwise they are percentages (``"random:1:1"`` is 1/1/98 too).
  A third number (the test share) may be given; it must make the three add up to the whole.
  ``-`` works as a separator as well (``"random-0.01-0.01"``, the form of ``data.split_name``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from .._utils import check_allocation

__all__ = ["random_split", "parse_split", "SplitSpec", "index_to_mask"]

#: the most random splits :func:`random_split` draws
MAX_SPLITS = 10_000


def _check_ratio(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


def random_split(num_nodes: int, train_ratio: float = 0.1, val_ratio: float = 0.1,
                 num_splits: int = 1, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Seeded random train/validation/test masks; the rest of the nodes after train and
    validation is the test set.

    Each split draws a fresh permutation of the nodes from one :class:`torch.Generator` seeded
    with ``seed``; the first ``round(train_ratio * N)`` nodes train, the next
    ``round(val_ratio * N)`` validate and the rest test. Split ``s`` is the ``s``-th draw, so
    column 0 of a multi-split call equals the single split with the same seed. The global RNG
    is not touched.

    Args:
        num_nodes: number of nodes ``N`` (positive).
        train_ratio: fraction of nodes for training, in (0, 1) (default: 0.1).
        val_ratio: fraction for validation, in [0, 1) (default: 0.1).
        num_splits: number of independent splits ``S`` (default: 1).
        seed: the seed (default: 0).

    Returns:
        tuple: ``(train_mask, val_mask, test_mask)``, boolean tensors of shape ``[N]`` when
        ``num_splits == 1``, else ``[N, S]``. The three are disjoint and cover every node.

    Raises:
        ValueError: for ratios outside their range, ``train_ratio + val_ratio >= 1``, a split
            that would leave the training or test set empty, or a bad ``num_nodes``,
            ``num_splits`` or ``seed``.

    Example:
        >>> tr, va, te = random_split(100, 0.1, 0.1, seed=0)
        >>> int(tr.sum()), int(va.sum()), int(te.sum())
        (10, 10, 80)
        >>> random_split(100, num_splits=3)[0].shape
        torch.Size([100, 3])
    """
    for value, name in ((num_nodes, "num_nodes"), (num_splits, "num_splits")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    train_ratio = _check_ratio(train_ratio, "train_ratio")
    val_ratio = _check_ratio(val_ratio, "val_ratio")
    if train_ratio <= 0:
        raise ValueError(f"train_ratio must be > 0, got {train_ratio}")
    if train_ratio + val_ratio >= 1.0:
        raise ValueError(
            f"train_ratio + val_ratio must be < 1 so that some nodes remain for testing, got "
            f"{train_ratio} + {val_ratio} = {train_ratio + val_ratio}"
        )
    n_train = int(round(train_ratio * num_nodes))
    n_val = int(round(val_ratio * num_nodes))
    if n_train == 0:
        raise ValueError(
            f"train_ratio={train_ratio} of {num_nodes} nodes rounds to an empty training set; "
            "use a larger ratio or a larger graph"
        )
    if n_train + n_val >= num_nodes:
        raise ValueError(
            f"train_ratio={train_ratio} and val_ratio={val_ratio} of {num_nodes} nodes leave no "
            "node for testing; use smaller ratios"
        )
    if num_splits > MAX_SPLITS:
        raise ValueError(f"num_splits={num_splits} is more than the {MAX_SPLITS} random splits "
                         "gcl draws at most; use fewer splits")
    check_allocation(3 * num_nodes * num_splits + 8 * num_nodes,
                     f"{num_splits} random splits of {num_nodes} nodes (three [N, S] masks)",
                     "use fewer splits (num_splits)")
    gen = torch.Generator().manual_seed(seed)
    shape = (num_nodes, num_splits)
    train = torch.zeros(shape, dtype=torch.bool)
    val = torch.zeros(shape, dtype=torch.bool)
    test = torch.zeros(shape, dtype=torch.bool)
    for s in range(num_splits):
        perm = torch.randperm(num_nodes, generator=gen)
        train[perm[:n_train], s] = True
        val[perm[n_train:n_train + n_val], s] = True
        test[perm[n_train + n_val:], s] = True
    if num_splits == 1:
        return train[:, 0].clone(), val[:, 0].clone(), test[:, 0].clone()
    return train, val, test


def index_to_mask(index: Tensor, num_nodes: int) -> Tensor:
    """A boolean ``[num_nodes]`` mask that is ``True`` at ``index``.

    Args:
        index: 1-D integer node indices.
        num_nodes: the mask length.

    Returns:
        Tensor: the boolean mask.

    Example:
        >>> index_to_mask(torch.tensor([0, 2]), 4).tolist()
        [True, False, True, False]
    """
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[index.reshape(-1).long()] = True
    return mask


@dataclass(frozen=True)
class SplitSpec:
    """A parsed ``split=`` string.

    Attributes:
        kind: ``"public"``, ``"full"``, ``"ogb"`` or ``"random"``.
        train_ratio: the training fraction (random splits only).
        val_ratio: the validation fraction (random splits only).

    Example:
        >>> SplitSpec("random", 0.1, 0.1).name
        'random-0.1-0.1'
    """

    kind: str
    train_ratio: float | None = None
    val_ratio: float | None = None

    @property
    def name(self) -> str:
        """The split's name as stored in ``data.split_name`` (e.g. ``"random-0.1-0.1"``)."""
        if self.kind == "random":
            return f"random-{self.train_ratio:g}-{self.val_ratio:g}"
        return self.kind


_FIXED = {"public": "public", "full": "full", "ogb": "ogb"}


def parse_split(split: str) -> SplitSpec:
    """Read a ``split=`` string (see the module docstring for the syntax).

    Args:
        split: e.g. ``"public"``, ``"random"``, ``"random:0.01:0.01"``, ``"random:1:1:98"``.

    Returns:
        SplitSpec: the parsed split.

    Raises:
        ValueError: for a malformed string or ratios that do not leave a test set.

    Example:
        >>> parse_split("random:1:1:98")
        SplitSpec(kind='random', train_ratio=0.01, val_ratio=0.01)
    """
    if not isinstance(split, str):
        raise ValueError(f"split must be a string such as 'public' or 'random:0.1:0.1', "
                         f"got {split!r}")
    text = split.strip().lower()
    if text in _FIXED:
        return SplitSpec(_FIXED[text])
    parts = re.split(r"[:\-/]", text)
    if parts[0] != "random" or len(parts) not in (1, 3, 4):
        raise ValueError(
            f"unknown split {split!r}: use 'public', 'full', 'ogb', 'random' (10/10/80) or "
            "'random:TRAIN:VAL' such as 'random:0.01:0.01' (fractions) or 'random:1:1' "
            "(percentages)"
        )
    if len(parts) == 1:
        return SplitSpec("random", 0.1, 0.1)
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError:
        raise ValueError(f"split {split!r}: the ratios must be numbers, e.g. "
                         "'random:0.1:0.1'") from None
    if any(not math.isfinite(v) or v < 0 for v in numbers):
        raise ValueError(f"split {split!r}: ratios must be non-negative numbers")
    if any(v >= 1 for v in numbers):
        numbers = [v / 100.0 for v in numbers]  # percentages
    train, val = numbers[0], numbers[1]
    if len(numbers) == 3 and not math.isclose(sum(numbers), 1.0, abs_tol=1e-6):
        raise ValueError(f"split {split!r}: train, validation and test shares must add up to "
                         f"the whole (100% or 1.0), got {sum(numbers):g}")
    train = _check_ratio(train, "the training share")
    val = _check_ratio(val, "the validation share")
    if train <= 0 or train + val >= 1:
        raise ValueError(f"split {split!r}: need 0 < train and train + validation < 1, so that "
                         "nodes remain for testing")
    return SplitSpec("random", round(train, 10), round(val, 10))

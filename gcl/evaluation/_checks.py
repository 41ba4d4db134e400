"""Checks of the inputs of the linear probe: embeddings, labels and train/val/test masks.

Masks may be boolean ``[N]`` or ``[N, S]`` or 1-D index tensors; index tensors may not repeat a
node (an integer 0/1 mask would otherwise be read as the indices 0 and 1), and the training,
validation and test nodes of a split must be disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class _Split:
    """Node sets of one role (train/val/test) for ``S`` splits, padded to one length."""

    idx: Tensor       # [S, n_max] node indices (0 where padded)
    valid: Tensor     # [S, n_max] bool, False where padded
    counts: Tensor    # [S] number of nodes per split

    @property
    def num_splits(self) -> int:
        return self.idx.size(0)


def _check_embeddings(z: Any) -> Tensor:
    if not isinstance(z, Tensor):
        raise ValueError(f"embeddings z must be a torch.Tensor, got {type(z).__name__}")
    if z.dim() != 2:
        raise ValueError(f"embeddings z must be a 2-D [num_nodes, dim] tensor, got shape "
                         f"{list(z.shape)}")
    if z.size(0) == 0 or z.size(1) == 0:
        raise ValueError(f"embeddings z are empty (shape {list(z.shape)})")
    if not z.is_floating_point():
        raise ValueError(f"embeddings z must be a floating tensor, got {z.dtype}; use z.float()")
    finite = torch.isfinite(z)
    if not bool(finite.all()):
        bad = (~finite).any(dim=1).nonzero().flatten()
        raise ValueError(
            f"embeddings z hold NaN or infinite values in {bad.numel()} row(s) (first: node "
            f"{int(bad[0])}); the encoder probably diverged: lower its learning rate"
        )
    return z


def _check_labels(y: Any, n: int) -> Tensor:
    if not isinstance(y, Tensor):
        y = torch.as_tensor(y)
    if y.dim() == 2 and y.size(1) == 1:  # OGB-style [N, 1]
        y = y.view(-1)
    if y.dim() != 1:
        raise ValueError(f"labels y must be a 1-D [num_nodes] tensor, got shape {list(y.shape)}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"labels y must hold integer class ids, got dtype {y.dtype}; use y.long()")
    if y.numel() != n:
        raise ValueError(
            f"labels y have {y.numel()} entries but the embeddings z have {n} rows; "
            "they need one label per embedded node"
        )
    return y.long()


def _split_indices(mask: Any, n: int, name: str) -> _Split:
    """Turn a bool [N] / bool [N, S] mask or a 1-D index tensor into padded per-split indices."""
    if not isinstance(mask, Tensor):
        try:
            mask = torch.as_tensor(mask)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a boolean mask or an index tensor, got "
                             f"{type(mask).__name__}") from err
    mask = mask.detach().cpu()
    if mask.dtype == torch.bool:
        if mask.dim() == 1:
            if mask.numel() != n:
                raise ValueError(f"{name} is a boolean mask of length {mask.numel()} but there "
                                 f"are {n} nodes; it needs one entry per node")
            columns = [mask.nonzero().flatten()]
        elif mask.dim() == 2:
            if mask.size(0) != n:
                hint = (f"; it looks transposed: pass {name}.t()" if mask.size(1) == n else "")
                raise ValueError(f"{name} has shape {list(mask.shape)} but a multi-split mask "
                                 f"must be [num_nodes={n}, num_splits]{hint}")
            columns = [mask[:, s].nonzero().flatten() for s in range(mask.size(1))]
            if not columns:
                raise ValueError(f"{name} has shape {list(mask.shape)}: no splits at all")
        else:
            raise ValueError(f"{name} must be a boolean [N] or [N, num_splits] mask, got shape "
                             f"{list(mask.shape)}")
    elif mask.dtype in (torch.int8, torch.int16, torch.int32, torch.int64):
        if mask.dim() != 1:
            raise ValueError(f"{name} as an index tensor must be 1-D, got shape "
                             f"{list(mask.shape)}; for several splits pass a boolean "
                             "[num_nodes, num_splits] mask")
        if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) >= n):
            bad = int(mask.min()) if int(mask.min()) < 0 else int(mask.max())
            raise ValueError(f"{name} holds node index {bad}, outside [0, {n - 1}]")
        values, counts = torch.unique(mask.long(), return_counts=True)
        if bool((counts > 1).any()):
            twice = int(values[counts > 1][0])
            hint = (f"; it looks like a 0/1 mask stored as integers: pass {name}.bool()"
                    if mask.numel() == n and bool(((values == 0) | (values == 1)).all()) else
                    "; pass each node once (torch.unique)")
            raise ValueError(f"{name} is an index tensor that holds node {twice} "
                             f"{int(counts.max())} times{hint}")
        columns = [mask.long()]
    else:
        raise ValueError(f"{name} must be a boolean mask or an integer index tensor, got dtype "
                         f"{mask.dtype}; convert it with .bool() (a mask) or .long() (indices)")
    for s, col in enumerate(columns):
        if col.numel() == 0:
            which = f" (split {s})" if len(columns) > 1 else ""
            raise ValueError(f"{name}{which} selects no nodes: every split needs at least one")
    counts = torch.tensor([c.numel() for c in columns])
    width = int(counts.max())
    idx = torch.zeros(len(columns), width, dtype=torch.long)
    valid = torch.zeros(len(columns), width, dtype=torch.bool)
    for s, col in enumerate(columns):
        idx[s, : col.numel()] = col
        valid[s, : col.numel()] = True
    return _Split(idx, valid, counts)


def _check_disjoint(parts: dict, n: int, num_splits: int) -> None:
    """Training, validation and test nodes of each split must not overlap."""
    names = list(parts)
    for s in range(num_splits):
        owner = torch.full((n,), -1, dtype=torch.long)
        for j, name in enumerate(names):
            part = parts[name]
            col = min(s, part.num_splits - 1)
            idx = part.idx[col][part.valid[col]]
            clash = owner[idx] >= 0
            if bool(clash.any()):
                first = int(idx[clash][0])
                which = f" in split {s}" if num_splits > 1 else ""
                raise ValueError(
                    f"{names[int(owner[first])]} and {name} share {int(clash.sum())} node(s)"
                    f"{which} (first: node {first}); a probe evaluated on nodes it trained or "
                    "selected on is meaningless: make the masks disjoint (e.g. test_mask & "
                    "~train_mask)")
            owner[idx] = j

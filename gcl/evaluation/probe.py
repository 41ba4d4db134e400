"""The GCA protocol's linear probe: logistic regression in torch on frozen embeddings.

GCA's evaluation (also CSGCL's and the POT code's): the test scores at the step of best
validation accuracy, on the graph's split (10/10/80 at random where it has none). GRACE's own
protocol differs (scikit-learn, L2-normalised embeddings, a grid search over ``C``, random
10/90 splits): :func:`gcl.evaluation.grace_probe`.

The probe is one :class:`torch.nn.Linear` (Xavier-uniform weight, zero bias) trained full-batch
with Adam on the training nodes (log-softmax + NLL). Every ``eval_every`` steps it scores the
validation and test nodes, and it reports the test scores at the step with the best validation
accuracy (the earliest such step on ties).

Several splits (the 20 public splits of WikiCS, given as ``[N, S]`` boolean masks) are trained
*at once*: one weight matrix per split, stacked into a batch. Adam is element-wise, so this is
exactly the same as training the ``S`` probes one after the other, only without ``S`` times the
Python overhead.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._utils import check_allocation, check_positive, make_generator, resolve_device
from ._checks import _check_disjoint, _check_embeddings, _check_labels, _Split, _split_indices
from .metrics import classification_scores, summarize

__all__ = ["LogisticRegression", "linear_probe"]


class LogisticRegression(nn.Module):
    """Multinomial logistic regression: one linear layer producing class logits.

    The weight is drawn Xavier-uniform, ``U(-a, a)`` with ``a = sqrt(6 / (in_dim +
    num_classes))``, and the bias starts at zero, as the ``LogReg`` of GCA's evaluation.

    Args:
        in_dim: embedding size.
        num_classes: number of classes.
        generator: a :class:`torch.Generator` for the initial weight (default: torch's global
            RNG).

    Example:
        >>> clf = LogisticRegression(16, 3, generator=torch.Generator().manual_seed(0))
        >>> clf(torch.randn(5, 16)).shape
        torch.Size([5, 3])
        >>> clf.fc.bias.tolist()
        [0.0, 0.0, 0.0]
    """

    def __init__(self, in_dim: int, num_classes: int, *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_dim = check_positive(in_dim, "in_dim", "LogisticRegression", integer=True)
        self.num_classes = check_positive(num_classes, "num_classes", "LogisticRegression",
                                          integer=True)
        # skip nn.Linear's own (global-RNG) initialisation: the weight is drawn once, below
        self.fc = nn.utils.skip_init(nn.Linear, in_dim, num_classes)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw a fresh Xavier-uniform weight (from ``generator`` if given) and zero the bias.

        Args:
            generator: a :class:`torch.Generator` (default: torch's global RNG).

        Example:
            >>> clf = LogisticRegression(4, 2)
            >>> clf.reset_parameters(torch.Generator().manual_seed(1))
        """
        bound = math.sqrt(6.0 / (self.in_dim + self.num_classes))
        gen_device = generator.device if generator is not None else self.fc.weight.device
        with torch.no_grad():
            u = torch.rand(self.fc.weight.shape, generator=generator, device=gen_device,
                           dtype=self.fc.weight.dtype)
            self.fc.weight.copy_(u * (2.0 * bound) - bound)
            self.fc.bias.zero_()

    def forward(self, z: Tensor) -> Tensor:
        """Class logits ``z W^T + b``.

        Args:
            z: embeddings ``[N, in_dim]``.

        Returns:
            Tensor: logits ``[N, num_classes]``.

        Example:
            >>> LogisticRegression(3, 2)(torch.zeros(4, 3)).tolist()
            [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
        """
        return self.fc(z)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, num_classes={self.num_classes}"


def _check_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    return check_positive(value, name, "linear_probe", allow_zero=allow_zero, integer=True)


# -- the probe ---------------------------------------------------------------------------------


def linear_probe(z: Tensor, y: Tensor, train_mask: Any, val_mask: Any, test_mask: Any, *,
                 epochs: int = 3000, lr: float = 0.01, weight_decay: float = 0.0,
                 eval_every: int = 20, device: str | torch.device | None = None, seed: int = 0,
                 num_classes: int | None = None, return_predictions: bool = False,
                 selection: str = "best_val") -> dict:
    """Linear-probe node classification on frozen embeddings (the GCA protocol).

    A :class:`LogisticRegression` is trained on the (detached) embeddings of the training nodes
    with full-batch Adam and cross-entropy for ``epochs`` steps. After every ``eval_every``-th
    step, and after the last step, it scores the validation nodes; the reported test scores are
    those of the step with the best validation accuracy, the earliest one on ties. With
    ``val_mask=None`` there is no model selection: the test scores of the last step are
    reported.

    Masks may be boolean ``[N]`` (one split), boolean ``[N, S]`` (``S`` splits, one column each,
    as WikiCS's 20 public splits) or 1-D index tensors. A mask with one column is shared by all
    splits (WikiCS's single test mask). Each split gets its own probe, initialised from one
    local :class:`torch.Generator` seeded with ``seed`` (split ``s`` takes the ``s``-th draw), so
    the global RNG is left untouched and column 0 of a multi-split run equals the single-split
    run on that column.

    Args:
        z: embeddings ``[N, d]`` (detached; half precision is promoted to float32).
        y: integer labels ``[N]`` (or ``[N, 1]``).
        train_mask: training nodes.
        val_mask: validation nodes for model selection, or ``None`` for the last step.
        test_mask: test nodes.
        epochs: Adam steps (default: 3000; GCA and CSGCL use 3000, 800 for WikiCS).
        lr: Adam learning rate (default: 0.01).
        weight_decay: Adam (L2) weight decay on weight and bias (default: 0).
        eval_every: evaluation period in steps (default: 20).
        device: where to train (default: the device of ``z``).
        seed: seed of the probe's initialisation (default: 0).
        num_classes: number of classes (default: the largest label plus one).
        return_predictions: also return the selected step's predictions (default: ``False``).
        selection: ``"best_val"`` (default: the step of best validation accuracy, the earliest
            on ties) or ``"running_best"``: the highest test accuracy among the steps whose
            validation accuracy reaches or ties the best so far (CCA-SSG's ``main.py``; it reads
            the test set to choose, so it is optimistic; kept to compare with its numbers).

    Returns:
        dict: ``"accuracy"``, ``"micro_f1"``, ``"macro_f1"``: test scores summarised over the
        splits (:func:`~gcl.evaluation.summarize`: ``{"mean", "std", "values"}``);
        ``"val_accuracy"``: the best validation accuracy of each split, summarised (absent when
        ``val_mask`` is ``None``); ``"best_step"``: the selected step of each split (list of
        ints); with ``return_predictions``, ``"predictions"``: ``{"test": [...],
        "val": [...]}``, per split the predicted classes of the test (validation) nodes at the
        selected step, in mask order (for
        external evaluators such as ``ogb.nodeproppred.Evaluator``; ``"val"`` is ``None``
        without a validation mask).

    Raises:
        ValueError: for malformed embeddings, labels or masks (wrong length or shape, empty
            split, non-finite embeddings, negative labels on evaluated nodes, …).

    Example:
        >>> import torch.nn.functional as F
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(60) % 3
        >>> z = F.one_hot(y, 3).float() * 4 + 0.1 * torch.randn(60, 3, generator=g)
        >>> train = torch.arange(60) < 20
        >>> val = (torch.arange(60) >= 20) & (torch.arange(60) < 40)
        >>> r = linear_probe(z, y, train, val, torch.arange(60) >= 40, epochs=200)
        >>> r["accuracy"]["mean"], r["macro_f1"]["mean"]
        (1.0, 1.0)
    """
    z = _check_embeddings(z)
    n, d = z.shape
    y = _check_labels(y, n)
    epochs = _check_int(epochs, "epochs")
    eval_every = _check_int(eval_every, "eval_every")
    lr = check_positive(lr, "lr", "linear_probe")
    weight_decay = check_positive(weight_decay, "weight_decay", "linear_probe", allow_zero=True)
    seed = _check_int(seed, "seed", allow_zero=True)
    if selection not in ("best_val", "running_best"):
        raise ValueError(f"selection must be 'best_val' or 'running_best', got {selection!r}")
    if selection == "running_best" and val_mask is None:
        raise ValueError("selection='running_best' needs a validation mask")

    train = _split_indices(train_mask, n, "train_mask")
    test = _split_indices(test_mask, n, "test_mask")
    val = None if val_mask is None else _split_indices(val_mask, n, "val_mask")
    parts = {"train_mask": train, "val_mask": val, "test_mask": test}
    parts = {k: p for k, p in parts.items() if p is not None}
    many = {k: p.num_splits for k, p in parts.items() if p.num_splits > 1}
    if len(set(many.values())) > 1:
        raise ValueError(f"the masks disagree on the number of splits: {many}; give every mask "
                         "the same number of columns (or one column, shared by all splits)")
    num_splits = max(p.num_splits for p in parts.values())
    _check_disjoint(parts, n, num_splits)

    y_cpu = y.detach().cpu()
    used = torch.cat([p.idx[p.valid] for p in parts.values()])
    used_y = y_cpu[used]
    if int(used_y.min()) < 0:
        bad = int(used[used_y < 0][0])
        raise ValueError(f"node {bad} is in a train/val/test mask but has label "
                         f"{int(y_cpu[bad])}; evaluated nodes need labels >= 0")
    if num_classes is None:
        num_classes = int(y_cpu.max()) + 1
    else:
        num_classes = _check_int(num_classes, "num_classes")
        if int(used_y.max()) >= num_classes:
            raise ValueError(f"label {int(used_y.max())} is out of range for "
                             f"num_classes={num_classes}")

    width = max(int(p.counts.max()) for p in parts.values())
    check_allocation(4 * num_splits * num_classes * (2 * width + 4 * d),
                     f"a linear probe over {num_classes} classes (labels up to "
                     f"{num_classes - 1}) and {num_splits} split(s)",
                     "give labels as dense class ids 0..C-1 (torch.unique(y, "
                     "return_inverse=True)[1]) or fewer splits")
    dev = z.device if device is None else resolve_device(device)
    # inference-mode embeddings and callers under no_grad both work: the probe makes its own
    # autograd graph from fresh tensors.
    with torch.inference_mode(False), torch.enable_grad():
        result = _fit(z, y, train, val, test, num_splits, num_classes, d, epochs=epochs, lr=lr,
                      weight_decay=weight_decay, eval_every=eval_every, device=dev, seed=seed,
                      selection=selection)
    if not return_predictions:
        del result["predictions"]
    return result


def _fit(z, y, train, val, test, num_splits, num_classes, d, *, epochs, lr, weight_decay,
         eval_every, device, seed, selection="best_val") -> dict:
    dtype = z.dtype if z.dtype in (torch.float32, torch.float64) else torch.float32
    z = z.detach().to(device=device, dtype=dtype).clone()
    y = y.to(device)

    def gather(part: _Split):
        idx = part.idx.to(device)
        return z[idx], y[idx], part.valid.to(device), part.counts.to(device, dtype)

    x_tr, y_tr, valid_tr, n_tr = gather(train)
    # cross-entropy as a weighted sum: each split's loss is its own mean over its train nodes,
    # so the gradient of split s reaches only its own probe.
    node_weight = valid_tr.to(dtype) / n_tr[:, None]
    target = F.one_hot(y_tr, num_classes).to(dtype) * node_weight[..., None]
    x_te, y_te, valid_te, _ = gather(test)
    if val is not None:
        x_va, y_va, valid_va, _ = gather(val)

    gen = make_generator(seed)
    probes = [LogisticRegression(d, num_classes, generator=gen) for _ in range(num_splits)]
    weight = torch.stack([p.fc.weight.detach().t() for p in probes]).to(device, dtype)  # [S,d,C]
    weight = nn.Parameter(weight.contiguous())
    bias = nn.Parameter(torch.zeros(num_splits, 1, num_classes, device=device, dtype=dtype))
    opt = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)

    def predict(x):
        return torch.baddbmm(bias, x.expand(num_splits, -1, -1), weight).argmax(-1)

    # within a split every step has the same number of validation nodes, so comparing the
    # integer hit counts compares accuracies exactly (ties -> the earliest step is kept)
    best_hits = torch.full((num_splits,), -1, device=device, dtype=torch.long)
    best_step = torch.zeros(num_splits, dtype=torch.long, device=device)
    best_pred = torch.zeros(num_splits, x_te.size(1), dtype=torch.long, device=device)
    best_val_pred = None if val is None else torch.zeros(num_splits, x_va.size(1), dtype=torch.long,
                                                         device=device)
    x_tr_b = x_tr.expand(num_splits, -1, -1)
    best_test_hits = torch.full_like(best_hits, -1)  # selection="running_best" only
    for step in range(1, epochs + 1):
        opt.zero_grad(set_to_none=True)
        logits = torch.baddbmm(bias, x_tr_b, weight)
        loss = -(logits.log_softmax(-1) * target).sum()
        loss.backward()
        opt.step()
        if val is None:
            continue
        if step % eval_every == 0 or step == epochs:
            with torch.no_grad():
                hits = ((predict(x_va) == y_va) & valid_va).sum(1)
                if selection == "running_best":
                    reached = hits >= best_hits
                    test_hits = ((predict(x_te) == y_te) & valid_te).sum(1)
                    best_hits = torch.where(reached, hits, best_hits)
                    hits = torch.where(reached & (test_hits > best_test_hits), hits, -1)
                    best_test_hits = torch.where(hits >= 0, test_hits, best_test_hits)
                    improved = hits >= 0
                    if bool(improved.any()):
                        best_val_pred = torch.where(improved[:, None], predict(x_va),
                                                    best_val_pred)
                        best_step = torch.where(improved, step, best_step)
                        best_pred = torch.where(improved[:, None], predict(x_te), best_pred)
                    continue
                improved = hits > best_hits
                # the updates below keep every value where nothing improved: the test only saves
                # the CPU's work; on a GPU it would wait for the device at every evaluation
                if device.type != "cpu" or bool(improved.any()):
                    best_val_pred = torch.where(improved[:, None], predict(x_va), best_val_pred)
                    best_hits = torch.where(improved, hits, best_hits)
                    best_step = torch.where(improved, step, best_step)
                    best_pred = torch.where(improved[:, None], predict(x_te), best_pred)
    if val is None:
        with torch.no_grad():
            best_pred = predict(x_te)
        best_step.fill_(epochs)

    best_pred, y_te, valid_te = best_pred.cpu(), y_te.cpu(), valid_te.cpu()
    per_split = []
    for s in range(num_splits):
        t = s if y_te.size(0) > 1 else 0
        keep = valid_te[t]
        per_split.append(classification_scores(y_te[t][keep], best_pred[s][keep], num_classes))
    result = {key: summarize([r[key] for r in per_split])
              for key in ("accuracy", "micro_f1", "macro_f1")}
    if val is not None:
        n_val = val.counts.double().expand(num_splits)
        result["val_accuracy"] = summarize(best_hits.cpu().double() / n_val)
    result["best_step"] = [int(s) for s in best_step.cpu()]
    result["predictions"] = {
        "test": [best_pred[s][valid_te[s if y_te.size(0) > 1 else 0]] for s in range(num_splits)],
        "val": None if val is None else [
            best_val_pred[s].cpu()[valid_va.cpu()[s if valid_va.size(0) > 1 else 0]]
            for s in range(num_splits)],
    }
    return result

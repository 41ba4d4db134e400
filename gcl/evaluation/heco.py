"""The DMGI/HeCo evaluation protocol for heterogeneous-graph embeddings.

Classification, per split size: ``heads`` independent logistic-regression heads (Linear d→C,
xavier-uniform weights, zero bias), each trained ``steps`` full-batch Adam steps on the train
nodes; after every step val and test are scored. Per head, Macro-F1 is the test value at the step
of best val Macro-F1, Micro-F1 the test value at the step of best val Micro-F1 (first best step),
and AUC (one-vs-rest, macro) is computed from the test softmax at the Micro-F1 step. The heads
are trained together as one batched model; Adam is element-wise, so this equals training them
one by one. Clustering: k-means (``n_init=10``) fitted 10 times, NMI and ARI averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils import check_positive
from .metrics import summarize

__all__ = ["heco_classification", "heco_evaluate"]


def _f1_scores(pred: Tensor, y: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Macro- and micro-F1 of ``pred [H, n]`` against ``y [n]``, per head (``[H]`` each)."""
    onehot_p = F.one_hot(pred, num_classes).float()  # [H, n, C]
    onehot_y = F.one_hot(y, num_classes).float().unsqueeze(0)
    tp = (onehot_p * onehot_y).sum(1)
    fp = (onehot_p * (1 - onehot_y)).sum(1)
    fn = ((1 - onehot_p) * onehot_y).sum(1)
    denom = 2 * tp + fp + fn
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1e-12), torch.zeros_like(tp))
    macro = f1.mean(1)
    micro = tp.sum(1) / y.numel()  # single-label: micro-F1 == accuracy
    return macro, micro


def heco_classification(z: Tensor, y: Tensor, train: Tensor, val: Tensor, test: Tensor, *,
                        lr: float = 0.01, weight_decay: float = 0.0, heads: int = 50,
                        steps: int = 200, seed: int = 0) -> dict:
    """Macro-F1, Micro-F1 and AUC of ``heads`` logistic-regression heads (HeCo protocol).

    Args:
        z: ``[N, d]`` embeddings (detached).
        y: ``[N]`` labels in ``0..C-1``.
        train, val, test: index tensors.
        lr, weight_decay: Adam settings of the heads.
        heads: independent heads (default: 50).
        steps: Adam steps per head (default: 200).
        seed: seed of the heads' initialisation (default: 0).

    Returns:
        dict: ``{"macro_f1", "micro_f1", "auc"}``, each a summary ``{"mean", "std", "values"}``
        over the heads (fractions in [0, 1]).

    Example:
        >>> y = torch.arange(60) % 3
        >>> z = F.one_hot(y, 3).float() + 0.01 * torch.randn(60, 3)
        >>> idx = torch.arange(60)
        >>> r = heco_classification(z, y, idx[:15], idx[15:30], idx[30:], lr=0.1, heads=3,
        ...                         steps=50)
        >>> r["micro_f1"]["mean"], r["auc"]["mean"]
        (1.0, 1.0)
    """
    from sklearn.metrics import roc_auc_score

    check_positive(heads, "heads", "heco_classification", integer=True)
    check_positive(steps, "steps", "heco_classification", integer=True)
    z = z.detach().float()
    y = y.to(z.device).long()
    c = int(y.max()) + 1
    d = z.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    bound = (6.0 / (d + c)) ** 0.5
    weight = ((torch.rand(heads, d, c, generator=gen) * 2 - 1) * bound).to(z.device)
    weight.requires_grad_(True)
    bias = torch.zeros(heads, 1, c, device=z.device, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    xtr, xva, xte = z[train], z[val], z[test]
    ytr, yva, yte = y[train], y[val], y[test]
    best = {k: torch.full((heads,), -1.0, device=z.device) for k in ("ma", "mi")}
    test_at = {k: torch.zeros(heads, device=z.device) for k in ("ma", "mi")}
    prob_at = torch.zeros(heads, len(test), c, device=z.device)
    for _ in range(int(steps)):
        opt.zero_grad()
        logits = torch.matmul(xtr.unsqueeze(0), weight) + bias  # [H, n, C]
        loss = F.cross_entropy(logits.reshape(-1, c), ytr.repeat(heads), reduction="sum")
        (loss / len(train)).backward()
        opt.step()
        with torch.no_grad():
            va = torch.matmul(xva.unsqueeze(0), weight) + bias
            te = torch.matmul(xte.unsqueeze(0), weight) + bias
            va_ma, va_mi = _f1_scores(va.argmax(2), yva, c)
            te_ma, te_mi = _f1_scores(te.argmax(2), yte, c)
            up_ma = va_ma > best["ma"]
            best["ma"] = torch.where(up_ma, va_ma, best["ma"])
            test_at["ma"] = torch.where(up_ma, te_ma, test_at["ma"])
            up_mi = va_mi > best["mi"]
            best["mi"] = torch.where(up_mi, va_mi, best["mi"])
            test_at["mi"] = torch.where(up_mi, te_mi, test_at["mi"])
            prob_at[up_mi] = torch.softmax(te[up_mi], 2)
    y_np = yte.cpu().numpy()
    aucs = [float(roc_auc_score(y_np, p, multi_class="ovr", average="macro"))
            if c > 2 else float(roc_auc_score(y_np, p[:, 1]))
            for p in prob_at.cpu().numpy()]
    return {"macro_f1": summarize(test_at["ma"].tolist()),
            "micro_f1": summarize(test_at["mi"].tolist()),
            "auc": summarize(aucs)}


def heco_evaluate(z: Tensor, graph, *, lr: float = 0.01, weight_decay: float = 0.0,
                  heads: int = 50, steps: int = 200, seed: int = 0, clustering: bool = True,
                  cluster_seeds=range(10), split_sizes=None, missing: str = "skip") -> dict:
    """The full protocol on a :class:`gcl.data.MetaPathGraph`'s fixed splits.

    Args:
        z: ``[N, d]`` target-node embeddings.
        graph: the graph (``y`` and ``splits``).
        lr, weight_decay, heads, steps, seed: see :func:`heco_classification`.
        clustering: also run k-means NMI/ARI (default: ``True``).
        cluster_seeds: k-means random states (default: 10 fits).
        split_sizes: which split sizes (default: all of ``graph.splits``).
        missing: a graph without labels or splits: ``"skip"`` the evaluations it cannot
            support with an :class:`~gcl.evaluation.evaluate.EvaluationSkippedWarning` saying
            which and why (default), or ``"raise"`` a ``ValueError``.

    Returns:
        dict: ``"macro_f1@20"``, ``"micro_f1@20"``, ``"auc@20"``, ... and ``"nmi"``, ``"ari"``,
        each a summary ``{"mean", "std", "values"}``.

    Example:
        >>> from types import SimpleNamespace
        >>> y = torch.arange(60) % 3
        >>> z = F.one_hot(y, 3).float()
        >>> idx = torch.arange(60)
        >>> g = SimpleNamespace(y=y, splits={5: (idx[:15], idx[15:30], idx[30:])})
        >>> r = heco_evaluate(z, g, lr=0.1, heads=2, steps=30, cluster_seeds=[0])
        >>> sorted(r)
        ['ari', 'auc@5', 'macro_f1@5', 'micro_f1@5', 'nmi']
    """
    from .clustering import kmeans_clustering
    from .evaluate import unavailable

    out = {}
    if getattr(graph, "y", None) is None:
        unavailable("the graph has no labels (y): classification (macro/micro-F1, AUC) and "
                    "clustering (NMI, ARI) score embeddings against them; give the target type "
                    "a y to evaluate", missing)
        return out
    splits = getattr(graph, "splits", None) or {}
    if not splits and split_sizes is None:
        unavailable("the graph has no train/val/test splits, so classification (macro/micro-F1, "
                    "AUC) is not scored; give the target type train_mask/val_mask/test_mask, "
                    "or splits= to gcl.data.from_hetero_data (gcl.methods.run and gcl train "
                    "draw a seeded random split for a registered graph with labels)"
                    + ("; clustering (NMI, ARI) is still scored" if clustering else ""), missing)
    sizes = list(split_sizes) if split_sizes is not None else \
        sorted(splits, key=lambda k: (str(type(k)), k))
    for size in sizes:
        train, val, test = splits[size]
        res = heco_classification(z, graph.y, train, val, test, lr=lr,
                                  weight_decay=weight_decay, heads=heads, steps=steps, seed=seed)
        for key in ("macro_f1", "micro_f1", "auc"):
            out[f"{key}@{size}"] = res[key]
    if clustering:
        res = kmeans_clustering(z.detach().cpu(), graph.y, n_init=10, seeds=cluster_seeds)
        out["nmi"], out["ari"] = res["nmi"], res["ari"]
    return out

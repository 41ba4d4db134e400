"""The batched HeCo evaluation equals training each logistic-regression head on its own."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, roc_auc_score

from gcl.evaluation import heco_classification, heco_evaluate


def naive_head(z, y, train, val, test, w0, lr, wd, steps):
    w = w0.clone().requires_grad_(True)
    b = torch.zeros(1, w0.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=wd)
    best_ma = best_mi = -1.0
    out = {}
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(z[train] @ w + b, y[train]).backward()
        opt.step()
        with torch.no_grad():
            pv = (z[val] @ w + b).argmax(1)
            logits_t = z[test] @ w + b
            pt = logits_t.argmax(1)
        va_ma = f1_score(y[val], pv, average="macro")
        va_mi = f1_score(y[val], pv, average="micro")
        if va_ma > best_ma:
            best_ma, out["macro_f1"] = va_ma, f1_score(y[test], pt, average="macro")
        if va_mi > best_mi:
            best_mi, out["micro_f1"] = va_mi, f1_score(y[test], pt, average="micro")
            out["auc"] = roc_auc_score(y[test].numpy(), torch.softmax(logits_t, 1).numpy(),
                                       multi_class="ovr", average="macro")
    return out


def test_batched_heads_equal_independent_heads():
    gen = torch.Generator().manual_seed(0)
    n, d, c = 120, 6, 3
    y = torch.arange(n) % c
    z = F.one_hot(y, c).float() @ torch.randn(c, d, generator=gen) + torch.randn(n, d,
                                                                                  generator=gen)
    perm = torch.randperm(n, generator=gen)
    train, val, test = perm[:15], perm[15:60], perm[60:]
    heads, steps, lr, wd = 3, 40, 0.05, 1e-3
    got = heco_classification(z, y, train, val, test, lr=lr, weight_decay=wd, heads=heads,
                              steps=steps, seed=7)
    bound = (6.0 / (d + c)) ** 0.5
    w0 = (torch.rand(heads, d, c, generator=torch.Generator().manual_seed(7)) * 2 - 1) * bound
    for h in range(heads):
        want = naive_head(z, y, train, val, test, w0[h], lr, wd, steps)
        for key in ("macro_f1", "micro_f1", "auc"):
            assert np.isclose(got[key]["values"][h], want[key], atol=1e-6), (key, h)


def test_heco_evaluate_names_metrics_per_split():
    from types import SimpleNamespace

    y = torch.arange(90) % 3
    z = F.one_hot(y, 3).float() + 0.1 * torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    idx = torch.arange(90)
    g = SimpleNamespace(y=y, splits={1: (idx[:3], idx[3:30], idx[30:]),
                                     2: (idx[:6], idx[6:30], idx[30:])})
    r = heco_evaluate(z, g, lr=0.1, heads=2, steps=20, cluster_seeds=[0, 1])
    assert set(r) == {f"{m}@{s}" for m in ("macro_f1", "micro_f1", "auc") for s in (1, 2)} | {
        "nmi", "ari"}
    assert len(r["macro_f1@1"]["values"]) == 2 and len(r["nmi"]["values"]) == 2

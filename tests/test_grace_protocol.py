"""GRACE's own evaluation protocol (``gcl.evaluation.grace_probe``) against a plain transcription
of what GRACE's ``eval.py`` does, and its selection from the configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcl.evaluation import PROBE_PROTOCOLS, evaluate_embeddings, grace_probe


def noisy_classes(n=200, d=6, c=4, spread=1.6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    centers = torch.randn(c, d, generator=g) * 2
    scale = torch.rand(n, 1, generator=g) * 3 + 0.5  # norms vary: L2 normalisation matters
    return (centers[y] + spread * torch.randn(n, d, generator=g)) * scale, y


def naive_grace_eval(z, y, train_ratio, seed, num_splits):
    """GRACE's ``label_classification`` step by step: L2-normalised rows, a random train/test
    split, for every C of 2^-10 .. 2^9 the mean over 5 unshuffled folds of the exact-match
    accuracy of per-class liblinear logistic regressions (a class is predicted when its
    decision value is positive), the first best C refitted on the training nodes, the class of
    largest probability per test node, and F1 counted by hand on the one-hot matrices."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x = z.double().numpy()
    x = x / np.sqrt((x ** 2).sum(1, keepdims=True))
    classes = sorted(set(y.tolist()))
    onehot = np.array([[int(v == c) for c in classes] for v in y.tolist()])
    rng = np.random.RandomState(seed)

    def fit(xs, ys, c):
        return [LogisticRegression(solver="liblinear", C=c).fit(xs, ys[:, k])
                for k in range(ys.shape[1])]

    out = {"micro": [], "macro": [], "C": []}
    for _ in range(num_splits):
        x_tr, x_te, y_tr, y_te = train_test_split(x, onehot, test_size=1 - train_ratio,
                                                  random_state=int(rng.randint(0, 2**31 - 1)))
        sizes = [len(x_tr) // 5 + (1 if f < len(x_tr) % 5 else 0) for f in range(5)]
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        best_c, best_score = None, -1.0
        for c in [2.0 ** k for k in range(-10, 10)]:
            scores = []
            for f in range(5):
                held = np.arange(bounds[f], bounds[f + 1])
                kept = np.setdiff1d(np.arange(len(x_tr)), held)
                models = fit(x_tr[kept], y_tr[kept], c)
                pred = np.stack([m.decision_function(x_tr[held]) > 0 for m in models], 1)
                scores.append(np.mean([(pred[i] == y_tr[held][i]).all() for i in range(len(held))]))
            if np.mean(scores) > best_score:
                best_c, best_score = c, np.mean(scores)
        models = fit(x_tr, y_tr, best_c)
        proba = np.stack([m.predict_proba(x_te)[:, 1] for m in models], 1)
        pred = np.zeros_like(y_te)
        pred[np.arange(len(pred)), proba.argmax(1)] = 1
        tp = ((pred == 1) & (y_te == 1)).sum(0)
        fp = ((pred == 1) & (y_te == 0)).sum(0)
        fn = ((pred == 0) & (y_te == 1)).sum(0)
        out["micro"].append(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()))
        out["macro"].append(np.mean([2 * t / (2 * t + p + n) if t + p + n else 0.0
                                     for t, p, n in zip(tp, fp, fn)]))
        out["C"].append(best_c)
    return out


@pytest.mark.slow  # 400 liblinear fits per split, twice (about 10 s on one core)
@pytest.mark.parametrize("seed", [3])
def test_grace_probe_equals_a_plain_transcription_of_graces_eval(seed):
    z, y = noisy_classes(seed=seed)
    got = grace_probe(z, y, train_ratio=0.3, num_splits=2, seed=seed)
    ref = naive_grace_eval(z, y, 0.3, seed, 2)
    assert got["best_C"] == ref["C"]
    np.testing.assert_allclose(got["micro_f1"]["values"], ref["micro"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["macro_f1"]["values"], ref["macro"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["accuracy"]["values"], ref["micro"], rtol=0, atol=1e-12)
    assert 0.3 < got["micro_f1"]["mean"] < 1.0  # a task where C matters, not a trivial one
    assert got["best_C"][0] not in (2.0 ** -10, 2.0 ** 9)  # an inner C won the search


def test_l2_normalisation_makes_the_scores_scale_free():
    z, y = noisy_classes(seed=1)
    a = grace_probe(z, y, num_splits=1, seed=5)
    b = grace_probe(z * torch.linspace(0.1, 10, z.size(0)).unsqueeze(1), y, num_splits=1, seed=5)
    assert a["micro_f1"]["values"] == b["micro_f1"]["values"]


def test_evaluate_embeddings_selects_the_protocol():
    from torch_geometric.data import Data

    z, y = noisy_classes(seed=2)
    idx = torch.arange(200)
    data = Data(y=y, train_mask=idx < 20, val_mask=(idx >= 20) & (idx < 40), test_mask=idx >= 40)
    assert PROBE_PROTOCOLS == ("gca", "grace")
    out = evaluate_embeddings(z, data, clustering=False, probe_protocol="grace",
                              probe_kwargs={"seed": 4, "num_splits": 1})
    ref = grace_probe(z, y, seed=4, num_splits=1)
    assert out["micro_f1"] == ref["micro_f1"]
    gca = evaluate_embeddings(z, data, clustering=False, probe_kwargs={"epochs": 50})
    assert gca["micro_f1"] != out["micro_f1"]  # the default is the GCA protocol on the masks
    with pytest.raises(ValueError, match="'probe_protocol' of evaluate_embeddings"):
        evaluate_embeddings(z, data, probe_protocol="dgi")
    with pytest.raises(ValueError, match="train_ratio"):
        grace_probe(z, y, train_ratio=1.5)


def test_runner_reads_probe_protocol_and_configs_align_the_wikics_probe(monkeypatch):
    import gcl.evaluation.evaluate as evaluate_mod
    from gcl.evaluation import summarize
    from gcl.methods import load_config
    from gcl.methods.runner import run

    for method in ("grace", "gca", "csgcl"):
        assert load_config(method, "wikics")["probe_epochs"] == 800, method
        assert load_config(method, "cora" if method != "csgcl" else "amazon-photo")[
            "probe_protocol"] == "gca"
    calls = []

    def spy(z, y, **kwargs):
        calls.append(kwargs)
        return {k: summarize([0.5]) for k in ("accuracy", "micro_f1", "macro_f1")}

    monkeypatch.setattr(evaluate_mod, "grace_probe", spy)
    record = run("grace", "synthetic", overrides={"epochs": 2, "probe_protocol": "grace",
                                                  "clustering": False}, device="cpu", log=None,
                 seed=7)
    assert calls == [{"seed": 7}]  # the run's seed; no GCA-probe keys
    assert record["config"]["probe_protocol"] == "grace"
    assert record["metrics"]["micro_f1"]["mean"] == 0.5

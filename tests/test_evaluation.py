"""gcl.evaluation: summaries, the linear probe (against a brute-force reimplementation of the
GCA protocol), clustering scores on hand-made partitions, and k-means on blobs and noise."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gcl.evaluation import (
    LogisticRegression,
    classification_scores,
    cluster_accuracy,
    cluster_f1,
    clustering_scores,
    evaluate_embeddings,
    kmeans_clustering,
    linear_probe,
    summarize,
)

# -- helpers -----------------------------------------------------------------------------------


def random_split(n, seed, train=0.1, val=0.1):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_tr, n_va = int(train * n), int(val * n)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:n_tr]] = True
    masks[1][perm[n_tr:n_tr + n_va]] = True
    masks[2][perm[n_tr + n_va:]] = True
    return masks


def blobs(n, d, c, spread, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    centers = torch.randn(c, d, generator=g, dtype=dtype) * 10
    z = centers[y] + spread * torch.randn(n, d, generator=g, dtype=dtype)
    return z, y


def brute_force_probe(z, y, train, val, test, *, epochs, lr, eval_every, seed):
    """The GCA protocol written plainly: one nn.Linear, Adam, scoring every eval_every
    steps, test predictions kept at the first step with the best validation accuracy."""
    num_classes = int(y.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    clf = LogisticRegression(z.size(1), num_classes, generator=gen).to(z.dtype)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    best_acc, best_step, best_pred = -1.0, None, None
    for step in range(1, epochs + 1):
        opt.zero_grad()
        F.cross_entropy(clf(z[train]), y[train]).backward()
        opt.step()
        if step % eval_every == 0 or step == epochs:
            with torch.no_grad():
                pred = clf(z).argmax(1)
            acc = (pred[val] == y[val]).double().mean().item()
            if acc > best_acc:
                best_acc, best_step, best_pred = acc, step, pred[test]
    return best_step, best_acc, best_pred


# -- summarize ---------------------------------------------------------------------------------


def test_summarize_exact_values():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5
    assert s["std"] == pytest.approx(math.sqrt(1.25), abs=1e-15)  # population std (ddof=0)
    assert s["values"] == [1.0, 2.0, 3.0, 4.0]
    assert summarize([0.7]) == {"mean": 0.7, "std": 0.0, "values": [0.7]}
    assert summarize(0.5) == {"mean": 0.5, "std": 0.0, "values": [0.5]}
    t = summarize(torch.tensor([0.0, 1.0]))
    assert (t["mean"], t["std"]) == (0.5, 0.5)
    assert all(type(v) is float for v in t["values"])


def test_summarize_rejects_empty_and_non_numbers():
    with pytest.raises(ValueError, match="at least one value"):
        summarize([])
    with pytest.raises(ValueError, match="real numbers"):
        summarize(["a"])


# -- classification scores ---------------------------------------------------------------------


def test_classification_scores_hand_made():
    # classes 0: tp 1, 2 true, 1 pred -> 2/3; class 1: tp 1, 1 true, 2 pred -> 2/3; class 2: 1
    s = classification_scores(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]))
    assert s["accuracy"] == 0.75
    assert s["micro_f1"] == pytest.approx(0.75, abs=1e-15)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=40))
def test_classification_scores_match_sklearn(pairs):
    from sklearn.metrics import accuracy_score, f1_score

    y_true = torch.tensor([p[0] for p in pairs])
    y_pred = torch.tensor([p[1] for p in pairs])
    s = classification_scores(y_true, y_pred, num_classes=5)
    assert s["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert s["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"), abs=1e-12)
    assert s["micro_f1"] == pytest.approx(s["accuracy"], abs=1e-12)
    assert s["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)


def test_classification_scores_errors():
    with pytest.raises(ValueError, match="same length"):
        classification_scores(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="at least one"):
        empty = torch.tensor([], dtype=torch.long)
        classification_scores(empty, empty)
    with pytest.raises(ValueError, match="integer class ids"):
        classification_scores(torch.tensor([0.0]), torch.tensor([0]))
    with pytest.raises(ValueError, match=">= 0"):
        classification_scores(torch.tensor([-1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="out of range"):
        classification_scores(torch.tensor([3]), torch.tensor([0]), num_classes=2)


# -- clustering scores -------------------------------------------------------------------------


def test_cluster_accuracy_hand_made():
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0  # permuted ids
    assert cluster_accuracy([10, 10, 20], [7, 7, 3]) == 1.0  # arbitrary, non-contiguous ids
    # cluster 1 -> class 0 (2 nodes), cluster 0 -> class 1 (3 nodes): one node is wrong
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [1, 1, 0, 0, 0, 0]) == pytest.approx(5 / 6)
    # more clusters than classes: cluster 2 stays unmatched and its nodes count as wrong
    assert cluster_accuracy([0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(4 / 6)
    # fewer clusters than classes: class 1 gets no cluster
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1]) == pytest.approx(4 / 6)
    assert cluster_accuracy(torch.tensor([1, 0]), torch.tensor([0, 0])) == 0.5


def test_cluster_f1_hand_made():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [5, 5, 6, 6, 6, 7, 7, 7, 9]
    # Hungarian: 5 -> 0, 6 -> 1, 7 -> 2, cluster 9 unmatched (its node is wrong).
    # class 0: TP 2, 3 true, 2 predicted -> 4/5; class 1: TP 2, 2 true, 3 predicted -> 4/5;
    # class 2: TP 3, 4 true, 3 predicted -> 6/7.
    assert cluster_f1(y_true, y_pred) == pytest.approx((4 / 5 + 4 / 5 + 6 / 7) / 3, abs=1e-12)
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(7 / 9)
    # a class that no cluster is matched to scores 0
    assert cluster_f1([0, 0, 1, 1], [3, 3, 3, 3]) == pytest.approx((2 * 2 / (2 + 4) + 0) / 2)


def test_clustering_scores_perfect_permuted_partition():
    y_true = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3])
    y_pred = torch.tensor([3, 3, 0, 0, 0, 1, 1, 2])
    assert clustering_scores(y_true, y_pred) == pytest.approx(
        {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "f1": 1.0})


def test_clustering_scores_match_sklearn_nmi_ari():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    g = torch.Generator().manual_seed(3)
    y_true = torch.randint(0, 4, (200,), generator=g)
    y_pred = torch.where(torch.rand(200, generator=g) < 0.6, y_true,
                         torch.randint(0, 5, (200,), generator=g))
    s = clustering_scores(y_true, y_pred)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert s["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))
    assert s["acc"] == cluster_accuracy(y_true, y_pred)
    assert s["f1"] == cluster_f1(y_true, y_pred)


def test_clustering_scores_errors():
    with pytest.raises(ValueError, match="same length"):
        cluster_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        cluster_f1([], [])
    with pytest.raises(ValueError, match="1-D"):
        clustering_scores([[0, 1], [1, 0]], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="integer"):
        cluster_accuracy([0.5, 1.0], [0, 1])


# -- k-means -----------------------------------------------------------------------------------


def test_kmeans_on_separated_blobs_is_perfect():
    z, y = blobs(300, 8, 5, spread=0.5, seed=0)
    r = kmeans_clustering(z, y, seeds=range(3))
    for key in ("acc", "nmi", "ari", "f1"):
        assert r[key]["mean"] == pytest.approx(1.0, abs=1e-9), key
        assert len(r[key]["values"]) == 3
    # cosine k-means on the same blobs, and labels with arbitrary ids
    r = kmeans_clustering(z, y * 7 + 3, seeds=[0], normalize=True)
    assert r["nmi"]["mean"] > 0.95


def test_kmeans_on_noise_is_at_chance():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1000, 8, generator=g)
    y = torch.randint(0, 4, (1000,), generator=g)
    r = kmeans_clustering(z, y, seeds=range(3), n_init=2)
    assert r["nmi"]["mean"] < 0.02
    assert abs(r["ari"]["mean"]) < 0.02
    assert r["acc"]["mean"] < 0.25 + 0.06


def test_kmeans_num_clusters_and_errors():
    z, y = blobs(60, 4, 3, spread=0.5, seed=2)
    r = kmeans_clustering(z, y, num_clusters=6, seeds=[0], n_init=2)
    assert r["acc"]["mean"] <= 1.0 and 0.0 <= r["ari"]["mean"] <= 1.0
    with pytest.raises(ValueError, match="one entry per embedded node"):
        kmeans_clustering(z, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        kmeans_clustering(torch.full((4, 2), float("nan")), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="exceeds"):
        kmeans_clustering(z, y, num_clusters=100)
    with pytest.raises(ValueError, match="at least one seed"):
        kmeans_clustering(z, y, seeds=[])


# -- linear probe ------------------------------------------------------------------------------


def test_logistic_regression_init():
    a = LogisticRegression(10, 4, generator=torch.Generator().manual_seed(5))
    b = LogisticRegression(10, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.fc.weight, b.fc.weight)
    bound = math.sqrt(6 / 14)
    assert float(a.fc.weight.detach().abs().max()) <= bound
    assert a.fc.bias.tolist() == [0.0] * 4
    assert "in_dim=10, num_classes=4" in repr(a)


def test_probe_separable_embeddings_reach_accuracy_one():
    z, y = blobs(400, 16, 4, spread=0.5, seed=0)
    train, val, test = random_split(400, seed=0)
    r = linear_probe(z, y, train, val, test, epochs=300)
    assert r["accuracy"] == {"mean": 1.0, "std": 0.0, "values": [1.0]}
    assert r["macro_f1"]["mean"] == 1.0
    assert r["val_accuracy"]["mean"] == 1.0
    # ties -> the earliest evaluated step with the best validation accuracy is kept
    assert r["best_step"][0] % 20 == 0 and r["best_step"][0] < 300


def test_probe_random_embeddings_are_at_chance():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3000, 32, generator=g)
    y = torch.randint(0, 4, (3000,), generator=g)
    train, val, test = random_split(3000, seed=1)
    r = linear_probe(z, y, train, val, test, epochs=500)
    assert 0.18 < r["accuracy"]["mean"] < 0.32


@pytest.mark.parametrize("data_seed", [4, 6, 7])
def test_probe_matches_brute_force_reimplementation(data_seed):
    from sklearn.metrics import f1_score

    # a noisy problem whose validation accuracy peaks mid-run (at steps 160, 45 and 145)
    g = torch.Generator().manual_seed(data_seed)
    n = 60
    y = torch.randint(0, 3, (n,), generator=g)
    z = F.one_hot(y, 3).double() * 0.6 + torch.randn(n, 3, generator=g, dtype=torch.float64)
    z = torch.cat([z, torch.randn(n, 2, generator=g, dtype=torch.float64)], 1)
    train, val, test = random_split(n, seed=2, train=0.3, val=0.3)
    kwargs = dict(epochs=200, lr=0.01, eval_every=5, seed=7)
    step, acc, pred = brute_force_probe(z, y, train, val, test, **kwargs)
    assert 5 < step < 200  # the selection is not trivially the first or the last step
    r = linear_probe(z, y, train, val, test, **kwargs)
    assert r["best_step"] == [step]
    assert r["val_accuracy"]["values"] == [pytest.approx(acc, abs=1e-12)]
    y_test = y[test]
    assert r["accuracy"]["values"] == [pytest.approx((pred == y_test).double().mean().item())]
    assert r["micro_f1"]["values"] == r["accuracy"]["values"]
    assert r["macro_f1"]["values"] == [pytest.approx(f1_score(y_test, pred, average="macro"))]


def test_probe_selects_on_validation_not_last_step():
    # validation/test labels are the training labels shifted by one class: the better the
    # probe fits the training nodes, the worse it scores there, so the last step is the worst.
    g = torch.Generator().manual_seed(0)
    n = 300
    y = torch.arange(n) % 3
    z = F.one_hot(y, 3).double() + 0.3 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    held_out = torch.arange(n) >= 150
    val = held_out & (torch.arange(n) % 2 == 0)  # disjoint halves of the held-out nodes
    test = held_out & ~val
    y_shift = torch.where(held_out, (y + 1) % 3, y)
    selected = linear_probe(z, y_shift, ~held_out, val, test, seed=1)
    last = linear_probe(z, y_shift, ~held_out, None, test, seed=1)
    assert selected["best_step"][0] < 3000
    assert last["best_step"] == [3000] and "val_accuracy" not in last
    assert selected["accuracy"]["mean"] > last["accuracy"]["mean"] + 0.1
    assert len(selected["val_accuracy"]["values"]) == 1


def test_probe_two_dimensional_masks():
    z, y = blobs(200, 8, 3, spread=8.0, seed=1)
    splits = [random_split(200, seed=s) for s in range(3)]
    train = torch.stack([s[0] for s in splits], 1)
    val = torch.stack([s[1] for s in splits], 1)
    test = torch.stack([s[2] for s in splits], 1)
    r = linear_probe(z, y, train, val, test, epochs=200)
    for key in ("accuracy", "micro_f1", "macro_f1", "val_accuracy"):
        assert len(r[key]["values"]) == 3
    assert len(r["best_step"]) == 3
    assert r["micro_f1"]["values"] == pytest.approx(r["accuracy"]["values"], abs=1e-12)
    # column 0 of a multi-split run is the single-split run on that column (same seed)
    single = linear_probe(z, y, train[:, 0], val[:, 0], test[:, 0], epochs=200)
    assert single["accuracy"]["values"][0] == pytest.approx(r["accuracy"]["values"][0])
    assert single["best_step"][0] == r["best_step"][0]
    # WikiCS layout: [N, S] train/val masks and one shared test mask outside all of them
    common = test.all(1)
    shared = linear_probe(z, y, train, val, common, epochs=200)
    each = linear_probe(z, y, train, val, torch.stack([common] * 3, 1), epochs=200)
    assert len(shared["accuracy"]["values"]) == 3
    assert shared["accuracy"]["values"] == pytest.approx(each["accuracy"]["values"])


def test_probe_index_masks_equal_boolean_masks():
    z, y = blobs(100, 4, 3, spread=6.0, seed=3)
    train, val, test = random_split(100, seed=0)
    a = linear_probe(z, y, train, val, test, epochs=60)
    b = linear_probe(z, y, train.nonzero().flatten(), val.nonzero().flatten(),
                     test.nonzero().flatten(), epochs=60)
    assert a == b


def test_probe_seed_and_global_rng():
    z, y = blobs(100, 4, 3, spread=6.0, seed=3)
    train, val, test = random_split(100, seed=0)
    state = torch.get_rng_state()
    a = linear_probe(z, y, train, val, test, epochs=40, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched
    assert a == linear_probe(z, y, train, val, test, epochs=40, seed=3)


def test_probe_under_no_grad_and_inference_mode():
    z, y = blobs(60, 4, 3, spread=1.0, seed=0)
    train, val, test = random_split(60, seed=0, train=0.4, val=0.3)
    ref = linear_probe(z, y, train, val, test, epochs=40)
    with torch.no_grad():
        assert linear_probe(z, y, train, val, test, epochs=40) == ref
    with torch.inference_mode():
        z_inf = z.clone()
        assert linear_probe(z_inf, y, train, val, test, epochs=40) == ref


def test_probe_errors():
    z, y = blobs(20, 4, 2, spread=1.0, seed=0)
    tr, va, te = random_split(20, seed=0, train=0.3, val=0.3)
    cases = [
        (dict(z=z[:, 0]), "2-D"),
        (dict(z=torch.where(torch.arange(20)[:, None] == 3, float("nan"), z)), "NaN.*node 3"),
        (dict(z=z.long()), "floating"),
        (dict(y=y[:-1]), "19 entries but the embeddings z have 20 rows"),
        (dict(y=y.float()), "integer class ids"),
        (dict(train_mask=tr[:-1]), "train_mask is a boolean mask of length 19"),
        (dict(train_mask=torch.zeros(20, dtype=torch.bool)), "train_mask selects no nodes"),
        (dict(val_mask=torch.stack([va, torch.zeros(20, dtype=torch.bool)], 1)),
         r"val_mask \(split 1\) selects no nodes"),
        (dict(train_mask=torch.stack([tr, tr], 0)), "transposed"),
        (dict(train_mask=torch.stack([tr, tr], 1), test_mask=torch.stack([te] * 3, 1)),
         "disagree on the number of splits"),
        (dict(test_mask=torch.tensor([0, 25])), "node index 25"),
        (dict(test_mask=te.float()), "boolean mask or an integer index tensor"),
        (dict(y=torch.where(te, -1, y)), "has label -1"),
        (dict(epochs=0), "epochs"),
        (dict(lr=-1.0), "lr"),
        (dict(eval_every=1.5), "eval_every"),
    ]
    base = dict(z=z, y=y, train_mask=tr, val_mask=va, test_mask=te)
    for change, message in cases:
        args = {"epochs": 5, **base, **change}
        with pytest.raises(ValueError, match=message):
            linear_probe(args.pop("z"), args.pop("y"), args.pop("train_mask"),
                         args.pop("val_mask"), args.pop("test_mask"), **args)
    # unlabelled nodes (label -1) outside every mask are fine
    y_unl = torch.where(~(tr | va | te), -1, y)
    assert linear_probe(z, y_unl, tr, va, te, epochs=5)["accuracy"]["mean"] >= 0.0


def test_probe_timing_cora_sized(cpu_seconds):
    g = torch.Generator().manual_seed(0)
    n, d, c = 2708, 128, 7
    y = torch.randint(0, c, (n,), generator=g)
    z = torch.randn(c, d, generator=g)[y] + 2 * torch.randn(n, d, generator=g)
    train, val, test = random_split(n, seed=0)
    r, elapsed = cpu_seconds(linear_probe, z, y, train, val, test, epochs=3000)
    print(f"\nlinear_probe 2708x128, 7 classes, 3000 steps: {elapsed:.2f} CPU s")
    assert r["accuracy"]["mean"] > 0.9
    assert elapsed < 30.0


# -- evaluate_embeddings -----------------------------------------------------------------------


def test_evaluate_embeddings_flat_summaries():
    from torch_geometric.data import Data

    z, y = blobs(150, 6, 3, spread=0.5, seed=0)
    train, val, test = random_split(150, seed=0)
    data = Data(y=y, train_mask=train, val_mask=val, test_mask=test, num_nodes=150)
    out = evaluate_embeddings(z, data, probe_kwargs={"epochs": 100},
                              cluster_kwargs={"seeds": [0, 1]})
    assert set(out) == {"accuracy", "micro_f1", "macro_f1", "nmi", "ari", "cluster_acc",
                        "cluster_f1"}
    for summary in out.values():
        assert set(summary) == {"mean", "std", "values"}
        assert summary["mean"] == pytest.approx(1.0)
    assert len(out["nmi"]["values"]) == 2
    only_clusters = evaluate_embeddings(z, Data(y=y, num_nodes=150), probe=False,
                                        cluster_kwargs={"seeds": [0]})
    assert set(only_clusters) == {"nmi", "ari", "cluster_acc", "cluster_f1"}
    with pytest.raises(ValueError, match="no train_mask or test_mask"):
        evaluate_embeddings(z, Data(y=y, num_nodes=150), clustering=False)
    with pytest.raises(ValueError, match="data.y is missing"):
        evaluate_embeddings(z, Data(num_nodes=150))

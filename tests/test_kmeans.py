"""``torch_kmeans`` against a loop-by-loop transcription of faiss's ``Clustering::train`` with an
inner-product index (MEOW's reference clusters with faiss): random-permutation start, Lloyd
rounds, empty clusters filled by splitting another one (``split_clusters``), the restart with
the best last-round objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gcl.objectives.kmeans import SPLIT_EPS, _nearest, _split_empty, torch_kmeans

EPS = 1 / 1024  # faiss/Clustering.cpp


def naive_faiss_kmeans(x, k, niter, nredo, seed):
    """faiss's k-means as it behaves, one point and one cluster at a time (float64), with torch's
    generator for its random draws: the start permutation, then one uniform per visited cluster
    when an empty cluster picks the cluster to split. Returns (assign, normalised centroids,
    number of splits, each point's inner product with its unnormalised centroid)."""
    n, d = x.shape
    x = x.double()
    gen = torch.Generator().manual_seed(seed)
    if n == k:
        cent = x.clone()
        score, assign = (x @ cent.t()).max(1)
        return assign, F.normalize(cent, dim=1), 0, score
    best_obj, best_cent, splits = None, None, 0
    for _ in range(nredo):
        cent = x[torch.randperm(n, generator=gen)[:k]].clone()
        obj = 0.0
        for _ in range(niter):
            assign, obj = [], 0.0
            for i in range(n):
                sims = [float(cent[c] @ x[i]) for c in range(k)]
                best = max(range(k), key=lambda c: (sims[c], -c))  # first of equal maxima
                assign.append(best)
                obj += sims[best]
            hassign = [0.0] * k
            new = torch.zeros(k, d, dtype=torch.float64)
            for i, c in enumerate(assign):
                hassign[c] += 1
                new[c] += x[i]
            for c in range(k):
                if hassign[c] > 0:
                    new[c] /= hassign[c]
            cent = new
            for ci in range(k):  # split_clusters
                if hassign[ci] != 0:
                    continue
                cj = 0
                while True:
                    p = (hassign[cj] - 1.0) / (n - k)
                    r = float(torch.rand(1, generator=gen, dtype=torch.float64))
                    if r < p:
                        break
                    cj = (cj + 1) % k
                cent[ci] = cent[cj].clone()
                for j in range(d):
                    if j % 2 == 0:
                        cent[ci, j] *= 1 + EPS
                        cent[cj, j] *= 1 - EPS
                    else:
                        cent[ci, j] *= 1 - EPS
                        cent[cj, j] *= 1 + EPS
                hassign[ci] = hassign[cj] / 2
                hassign[cj] -= hassign[ci]
                splits += 1
        if best_obj is None or obj > best_obj:
            best_obj, best_cent = obj, cent
    score, assign = (x @ best_cent.t()).max(1)
    return assign, F.normalize(best_cent, dim=1), splits, score


def test_kmeans_assignment_in_row_blocks_equals_one_product():
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(2000, 16, generator=g), dim=1)
    for k in (300, 1000):  # 873 and 262 rows per block: blocks with a ragged last one
        cent = torch.randn(k, 16, generator=g)
        score, assign = _nearest(x, cent)
        ref = (x @ cent.t()).max(1)
        torch.testing.assert_close(score, ref.values)
        assert torch.equal(assign, ref.indices)


def test_kmeans_equals_faiss_rules_without_empty_clusters():
    gen = torch.Generator().manual_seed(3)
    x = F.normalize(torch.randn(90, 5, generator=gen), dim=1)
    assign, cent, _ = torch_kmeans(x, 7, niter=6, nredo=3, seed=2)
    ref_assign, ref_cent, splits, _ = naive_faiss_kmeans(x, 7, 6, 3, 2)
    assert splits == 0
    assert torch.equal(assign, ref_assign)
    torch.testing.assert_close(cent.double(), ref_cent, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_empty_clusters_are_split_as_faiss_splits_them(seed):
    """Points of unequal norms under inner-product assignment leave many clusters empty in every
    round; each is refilled by splitting a cluster (with faiss's choice, perturbation and
    halved counts), not by a random point."""
    gen = torch.Generator().manual_seed(10 + seed)
    x = torch.randn(60, 4, generator=gen) * torch.rand(60, 1, generator=gen).mul(3).add(0.2)
    assign, cent, score = torch_kmeans(x, 12, niter=5, nredo=2, seed=seed)
    ref_assign, ref_cent, splits, ref_score = naive_faiss_kmeans(x, 12, 5, 2, seed)
    assert splits > 10
    assert torch.equal(assign, ref_assign)
    torch.testing.assert_close(cent.double(), ref_cent, rtol=0, atol=1e-5)
    torch.testing.assert_close(score.double(), ref_score, rtol=1e-5, atol=1e-5)


def test_a_split_cluster_keeps_its_direction_up_to_the_perturbation():
    """Points on one ray: every point joins the start centroid of largest norm, the other is
    empty and can only split that one. faiss's two halves are the mean times (1 ± ε) with
    alternating signs per coordinate (so here two directions ε apart), not a data point (which
    would lie on the ray)."""
    u = torch.tensor([0.6, 0.8])
    x = torch.linspace(0.5, 2.0, 9).unsqueeze(1) * u
    assign, cent, _ = torch_kmeans(x, 2, niter=1, nredo=1, seed=0)
    sign = torch.tensor([1.0, -1.0])
    grow, shrink = F.normalize(u * (1 + EPS * sign), dim=0), F.normalize(u * (1 - EPS * sign), dim=0)
    # x · (u ⊙ (1 - εs)) > x · (u ⊙ (1 + εs)) since 0.8² > 0.6²: every point goes to `shrink`
    kept = int(assign[0])
    assert (assign == kept).all()
    torch.testing.assert_close(cent[kept], shrink, rtol=0, atol=1e-7)
    torch.testing.assert_close(cent[1 - kept], grow, rtol=0, atol=1e-7)
    assert float((cent[0] - cent[1]).abs().max()) > 1e-4  # two distinct directions


def _cyclic_scan_law(p):
    """The law of the cluster a cyclic scan with one Bernoulli(p_j) draw per visit stops at."""
    p = [min(max(q, 0.0), 1.0) for q in p]
    reach, law = 1.0, []
    for q in p:
        law.append(reach * q)
        reach *= 1 - q
    return [v / (1 - reach) for v in law]


def test_the_cluster_to_split_is_drawn_as_faiss_draws_it():
    """counts [0, 0, 8, 1] (N = 9, k = 4): cluster 0 must split cluster 2 ((8-1)/5 > 1); the
    halves (4, 4) then compete for cluster 1 with chance (4-1)/5 each by a scan from 0; the
    single point's cluster 3 never splits."""
    gen = torch.Generator().manual_seed(0)
    counts = torch.tensor([0, 0, 8, 1])
    picks = {0: 0, 2: 0}
    trials = 3000
    sign = torch.tensor([1.0, -1.0, 1.0])
    for _ in range(trials):
        cent = torch.tensor([[0.0, 0, 0], [0, 0, 0], [1.0, 2.0, 3.0], [5.0, 5, 5]])
        assert _split_empty(cent, counts, gen) == 2
        torch.testing.assert_close(cent[3], torch.tensor([5.0, 5, 5]), rtol=0, atol=0)
        first = torch.tensor([1.0, 2.0, 3.0]) * (1 - SPLIT_EPS * sign)  # cluster 2 after split 1
        if torch.allclose(cent[0], torch.tensor([1.0, 2.0, 3.0]) * (1 + SPLIT_EPS * sign)):
            picks[2] += 1  # cluster 1 split cluster 2 again
            torch.testing.assert_close(cent[1], first * (1 + SPLIT_EPS * sign))
            torch.testing.assert_close(cent[2], first * (1 - SPLIT_EPS * sign))
        else:
            picks[0] += 1  # cluster 1 split cluster 0, itself the first half of cluster 2
            torch.testing.assert_close(cent[2], first)
            half = torch.tensor([1.0, 2.0, 3.0]) * (1 + SPLIT_EPS * sign)
            torch.testing.assert_close(cent[1], half * (1 + SPLIT_EPS * sign))
            torch.testing.assert_close(cent[0], half * (1 - SPLIT_EPS * sign))
    law = _cyclic_scan_law([3 / 5, -1 / 5, 3 / 5, 0.0])  # [0.714, 0, 0.286, 0]
    assert abs(picks[0] / trials - law[0]) < 0.03 and abs(picks[2] / trials - law[2]) < 0.03


def test_k_equal_to_n_takes_the_points_as_centroids():
    x = torch.tensor([[1.0, 0.0], [3.0, 0.1], [0.0, 2.0]])
    assign, cent, score = torch_kmeans(x, 3, seed=0)
    ref_assign, ref_cent, _, ref_score = naive_faiss_kmeans(x, 3, 20, 5, 0)
    assert torch.equal(assign, ref_assign)  # point 0 is closest (inner product) to point 1
    torch.testing.assert_close(cent.double(), ref_cent)
    torch.testing.assert_close(score.double(), ref_score)


def test_kmeans_stops_at_a_fixed_point_with_the_full_result(monkeypatch):
    import gcl.objectives.kmeans as kmeans_mod

    gen = torch.Generator().manual_seed(4)
    x = F.normalize(torch.randn(120, 6, generator=gen), dim=1)
    calls = []
    nearest = kmeans_mod._nearest
    monkeypatch.setattr(kmeans_mod, "_nearest", lambda a, c: calls.append(1) or nearest(a, c))
    assign, cent, _ = torch_kmeans(x, 9, niter=40, nredo=2, seed=5)
    ref_assign, ref_cent, _, _ = naive_faiss_kmeans(x, 9, 40, 2, 5)  # every one of the 40 rounds
    assert torch.equal(assign, ref_assign)
    torch.testing.assert_close(cent.double(), ref_cent, rtol=0, atol=1e-5)
    assert len(calls) < 2 * 40 + 1  # 40 rounds per restart and a final assignment, had none stopped


def test_kmeans_is_seeded_and_finds_clusters():
    gen = torch.Generator().manual_seed(0)
    centers = F.normalize(torch.randn(3, 8, generator=gen), dim=1) * 5
    x = F.normalize(centers.repeat_interleave(20, 0) + 0.1 * torch.randn(60, 8, generator=gen),
                    dim=1)
    a, c, s = torch_kmeans(x, 3, seed=1)
    b, _, _ = torch_kmeans(x, 3, seed=1)
    assert torch.equal(a, b)
    for block in a.view(3, 20):
        assert len(block.unique()) == 1
    assert len(a.unique()) == 3
    torch.testing.assert_close(c.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="k=61"):
        torch_kmeans(x, 61)

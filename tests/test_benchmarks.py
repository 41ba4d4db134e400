"""Benchmark scripts run end to end (tiny sizes) and the benchmark page matches its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from report import collect_benchmarks, render_benchmarks  # noqa: E402 - benchmarks/report.py


def test_loss_scaling_script_writes_a_table(tmp_path):
    env = {**os.environ, "GCL_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "loss_scaling.py"),
                           "--sizes", "300", "700", "--dim", "16", "--block-size", "128"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "loss_scaling.json").read_text())
    assert [row[0] for row in record["rows"]] == [300, 700]
    points = {(p["impl"], p["n"]): p for p in record["points"]}
    for key, p in points.items():
        assert p["time_s"] > 0 and p["peak_mb"] >= 0 and 0 < p["matmul_fraction"], key
    # the dense loss holds N×N matrices, the blockwise one 128×N blocks
    assert points[("blockwise", 700)]["block"] == 128
    page = render_benchmarks(collect_benchmarks(tmp_path))
    assert "| 300 | 128 |" in page and "blockwise % of matmul" in page


def test_loss_scaling_counts_the_products_the_losses_execute(monkeypatch):
    """The FLOP/s columns divide by the products' flops: the script's shape list must be the
    matrix products the dense and blockwise losses run, counted by torch's flop counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from gcl.objectives import info_nce

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import loss_scaling

    for impl, n, d, block in [("dense", 300, 16, 0), ("blockwise", 300, 16, 64),
                              ("blockwise", 256, 8, 64), ("blockwise", 100, 8, 100)]:
        g = torch.Generator().manual_seed(n)
        h1 = torch.randn(n, d, generator=g).requires_grad_()
        h2 = torch.randn(n, d, generator=g).requires_grad_()
        with FlopCounterMode(display=False) as counter:
            info_nce(h1, h2, 0.5, block_size=block).backward()
        expected = loss_scaling._flops(loss_scaling._products(impl, n, d, block or n))
        assert counter.get_total_flops() == expected, (impl, n, block)


def test_loss_scaling_reference_products_share_two_buffers(monkeypatch):
    """The matmul-rate reference allocates two buffers, not one pair per shape: at N = 50,000
    the triangle blocks' shapes alone would need ~30 GB and broke the run under its 16 GB cap."""
    import torch

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import loss_scaling

    shapes = loss_scaling._products("blockwise", 2000, 16, 64)
    ops = loss_scaling._operands(shapes, torch.device("cpu"), torch.float32)
    assert set(ops) == set(shapes) and len(ops) > 60  # one triangle width per row block
    assert all(a.shape == (m, k) and b.shape == (k, n) and a.is_contiguous() and b.is_contiguous()
               for (m, k, n), (a, b) in ops.items())
    assert len({a.untyped_storage().data_ptr() for a, _ in ops.values()}) == 1
    assert len({b.untyped_storage().data_ptr() for _, b in ops.values()}) == 1
    held = sum(s.untyped_storage().nbytes() for s in next(iter(ops.values())))
    per_shape = sum(4 * (m * k + k * n) for m, k, n in set(shapes))
    assert held * 20 < per_shape
    assert loss_scaling._matmul_rate(shapes[:50], torch.device("cpu"), torch.float32) > 0


def _run_script(name, args, tmp_path):
    env = {**os.environ, "GCL_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / name.replace(".py", ".json")).read_text())


def test_peer_grace_measures_both_sides_in_their_own_process(tmp_path):
    """Each side runs in a fresh process and its peak is counted from the level after loading
    (in one shared process, gcl's peak on Amazon-Photo once read 0 MiB: the allocator kept the
    warm-up's memory, so the timed epochs never raised the resident set)."""
    record = _run_script("peer_grace.py", ["--datasets", "synthetic", "--epochs", "1"], tmp_path)
    assert len(record["rows"]) == 1, record["notes"]
    dataset, nodes, gcl_ms, peer_ms, _, gcl_mb, peer_mb, _ = record["rows"][0]
    assert dataset == "synthetic" and nodes > 0 and gcl_ms > 0 and peer_ms > 0
    assert gcl_mb > 1  # the training holds at least its activations
    # the peer keeps exp(z1 z1ᵀ) and exp(z1 z2ᵀ) of both directions for its backward pass
    assert peer_mb >= 4 * nodes**2 * 4 / 2**20


def test_training_step_peak_counts_the_timed_epochs(tmp_path):
    record = _run_script("training_step.py", ["--methods", "grace", "--datasets", "synthetic",
                                              "--epochs", "1"], tmp_path)
    assert [row[:2] for row in record["rows"]] == [["grace", "synthetic"]], record["notes"]
    assert record["rows"][0][4] > 0 and record["rows"][0][5] > 1


def test_training_step_skips_only_a_loss_warm_up():
    """gcn-pamc's ``warmup_epochs`` trains with InfoNCE first (not its step: skipped before the
    timing); BGRL's key of the same name is a learning-rate warm-up (1000 epochs on Photo) and
    must not add epochs to the benchmark's warm-up."""
    from training_step import loss_warmup_epochs

    from gcl.data import synthetic
    from gcl.methods import get_method, load_config

    data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
    bgrl = load_config("bgrl", "synthetic")
    assert bgrl["warmup_epochs"] == 20
    assert loss_warmup_epochs(get_method("bgrl").build({**bgrl, "device": "cpu"}, data)) == 0
    pamc = {**load_config("gcn-pamc", "synthetic"), "warmup_epochs": 7, "device": "cpu"}
    assert loss_warmup_epochs(get_method("gcn-pamc").build(pamc, data)) == 7


def test_committed_benchmark_page_matches_the_result_files():
    page = (REPO / "docs" / "benchmarks.md").read_text()
    expected = render_benchmarks(collect_benchmarks(REPO / "benchmarks" / "results"))
    assert page == expected, ("docs/benchmarks.md is stale: run `python benchmarks/report.py` "
                              "(or `make bench`)")


def test_adameow_loss_script_agrees_across_variants(tmp_path):
    out = tmp_path / "adameow_loss.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "adameow_loss.py"),
                           "--sizes", "150", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    cols = record["columns"]
    rows = [dict(zip(cols, r)) for r in record["rows"]]
    assert [(r["N"], r["variant"]) for r in rows] == [(150, "pair"), (150, "chunked"),
                                                      (150, "fused")]
    for r in rows:  # the three computations give the same loss and gradients
        assert r["fwd+bwd s"] > 0 and r["loss diff to fused"] < 1e-4
        assert r["grad diff to fused"] < 1e-4
    # the pair tensor alone is N×N×64 floats
    assert rows[0]["peak MiB"] > 150 * 150 * 64 * 4 / 2**20


def test_pathsim_ties_script_scores_each_tie_order(tmp_path, require_dataset):
    root = require_dataset("imdb")
    env = {**os.environ, "GCL_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pathsim_ties.py"),
                           "--datasets", "imdb", "--methods", "meow", "--root", str(root)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "pathsim_ties.json").read_text())
    rows = [dict(zip(record["columns"], r)) for r in record["rows"]]
    assert [(r["dataset"], r["meta-path"]) for r in rows] == [("imdb", "mam"), ("imdb", "mdm"),
                                                              ("imdb", "mkm")]
    for r in rows:
        assert 0 < r["kept"] <= r["entries"]
        for ties in ("index", "random", "reference"):
            assert 0 < r[f"same class % ({ties})"] < 100
            assert 0 < r[f"self kept ({ties})"] <= 4275  # IMDB has 4,275 movies
    # the deterministic default keeps the node itself first, so no rule keeps it in more rows
    assert all(r["self kept (index)"] >= r["self kept (reference)"] for r in rows)

"""Data-parallel training on two gloo ranks equals one process (float64), and each rank does
only its share of the loss.

The ranks run ``tests/_dist_worker.py`` (one spawn for every case); the references here are
computed in this single process with the same builders: the same ``fit`` for full-batch
training, and for mini-batch training a replay of the global batch written out below (the
union of the ranks' sampled subgraphs and views, one loss over all their seeds).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dist_worker as W  # noqa: E402

#: float64 tolerances: the ranks differ from one process only in the order of floating-point
#: sums. Measured (2-core CPU): one step's loss to 4e-16 relative and gradients to 1.4e-12 of
#: each parameter's largest gradient; after 20 epochs parameters and embeddings to 1.3e-14
STEP_RTOL = 1e-10
EPOCHS_ATOL = 1e-11

pytestmark = pytest.mark.skipif(not torch.distributed.is_available()
                                or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


def test_sampler_splits_the_seeds_over_the_ranks_like_distributed_sampler():
    """Each epoch the ranks' seeds are disjoint and cover the input nodes, every rank has the
    same number of batches, the shuffle changes with the epoch and not with the rank, and a
    last global batch with fewer seeds than ranks joins the one before."""
    from gcl.data import NeighborSampler, synthetic

    data = synthetic(num_nodes=103, num_features=4, num_classes=2, seed=0)
    nodes = torch.arange(1, 93)  # 92 seeds: global batches of 30, 30 and 30 + 2 (the rest)
    orders = []
    for epoch in (1, 2):
        parts = []
        for rank in range(3):
            loader = NeighborSampler(data, [3, 2], batch_size=10, seed=5, input_nodes=nodes,
                                     rank=rank, world_size=3)
            loader.set_epoch(epoch)
            batches = list(loader)
            assert len(batches) == len(loader) == 3
            assert [b.batch_size for b in batches] == [10, 10, 11 if rank < 2 else 10]
            parts.append(torch.cat([b.n_id[:b.batch_size] for b in batches]))
        seen = torch.cat(parts)
        assert torch.equal(seen.sort().values, nodes)  # disjoint and covering
        orders.append(seen)
    assert not torch.equal(orders[0], orders[1])  # reshuffled per epoch
    with pytest.raises(ValueError, match="rank must lie"):
        NeighborSampler(data, [3], batch_size=4, rank=3, world_size=3)
    with pytest.raises(ValueError, match="both rank= and world_size="):
        NeighborSampler(data, [3], batch_size=4, rank=0)
    with pytest.raises(ValueError, match="every rank needs at least one"):
        NeighborSampler(data, [3], batch_size=4, input_nodes=torch.arange(2), rank=0,
                        world_size=3)
    single = NeighborSampler(data, [3], batch_size=4)
    assert (single.rank, single.world_size) == (0, 1)


def test_row_shards_and_seeds():
    from gcl.distributed import rank_seed, shard_rows, triangle_rows
    from gcl.distributed.launch import strip_nproc

    for n, size in ((7, 3), (100, 4), (7650, 2), (1, 2)):
        for split in (shard_rows, triangle_rows):
            cuts = [split(n, r, size) for r in range(size)]
            assert cuts[0][0] == 0 and cuts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
        cost = [sum(n - i for i in range(*triangle_rows(n, r, size))) for r in range(size)]
        if n > 50:
            assert max(cost) < 1.05 * min(cost)  # each rank about the same triangle entries
    assert len({rank_seed(0, e, r) for e in range(5) for r in range(4)}) == 20
    assert strip_nproc(["train", "--nproc=4", "--nproc", "2", "--epochs", "3"]) == \
        ["train", "--epochs", "3"]


def test_one_process_trains_alone_and_refuses_a_missing_group():
    from gcl.distributed import current_world, get_world, is_main_process
    from gcl.training import Trainer

    assert get_world() is None and current_world() is None and is_main_process()
    pipe = W.build("grace")
    data = W.graph()
    with pytest.raises(ValueError, match="distributed=True needs a process group"):
        Trainer(epochs=1, distributed=True).fit(pipe, data)
    history = Trainer(epochs=1, distributed=False).fit(W.build("grace"), data)
    assert "world_size" not in history.meta


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra}
    env.pop("LOCAL_RANK", None)
    return env


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two ranks saw (one spawn of the worker for every case)."""
    out = tmp_path_factory.mktemp("ranks")
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "_dist_worker.py"), str(out),
                           str(_free_port())], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(W.WORLD)]


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    scale = max(float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) <= rtol * scale


def _replay_minibatch(base: int, epochs: int, steps: int | None = None):
    """One process training on the global mini-batches of the two ranks: per step, each
    rank's sampled subgraph with the views its own random stream draws (seeded from the run's
    base seed, the epoch and the rank, as the ranks do), one InfoNCE over all seeds."""
    from gcl._utils import seed_everything
    from gcl.distributed import rank_seed
    from gcl.objectives import info_nce

    pipe = W.build("minibatch")
    pipe.ensure_optimizer()
    samplers = [W.sampler(rank=r, world_size=W.WORLD) for r in range(W.WORLD)]
    trace = []
    for epoch in range(1, epochs + 1):
        states, iters = [], []
        for r, s in enumerate(samplers):
            s.set_epoch(epoch)
            seed_everything(rank_seed(base, epoch, r) % 2**32)
            states.append(torch.get_rng_state())
            iters.append(iter(s))
        for _ in range(len(samplers[0]) if steps is None else steps):
            h1, h2 = [], []
            for r in range(W.WORLD):
                batch = next(iters[r])
                torch.set_rng_state(states[r])
                v1, v2 = pipe.augment1(batch), pipe.augment2(batch)
                states[r] = torch.get_rng_state()
                h1.append(pipe.head(pipe.encode(v1)[:batch.batch_size]))
                h2.append(pipe.head(pipe.encode(v2)[:batch.batch_size]))
            loss = info_nce(torch.cat(h1), torch.cat(h2), pipe.objective.tau, block_size=0)
            pipe.optimizer.zero_grad()
            loss.backward()
            trace.append({"loss": float(loss.detach()), "grads": W.grads(pipe)})
            pipe.optimizer.step()
    return pipe, trace


@pytest.fixture(scope="module")
def references(ranks):
    """The single-process values of every case."""
    torch.set_num_threads(1)
    refs = {}
    for case in ("grace", "teamup", "pamc"):
        refs[case] = W.train_case(case)
    base = ranks[0]["minibatch"]["meta"]["rank_seed_base"]
    _, trace = _replay_minibatch(base, 1, steps=1)
    pipe, _ = _replay_minibatch(base, W.EPOCHS)
    refs["minibatch"] = {"steps": trace,
                         "params": {n: p.detach() for n, p in pipe.named_parameters()},
                         "embeddings": pipe.embed(W.graph())}
    return refs


@pytest.mark.parametrize("case", W.CASES)
def test_one_step_loss_and_gradients_equal_one_process(ranks, references, case):
    for k, ref in enumerate(references[case]["steps"]):
        for rank in ranks:
            got = rank[case]["steps"][k]
            assert math.isclose(got["loss"], ref["loss"], rel_tol=STEP_RTOL), (case, k)
            assert got["grads"].keys() == ref["grads"].keys(), (case, k)
            for name, g in ref["grads"].items():
                assert _close(got["grads"][name], g, STEP_RTOL), (case, k, name)


@pytest.mark.parametrize("case", W.CASES)
def test_twenty_epochs_give_the_embeddings_of_one_process(ranks, references, case):
    ref = references[case]
    for rank in ranks:
        assert torch.allclose(rank[case]["embeddings"], ref["embeddings"], rtol=0,
                              atol=EPOCHS_ATOL), case
        for name, p in ref["params"].items():
            assert torch.allclose(rank[case]["params"][name], p, rtol=0, atol=EPOCHS_ATOL)
    if case != "minibatch":  # the logged losses are the single-process ones
        for got, want in zip(ranks[0][case]["losses"], ref["losses"], strict=True):
            assert math.isclose(got, want, rel_tol=1e-9)
    meta = ranks[0][case]["meta"]
    assert meta["world_size"] == 2 and meta["backend"] == "gloo"
    assert len(meta["peak_mem_mb_per_rank"]) == 2


def test_each_rank_computes_only_its_share_of_the_loss(ranks):
    """Two replicas that each computed the whole loss would also match it: the FLOPs show
    that each rank did about half of the products of one process, and together all of them."""
    whole = ranks[0]["flops"]["whole"]
    shares = [r["flops"]["share"] for r in ranks]
    assert all(r["flops"]["whole"] == whole for r in ranks)
    for share in shares:
        assert 0.4 * whole < share < 0.6 * whole, (share, whole)
    assert 0.95 * whole < sum(shares) < 1.1 * whole, (shares, whole)


def test_gathered_gradients_are_summed_over_the_ranks(ranks):
    """Each rank's loss weighs the gathered rows with coefficients of its own: a row's
    gradient is the sum of every rank's coefficients (keeping only the own rank's gradient,
    the bug of several SimCLR ports, would give rank r's coefficients alone)."""
    coefs = sum(r["gather"]["coef"] for r in ranks)
    start = 0
    for r, rank in enumerate(ranks):
        g = rank["gather"]
        rows = g["x"].size(0)
        assert rows == 3 + 2 * r
        assert torch.equal(g["gathered"], ranks[0]["gather"]["gathered"])
        assert torch.equal(g["gathered"][start:start + rows], g["x"])
        assert torch.equal(g["grad"], coefs[start:start + rows])
        start += rows


def test_sharded_meow_and_pamc_node_pair_objectives_equal_the_whole(ranks):
    """MEOW's weighted InfoNCE + prototype loss and PamC with node-pair negatives: the global
    value on every rank, and the ranks' gradients (each ``size`` times its share) average to
    the single-process gradient, as DDP averages them."""
    u, v, objectives = W.objective_inputs()
    for rank in ranks:
        assert torch.equal(rank["objectives"]["inputs"][0], u.detach())
    for name, fn in objectives.items():
        loss = fn(u, v)
        gu, gv = torch.autograd.grad(loss, (u, v))
        got = [r["objectives"][name] for r in ranks]
        for g in got:
            assert math.isclose(g["loss"], float(loss.detach()), rel_tol=STEP_RTOL), name
        mean_u = sum(g["grad_u"] for g in got) / len(got)
        mean_v = sum(g["grad_v"] for g in got) / len(got)
        assert _close(mean_u, gu, STEP_RTOL) and _close(mean_v, gv, STEP_RTOL), name
        assert not _close(got[0]["grad_u"], gu, 1e-3), name  # each rank: its share only


@pytest.mark.parametrize("name", list(W.INFONCE_CASES))
def test_sharded_info_nce_takes_the_path_and_precision_of_one_process(ranks, name):
    """The sharded InfoNCE is the blockwise loss given the world: on the one-exponential path
    (τ = 0.5) and on the running-maximum path (τ = 0.01), with and without a column bias, and
    at each precision, every rank's value is the one-process loss and the ranks' gradients
    average to its gradients (float32: up to the order of the sums). Measured (2-core CPU):
    losses to 9e-8 relative, gradients to 6e-7 of their largest entry (bf16: 3.6e-4, its
    products rounded per block); the same loss at another precision is 1.5e-6 (TF32) and
    6.6e-6 (bf16) away from fp32's, and bf16's gradients 1e-3."""
    import gcl.objectives.blockwise as bw

    tau, biased, precision, *_ = W.INFONCE_CASES[name]
    h1, _, bias = W.info_nce_inputs()
    u = torch.nn.functional.normalize(h1.detach(), dim=1)
    plan = bw._Plan(u, bias if biased else None, tau, True, True, 16, precision, None)
    assert plan.single == (tau == 0.5), name  # the path both computations take
    want = W.info_nce_case(name)
    got = [r["info_nce"][name] for r in ranks]
    for g in got:
        assert math.isclose(g["loss"], want["loss"], rel_tol=5e-7), (name, g["loss"], want)
    for key in ("grad1", "grad2"):
        mean = sum(g[key] for g in got) / len(got)
        assert _close(mean, want[key], 6e-4 if precision == "bf16" else 2e-6), (name, key)
        assert not _close(got[0][key], want[key], 1e-2), (name, key)  # a rank: its share


def _rank_pid(launcher: int, local_rank: int) -> int | None:
    """The pid of the worker of ``local_rank`` among the children of torchrun's process."""
    proc = Path("/proc") / str(launcher)
    for task in (proc / "task").glob("*"):
        for child in (task / "children").read_text().split():
            try:
                env = (Path("/proc") / child / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"LOCAL_RANK={local_rank}".encode() in env:
                return int(child)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_torchrun_train_writes_one_record_and_resumes_after_a_killed_rank(tmp_path):
    """``torchrun --standalone --nproc-per-node 2 -m gcl train``: one record (rank 0's) that
    names gloo and two processes, with the per-epoch losses of the same run in one process
    (float32: to 1e-4 for the first five epochs, see below). A second launch has rank 1
    SIGKILLed after its first checkpoint; ``gcl train --nproc 2 --resume`` continues from rank
    0's checkpoint to the uninterrupted run's losses and final embeddings."""
    from gcl.cli import main
    from gcl.results import read_result

    epochs, every = 20, 4
    common = ["train", "--method", "grace", "--dataset", "synthetic", "--epochs", str(epochs),
              "--set", "probe_epochs=20", "--set", "clustering=false", "--quiet"]

    def args(name: str) -> list[str]:
        return [*common, "--checkpoint-dir", str(tmp_path / name), "--checkpoint-every",
                str(every), "--out", str(tmp_path / name / "rec.json"), "--save-emb",
                str(tmp_path / name / "emb.pt")]

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2", "-m", "gcl"]
    whole = subprocess.run([*torchrun, *args("whole")], env=_env(), capture_output=True,
                           text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "whole").iterdir()) == ["emb.pt", "rec.json",
                                                                      "seed-0"]
    record = read_result(tmp_path / "whole" / "rec.json")
    assert record["distributed"] == {"backend": "gloo", "world_size": 2}
    assert "2 processes (gloo)" in record["device"]
    assert record["runs"][0]["meta"]["world_size"] == 2
    assert main([*common, "--out", str(tmp_path / "one.json")]) == 0
    alone = read_result(tmp_path / "one.json")
    assert "distributed" not in alone
    assert len(record["runs"][0]["loss"]) == len(alone["runs"][0]["loss"]) == epochs
    # Two ranks' all-reduced gradients and one process's gradients round differently in the
    # last bit, and GRACE's training amplifies that over the epochs (measured on an Intel Xeon
    # @ 2.80GHz against a one-thread run: 6e-8 at epoch 1, 1.4e-5 at epoch 5, 8e-5 at epoch 10,
    # 1.1e-3 at epoch 20). The first five epochs say the gradients are the same; the later ones
    # only that the run did not go astray.
    for epoch, (got, want) in enumerate(zip(record["runs"][0]["loss"], alone["runs"][0]["loss"])):
        assert math.isclose(got, want, rel_tol=1e-4 if epoch < 5 else 1e-2), (epoch, got, want)

    ckpt = tmp_path / "cut" / "seed-0" / "last.pt"
    launcher = subprocess.Popen([*torchrun, *args("cut")], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not ckpt.exists() and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ckpt.exists() and launcher.poll() is None, "no checkpoint while running"
        pid = _rank_pid(launcher.pid, 1)
        assert pid is not None, "rank 1 not found"
        os.kill(pid, signal.SIGKILL)
        launcher.wait(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode != 0
    assert not (tmp_path / "cut" / "rec.json").exists()  # the interrupted run wrote no record
    saved = torch.load(ckpt, weights_only=True)["epoch"]
    assert every <= saved < epochs
    resumed = subprocess.run([sys.executable, "-m", "gcl", *args("cut"), "--nproc", "2",
                              "--resume"], env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = read_result(tmp_path / "cut" / "rec.json")
    assert again["runs"][0]["meta"]["resumes"][0]["epoch"] == saved
    assert again["runs"][0]["loss"] == record["runs"][0]["loss"]
    z_cut = torch.load(tmp_path / "cut" / "emb.pt", weights_only=True)["embeddings"]
    z_whole = torch.load(tmp_path / "whole" / "emb.pt", weights_only=True)["embeddings"]
    assert torch.equal(z_cut, z_whole)


@pytest.mark.slow
def test_distributed_benchmark_writes_its_table(tmp_path):
    """``benchmarks/distributed.py`` on the synthetic graph: one launch of one process and one
    of two, a ``gcl-bench/1`` record whose rows the benchmark page renders."""
    import json

    sys.path.insert(0, str(REPO / "benchmarks"))
    from report import collect_benchmarks, render_benchmarks

    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "distributed.py"), "--datasets", "synthetic",
         "--configs", "1x1", "2x1", "--repeats", "1", "--warmup", "1", "--epochs", "1",
         "--loss-repeats", "1"], env=_env(GCL_BENCH_RESULTS=str(tmp_path)),
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "distributed.json").read_text())
    assert record["notes"] == []
    assert [row[:2] for row in record["rows"]] == [["1 x 1 thread(s)", 1], ["2 x 1 thread(s)", 2]]
    for row in record["rows"]:
        epoch_ms, loss_ms, share, peak = row[3:7]
        assert epoch_ms > 0 and 0 < loss_ms and 0 < share and peak >= 0
    assert record["rows"][0][7] == 1.0
    assert "2 x 1 thread(s)" in render_benchmarks(collect_benchmarks(tmp_path))

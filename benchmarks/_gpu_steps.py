"""The steps of ``benchmarks/gpu_check.py``, each run in its own process by the driver there.

A step receives a :class:`Context` (output folder, device, tiny or full sizes, its deadline) and
writes one ``gcl-bench/1`` record through a :class:`Table`, rewritten after every row, so that a
step stopped at its time budget keeps what it measured. Methods are trained only through
``gcl.methods.run``, the stable public entry point.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_bench  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

#: Overrides that keep a method run's evaluation short (applied where the method has the key):
#: the methods step times training epochs, not the evaluation protocol.
SHORT_EVAL = {"probe_epochs": 20, "probe_eval_every": 10, "clustering": False, "eval_heads": 2,
              "eval_steps": 20, "cluster_fits": 1}


@dataclass
class Context:
    """What a step needs: where to write, on what, how big, and until when."""

    out: Path
    device: torch.device
    tiny: bool
    deadline: float
    data_root: str | None = None
    command: str = ""

    def left(self) -> float:
        """Seconds left before this step's deadline."""
        return self.deadline - time.time()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass
class Table:
    """One step's record, written to ``ctx.out/<name>.json`` after every row and note."""

    ctx: Context
    name: str
    title: str
    description: str
    columns: list[str]
    order: int
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add(self, row: list) -> None:
        self.rows.append(row)
        self.write()

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.write()

    def write(self) -> None:
        mode = "tiny sizes (no GPU)" if self.ctx.tiny else "full sizes"
        write_bench(self.name, title=f"{self.title} ({mode})", description=self.description,
                    columns=self.columns, rows=self.rows, notes=self.notes,
                    device=self.ctx.device, results_dir=self.ctx.out, command=self.ctx.command,
                    extra={"order": self.order, "gpu_check": True, "tiny": self.ctx.tiny})


def _timed(ctx: Context, fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        ctx.sync()
        t0 = time.perf_counter()
        fn()
        ctx.sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _reset_peak(ctx: Context) -> float:
    if ctx.device.type != "cuda":
        return 0.0
    ctx.sync()
    torch.cuda.reset_peak_memory_stats(ctx.device)
    return torch.cuda.memory_allocated(ctx.device) / 2**20


def _peak_since(ctx: Context, base: float) -> float | None:
    """Peak device memory above ``base`` MiB (``None`` on the CPU, where no allocator peak
    exists; the CPU figures come from ``benchmarks/loss_scaling.py``)."""
    if ctx.device.type != "cuda":
        return None
    ctx.sync()
    return torch.cuda.max_memory_allocated(ctx.device) / 2**20 - base


# -- step 1: the CUDA-marked tests -----------------------------------------------------------
def step_tests(ctx: Context) -> None:
    table = Table(ctx, "gpu_tests", "GPU check: the CUDA-marked tests",
                  "`pytest -m cuda`: the CUDA variants of the core tests (tests/test_cuda.py: "
                  "Pipeline fit/embed, blockwise vs dense InfoNCE at each precision, Team-up, "
                  "GCN + PamC and MEOW runs, POT, NeighborSampler, checkpoint/resume, the linear "
                  "probe). Failures are listed in the notes.",
                  ["selection", "passed", "failed", "errors", "skipped", "seconds"], order=210)
    paths = ["tests/test_cuda.py"] if ctx.tiny else ["tests"]
    env = dict(os.environ)
    if ctx.data_root:
        env["GCL_DATA"] = ctx.data_root
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
               "--continue-on-collection-errors",
               f"--junitxml={xml}", *paths]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=max(ctx.left() - 5, 5))
        except subprocess.TimeoutExpired:
            table.add(["-m cuda " + " ".join(paths), None, None, None, None,
                       time.perf_counter() - t0])
            table.note("pytest stopped at the step's time budget")
            return
        seconds = time.perf_counter() - t0
        if not xml.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            table.add(["-m cuda " + " ".join(paths), None, None, None, None, seconds])
            table.note(f"pytest wrote no report (exit {proc.returncode}): {' / '.join(tail)}")
            return
        suite = ET.parse(xml).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        table.rows.append(["-m cuda " + " ".join(paths), passed, counts["failures"],
                           counts["errors"], counts["skipped"], seconds])
        for case in suite.iter("testcase"):
            bad = case.find("failure")
            bad = bad if bad is not None else case.find("error")
            if bad is not None and len(table.notes) < 15:
                message = (bad.get("message") or "").splitlines()[:1]
                table.notes.append(f"{case.get('classname')}::{case.get('name')}: "
                                   f"{message[0][:200] if message else 'failed'}")
        table.write()


# -- step 2: the loss against the matmul rate ------------------------------------------------
def step_loss(ctx: Context) -> None:
    table = Table(ctx, "gpu_loss", "GPU check: blockwise InfoNCE against the matmul rate",
                  "Forward + backward of the exact blockwise InfoNCE (GRACE's loss: τ = 0.5, "
                  "intra-view negatives, symmetric) at each precision of the similarity "
                  "products, against the device's rate on the same sequence of matrix products "
                  "at that precision (see `benchmarks/loss_scaling.py`); peak memory above the "
                  "inputs, and the dense loss where it fits (fp32).",
                  ["N", "d", "precision", "block", "blockwise s", "blockwise TFLOP/s",
                   "matmul TFLOP/s", "% of matmul", "blockwise peak MiB", "dense s",
                   "dense peak MiB"], order=220)
    d = 16 if ctx.tiny else 128
    sizes = [300, 700] if ctx.tiny else [16_384, 65_536, 169_343]
    gen = torch.Generator().manual_seed(0)
    for precision in ("fp32", "tf32", "bf16"):
        for n in sizes:
            if ctx.left() < 10:
                table.note(f"stopped before N = {n} ({precision}): time budget")
                return
            repeats = 1 if ctx.tiny or n > 100_000 else 3
            table.add(_loss_point(ctx, table, n, d, precision, repeats, gen))


def _loss_point(ctx: Context, table: Table, n: int, d: int, precision: str, repeats: int,
                gen: torch.Generator) -> list:
    """One row of the loss step: the blockwise loss, its matmul reference, the dense loss."""
    import loss_scaling

    from gcl.objectives import info_nce
    from gcl.objectives.blockwise import auto_block_size
    from gcl.objectives.precision import Products

    h1 = torch.randn(n, d, generator=gen).to(ctx.device).requires_grad_()
    h2 = torch.randn(n, d, generator=gen).to(ctx.device).requires_grad_()
    block = auto_block_size(n, device=ctx.device.type)

    def step(bs=block):
        info_nce(h1, h2, 0.5, block_size=bs, precision=precision).backward()
        h1.grad = h2.grad = None

    base = _reset_peak(ctx)
    seconds = _timed(ctx, step, repeats)
    peak = _peak_since(ctx, base)
    shapes = loss_scaling._products("blockwise", n, d, block)
    flops = loss_scaling._flops(shapes)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with Products(precision, ctx.device).context():
        rate = loss_scaling._matmul_rate(shapes, ctx.device, dtype, repeats)
    dense_s = dense_peak = None
    if precision == "fp32":
        dense_s, dense_peak = _dense_point(ctx, table, n, step, repeats)
    return [n, d, precision, block, seconds, flops / seconds / 1e12, rate / 1e12,
            100 * flops / seconds / rate, peak, dense_s, dense_peak]


def _dense_point(ctx: Context, table: Table, n: int, step, repeats: int):
    """The dense loss's time and peak where its ``N x N`` matrices fit, else a note."""
    need = 8 * n * n * 4 / 2**20  # about eight N x N float32 matrices alive in its backward
    if ctx.device.type == "cuda":
        free = torch.cuda.mem_get_info(ctx.device)[0] / 2**20
        if need > 0.9 * free:
            table.notes.append(f"dense at N = {n}: not tried (needs about {need:,.0f} MiB, "
                               f"{free:,.0f} MiB free)")
            return None, None
    base = _reset_peak(ctx)
    try:
        seconds = _timed(ctx, lambda: step(0), repeats)
    except torch.cuda.OutOfMemoryError:
        table.notes.append(f"dense at N = {n}: out of memory")
        return None, None
    return seconds, _peak_since(ctx, base)


# -- step 3: method epochs on the largest mirrored graphs ------------------------------------
def _available(name: str, data_root: str | None) -> bool:
    from gcl.data import dataset_status

    if name == "synthetic":
        return True
    status = {row["name"]: row["available"] for row in dataset_status(data_root)}
    return bool(status.get(name))


def _method_run(ctx: Context, table: Table, method: str, dataset: str, overrides: dict,
                short_eval: bool = True) -> dict:
    """``gcl.methods.run`` on the step's device; CSGCL falls back to Louvain communities
    (networkx) when Leiden's packages are missing, with a note."""
    from gcl.methods import load_config, run

    known = load_config(method, dataset)
    short = {k: v for k, v in SHORT_EVAL.items() if k in known} if short_eval else {}

    def once(extra):
        return run(method, dataset, overrides={**short, **overrides, **extra},
                   device=str(ctx.device), data_root=ctx.data_root, log=None)

    try:
        return once({})
    except ImportError as err:
        if method != "csgcl":
            raise
        table.note(f"csgcl on {dataset}: {err}; communities by Louvain instead")
        return once({"community_method": "louvain"})


def step_methods(ctx: Context) -> None:
    table = Table(ctx, "gpu_methods", "GPU check: training epochs per method",
                  "Median epoch time (the first, warm-up epoch included in the run) and the "
                  "training's peak device memory, through `gcl.methods.run` with each method's "
                  "shipped configuration, a short evaluation, and CSGCL's Team-up bias from the "
                  "first epoch (t0 = 0).",
                  ["method", "dataset", "epochs", "epoch ms", "peak MiB", "train s"], order=230)
    if ctx.tiny:
        pairs = [("grace", "synthetic"), ("gca", "synthetic"), ("csgcl", "synthetic"),
                 ("gcn-pamc", "synthetic"), ("meow", "acm")]
    else:
        # cheapest set-up first: CSGCL detects communities on the CPU first, and MEOW on
        # AMiner may compute its metapath2vec inputs, so they come last
        pairs = [(m, ds) for m in ("grace", "gca", "gcn-pamc")
                 for ds in ("amazon-computers", "coauthor-cs")]
        pairs += [("meow", "acm"), ("csgcl", "amazon-computers"), ("csgcl", "coauthor-cs"),
                  ("meow", "aminer")]
    epochs = 2 if ctx.tiny else 6
    for method, dataset in pairs:
        if ctx.left() < 15:
            table.note(f"stopped before {method} on {dataset}: time budget")
            return
        if not _available(dataset, ctx.data_root):
            table.note(f"{method} on {dataset}: not at the data root, skipped")
            continue
        extra = {"t0": 0} if method == "csgcl" else {}
        epochs_here = epochs
        if method == "meow" and ctx.tiny:
            extra, epochs_here = {"kmeans_nredo": 1, "num_clusters": [5, 10]}, 1
        record = _method_run(ctx, table, method, dataset, {"epochs": epochs_here, **extra})
        timing = record["timing"]
        table.add([method, dataset, epochs_here, 1000 * (timing["epoch_s_median"] or 0.0),
                   timing["peak_mem_mb"] if ctx.device.type == "cuda" else None,
                   timing["train_s"]])


# -- step 4: graphs of OGB's sizes -----------------------------------------------------------
class _FirstBatches:
    """The first ``count`` batches of ``loader``, with that length."""

    def __init__(self, loader, count: int) -> None:
        self.loader, self.count = loader, min(count, len(loader))

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.count)


def _random_graph(n: int, undirected_edges: int, features: int, seed: int):
    """A uniform random graph with both directions of each edge and Gaussian features."""
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, undirected_edges), generator=g)
    return Data(x=torch.randn(n, features, generator=g),
                edge_index=torch.cat([ei, ei.flip(0)], 1), num_nodes=n)


def step_scale(ctx: Context) -> None:
    from gcl.data import NeighborSampler, synthetic
    from gcl.methods.grace import grace

    table = Table(ctx, "gpu_scale", "GPU check: GRACE on graphs of OGB's sizes",
                  "Full batch: GRACE (hidden 128) on a planted-partition graph of ogbn-arxiv's "
                  "size, median of its epochs, at each precision of the loss's products. Mini-"
                  "batch: GRACE on a uniform random graph of ogbn-products' size with "
                  "NeighborSampler (fanout 10, 5; 2048 seed nodes per batch); the first batches "
                  "are timed and the epoch estimated from them.",
                  ["run", "nodes", "edges", "precision", "steps timed", "ms per step",
                   "epoch s (estimated for mini-batch)", "peak MiB"], order=240)
    if ctx.tiny:
        n_full, e_full, n_mini, e_mini, feats, batches = 600, 2400, 3000, 12000, 16, 3
    else:
        n_full, e_full = 169_343, 1_166_243  # ogbn-arxiv
        n_mini, e_mini, feats, batches = 2_449_029, 61_859_140, 100, 40  # ogbn-products
    data = synthetic(num_nodes=n_full, num_features=128, num_classes=40,
                     avg_degree=2 * e_full / n_full, seed=0)
    epochs = 2 if ctx.tiny else 4
    for precision in ("fp32", "tf32", "bf16"):
        if ctx.left() < 20:
            table.note(f"stopped before the full-batch run at {precision}: time budget")
            return
        pipe = grace(128, device=str(ctx.device), seed=0, progress=False, precision=precision)
        history = pipe.fit(data, epochs=epochs)
        times = [e["time_s"] for e in history.epochs]
        table.add(["full batch", n_full, data.edge_index.size(1), precision, len(times),
                   1000 * statistics.median(times), statistics.median(times),
                   history.meta["peak_mem_mb"] if ctx.device.type == "cuda" else None])
        del pipe
    if ctx.left() < 30:
        table.note("stopped before the mini-batch run: time budget")
        return
    del data
    big = _random_graph(n_mini, e_mini, feats, seed=1)
    t0 = time.perf_counter()
    loader = NeighborSampler(big, [10, 5], batch_size=2048, seed=0)
    index_s = time.perf_counter() - t0
    pipe = grace(feats, device=str(ctx.device), seed=0, progress=False)
    history = pipe.fit(big, epochs=1, loader=_FirstBatches(loader, batches))
    per_step = history.epochs[-1]["time_s"] / min(batches, len(loader))
    table.add(["mini-batch", n_mini, big.edge_index.size(1), "fp32", min(batches, len(loader)),
               1000 * per_step, per_step * len(loader),
               history.meta["peak_mem_mb"] if ctx.device.type == "cuda" else None])
    table.note(f"mini-batch: {len(loader)} batches per epoch; indexing the edges for sampling "
               f"took {index_s:.1f} s once")


# -- step 5: CSGCL's full protocol, estimated ------------------------------------------------
def step_csgcl(ctx: Context) -> None:
    from gcl.methods import load_config

    table = Table(ctx, "gpu_csgcl", "GPU check: CSGCL's full protocol per seed, estimated",
                  "A CSGCL run with the shipped configuration and evaluation, stopped at a "
                  "fixed epoch count; the full protocol's time per seed is estimated as the "
                  "measured epochs scaled to the configured count plus everything else of the "
                  "run (loading, communities, evaluation). Team-up's bias starts at the "
                  "configured t0, so the timed epochs may all run without it.",
                  ["dataset", "epochs run", "train s", "epoch ms", "other s",
                   "configured epochs", "estimated s per seed"], order=250)
    dataset = "synthetic" if ctx.tiny else "amazon-photo"
    if not _available(dataset, ctx.data_root):
        table.note(f"{dataset}: not at the data root, skipped")
        return
    full = int(load_config("csgcl", dataset)["epochs"])
    epochs = 2 if ctx.tiny else 50
    overrides = {"epochs": epochs}
    if ctx.tiny:
        overrides.update({"probe_epochs": 20, "clustering": False})
    t0 = time.perf_counter()
    record = _method_run(ctx, table, "csgcl", dataset, overrides, short_eval=False)
    total = time.perf_counter() - t0  # (a Leiden attempt that failed at once counts too)
    train = record["timing"]["train_s"]
    other = total - train
    table.add([dataset, epochs, train, 1000 * train / epochs, other, full,
               train / epochs * full + other])


STEPS = {"tests": step_tests, "loss": step_loss, "methods": step_methods,
         "scale": step_scale, "csgcl": step_csgcl}

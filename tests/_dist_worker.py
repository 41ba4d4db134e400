"""Two gloo ranks on the CPU for ``tests/test_distributed.py``; the same builders give the
single-process references there.

``python tests/_dist_worker.py OUT PORT`` spawns two ranks; rank ``r`` trains every case of
:data:`CASES` with the one training loop (DDP, sharded objectives) and saves what it saw in
``OUT/rank<r>.pt``: the first step's loss and parameter gradients, the parameters after 20
epochs and their embeddings, the matrix-product FLOPs of its share of the loss, and the
gradients of a gather whose ranks hold different numbers of rows.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import torch

DTYPE = torch.float64
WORLD = 2
EPOCHS = 20


def graph():
    from gcl.data import synthetic

    data = synthetic(num_nodes=90, num_features=12, num_classes=3, seed=0)
    data.x = data.x.to(DTYPE)
    return data


def _views():
    from gcl.augment import Compose, DropEdge, MaskFeature

    return (Compose([DropEdge(0.2), MaskFeature(0.3)]), Compose([DropEdge(0.4), MaskFeature(0.4)]))


def build(case: str):
    """A fresh float64 module of ``case``, its initial weights drawn from seed 0."""
    from gcl import Pipeline
    from gcl._utils import seed_everything
    from gcl.encoders import GCNEncoder, ProjectionHead
    from gcl.objectives import InfoNCE, TeamUp
    from gcl.objectives.pamc import PamCObjective

    seed_everything(0)
    if case in ("grace", "minibatch"):
        objective = InfoNCE(tau=0.5, block_size=16 if case == "grace" else 8)
    elif case == "teamup":
        strength = torch.rand(90, generator=torch.Generator().manual_seed(1))
        objective = TeamUp(tau=0.5, gamma_max=1.0, t0=0, ramp=1.0, node_strength=strength,
                           block_size=16)
    elif case == "pamc":  # an InfoNCE warm-up epoch (the centroids sit it out), soft PamC
        objective = PamCObjective(3, 16, temperature=0.5, warmup_epochs=1, assignment="soft")
    else:
        raise ValueError(case)
    head = None if case == "pamc" else ProjectionHead(16, 16, 16)
    pipe = Pipeline(GCNEncoder(12, 16), objective, augment=_views(), head=head, lr=0.01,
                    device="cpu", progress=False)
    return pipe.to(DTYPE)


def sampler(rank: int | None = None, world_size: int | None = None):
    from gcl.data import NeighborSampler

    return NeighborSampler(graph(), [4, 3], batch_size=15, seed=3, rank=rank,
                           world_size=world_size)


class FirstBatches:
    """The first ``k`` batches of a sampler (one optimiser step per epoch when ``k = 1``)."""

    def __init__(self, loader, k: int) -> None:
        self.loader, self.k = loader, k
        self.world_size = loader.world_size

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.k)


CASES = ("grace", "teamup", "pamc", "minibatch")


def first_steps(case: str) -> int:
    """Steps compared one by one: PamC's warm-up step and its first meta-node step."""
    return 2 if case == "pamc" else 1


def grads(module) -> dict:
    return {n: p.grad.detach().clone() for n, p in module.named_parameters()
            if p.grad is not None}


def train_case(case: str) -> dict:
    """Train ``case`` with the one loop (distributed when a process group is initialised):
    the loss and gradients of each of its first steps, then the parameters and embeddings
    after :data:`EPOCHS` epochs of a fresh module."""
    data = graph()
    out: dict = {"steps": []}
    pipe = build(case)
    for _ in range(first_steps(case)):
        loader = FirstBatches(sampler(), 1) if case == "minibatch" else None
        history = pipe.fit(data, epochs=1, loader=loader)
        out["steps"].append({"loss": history.losses[-1], "grads": grads(pipe)})
    pipe = build(case)
    history = pipe.fit(data, epochs=EPOCHS, loader=sampler() if case == "minibatch" else None)
    out.update(losses=history.losses, meta=dict(history.meta),
               params={n: p.detach().clone() for n, p in pipe.named_parameters()},
               embeddings=pipe.embed(data))
    return out


def loss_flops(world) -> dict:
    """Matrix-product FLOPs of one forward and backward pass of the blockwise InfoNCE: the
    whole loss, and this rank's share of it."""
    from torch.utils.flop_counter import FlopCounterMode

    from gcl.distributed import using_world
    from gcl.objectives import info_nce

    gen = torch.Generator().manual_seed(5)
    h1 = torch.randn(256, 8, generator=gen, dtype=DTYPE, requires_grad=True)
    h2 = torch.randn(256, 8, generator=gen, dtype=DTYPE, requires_grad=True)
    counts = {}
    for name, active in (("whole", None), ("share", world)):
        with FlopCounterMode(display=False) as counter, using_world(active):
            info_nce(h1, h2, 0.5, block_size=32).backward()
        counts[name] = counter.get_total_flops()
    return counts


def gather_check(world) -> dict:
    """Rank r holds 3 + 2r rows; each rank's loss weighs the gathered rows by coefficients of
    its own, so a row's gradient is the sum over the ranks of their coefficients."""
    from gcl.distributed import gather_rows

    x = torch.full((3 + 2 * world.rank, 2), float(world.rank + 1), dtype=DTYPE,
                   requires_grad=True)
    total = 3 * world.size + world.size * (world.size - 1)
    coef = torch.arange(total * 2, dtype=DTYPE).view(total, 2) * (world.rank + 1) ** 2
    gathered = gather_rows(x, world)
    (gathered * coef).sum().backward()
    return {"x": x.detach(), "gathered": gathered.detach(), "grad": x.grad, "coef": coef}


def objective_inputs():
    """Two views of 40 nodes and the objectives checked on them directly: MEOW's loss and
    GCN + PamC's objective with node-pair negatives (on the first 40 nodes' graph)."""
    import torch.nn.functional as F
    from torch_geometric.utils import subgraph

    from gcl.objectives.meow import MEOWLoss
    from gcl.objectives.pamc import PamCObjective

    gen = torch.Generator().manual_seed(7)
    u = F.normalize(torch.randn(40, 6, generator=gen, dtype=DTYPE), dim=1).requires_grad_()
    v = F.normalize(torch.randn(40, 6, generator=gen, dtype=DTYPE), dim=1).requires_grad_()
    data = graph()
    data.edge_index = subgraph(torch.arange(40), data.edge_index)[0]
    data.num_nodes = 40
    pamc = PamCObjective(3, 6, negatives="node_pair").to(DTYPE)
    pamc.setup(data)
    return u, v, {"meow": MEOWLoss(tau=0.5, num_clusters=(3, 5), nredo=1, chunk_size=7),
                  "pamc_node_pair": pamc}


def objective_checks(world) -> dict:
    """The objectives of :func:`objective_inputs` on identical inputs on every rank: the value
    and the gradient DDP would average (``size`` times the rank's share)."""

    from gcl.distributed import using_world

    u, v, objectives = objective_inputs()
    out = {}
    for name, fn in objectives.items():
        with using_world(world):
            loss = fn(u, v)
        gu, gv = torch.autograd.grad(loss, (u, v))
        out[name] = {"loss": float(loss.detach()), "grad_u": gu, "grad_v": gv}
    out["inputs"] = (u.detach(), v.detach())
    return out


#: sharded InfoNCE checks (float32, 70 nodes, blocks of 16): name -> (tau, bias, precision,
#: intra_view, symmetric). τ = 0.5 takes the one-exponential path, τ = 0.01 (1/τ = 100 past
#: its float32 range) the running-maximum path.
INFONCE_CASES = {
    "one_exp": (0.5, False, "fp32", True, True),
    "one_exp_bias": (0.5, True, "fp32", True, True),
    "one_exp_one_side": (0.5, True, "fp32", False, False),
    "general_bias": (0.01, True, "fp32", True, True),
    "tf32": (0.5, True, "tf32", True, True),
    "bf16": (0.5, True, "bf16", True, True),
}


def info_nce_inputs():
    """Two float32 views of 70 nodes and a column bias of spread 2."""
    gen = torch.Generator().manual_seed(11)
    h1 = torch.randn(70, 8, generator=gen).requires_grad_()
    h2 = torch.randn(70, 8, generator=gen).requires_grad_()
    return h1, h2, 2.0 * torch.rand(70, generator=gen)


def info_nce_case(name: str, world=None) -> dict:
    """One case of :data:`INFONCE_CASES`: the loss and the gradients of the two views (a rank:
    ``size`` times its share, what DDP averages)."""
    from gcl.distributed import using_world
    from gcl.objectives import info_nce

    tau, biased, precision, intra, symmetric = INFONCE_CASES[name]
    h1, h2, bias = info_nce_inputs()
    with using_world(world):
        loss = info_nce(h1, h2, tau, col_bias=bias if biased else None, intra_view=intra,
                        symmetric=symmetric, block_size=16, precision=precision)
    g1, g2 = torch.autograd.grad(loss, (h1, h2))
    return {"loss": float(loss.detach()), "grad1": g1, "grad2": g2}


def rank_main(rank: int, out_dir: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from gcl.distributed import get_world, init_distributed

    world, _ = init_distributed("cpu")
    assert world is not None and world.size == WORLD
    result = {case: train_case(case) for case in CASES}
    result["flops"] = loss_flops(world)
    result["gather"] = gather_check(world)
    result["objectives"] = objective_checks(world)
    result["info_nce"] = {name: info_nce_case(name, world) for name in INFONCE_CASES}
    result["rank"] = get_world().rank
    torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    import torch.distributed as dist

    dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    mp.spawn(rank_main, args=(sys.argv[1], int(sys.argv[2])), nprocs=WORLD)

"""BGRL and the target network: the moving average and its schedule against hand computations,
the per-step hook of the one loop (full batch and mini-batches), the bootstrapping loss against
a naive transcription, the learning-rate schedule, the recipe."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from gcl import Pipeline
from gcl.augment import DropEdge
from gcl.data import NeighborSampler, synthetic
from gcl.encoders import MLP, GCNEncoder, GCNNormEncoder
from gcl.methods import get_method, load_config
from gcl.methods.bgrl import bgrl, warmup_cosine
from gcl.objectives import BootstrapLoss, Step, bootstrap_loss
from gcl.training import TargetNetwork, TrainingModule, momentum_at


def test_cosine_momentum_by_hand():
    # 1 - (1 - 0.99) * (cos(pi p) + 1) / 2 at p = 0, 1/3, 1/2, 2/3, 1
    assert momentum_at(0.0) == pytest.approx(0.99, abs=1e-15)
    assert momentum_at(1 / 3) == pytest.approx(1 - 0.01 * 0.75, abs=1e-12)   # cos = 1/2
    assert momentum_at(0.5) == pytest.approx(0.995, abs=1e-12)               # cos = 0
    assert momentum_at(2 / 3) == pytest.approx(1 - 0.01 * 0.25, abs=1e-12)   # cos = -1/2
    assert momentum_at(1.0) == pytest.approx(1.0, abs=1e-15)
    assert momentum_at(0.7, base=0.9, schedule="constant") == 0.9
    with pytest.raises(ValueError, match="progress must be in"):
        momentum_at(1.5)
    with pytest.raises(ValueError, match="schedule"):
        momentum_at(0.1, schedule="linear")


def test_moving_average_update_by_hand():
    online = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[1.0, 2.0]]))
    target = TargetNetwork(online)  # a copy: [1, 2]
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[3.0, -2.0]]))
    target.update(0.75)  # 0.75 * [1, 2] + 0.25 * [3, -2] = [1.5, 1.0]
    assert target.network.weight.tolist() == [[1.5, 1.0]]
    target.update(0.5)   # 0.5 * [1.5, 1] + 0.5 * [3, -2] = [2.25, -0.5]
    assert target.network.weight.tolist() == [[2.25, -0.5]]
    assert not target.network.weight.requires_grad and target.momentum_now == 0.5
    out = target(torch.ones(1, 2))
    assert out.item() == 1.75 and not out.requires_grad


def test_target_init_copy_or_reset_and_errors():
    torch.manual_seed(0)
    enc = GCNNormEncoder([4, 6, 3])
    copied, reset = TargetNetwork(enc), TargetNetwork(enc, init="reset")
    pairs = zip(enc.parameters(), copied.network.parameters(), reset.network.parameters())
    assert all(torch.equal(o, c) for o, c, _ in pairs)
    assert any(not torch.equal(o, r) for o, r in zip(enc.convs[0].lin.parameters(),
                                                       reset.network.convs[0].lin.parameters()))
    with pytest.raises(ValueError, match="reset_parameters"):
        TargetNetwork(nn.Sequential(nn.ReLU()), init="reset")
    with pytest.raises(ValueError, match="momentum"):
        TargetNetwork(enc, momentum=1.5)
    grown = nn.Linear(2, 2)
    target = TargetNetwork(grown)
    grown.extra = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="parameters changed"):
        target.update(0.9)


class _Walk(TrainingModule):
    """A parameter that moves by a known amount each step, followed by a target network."""

    def __init__(self, momentum=0.9, schedule="cosine"):
        super().__init__(lr=1.0, optimizer=lambda p: torch.optim.SGD(p, lr=1.0), device="cpu",
                         progress=False)
        self.online = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.online.weight.fill_(0.0)
        self.target = TargetNetwork(self.online, momentum=momentum, schedule=schedule)
        self.seen = []

    def training_step(self, batch, epoch):
        # d loss / d w = -1: SGD with lr 1 adds 1 to w at every step
        return Step(epoch=epoch, loss=-self.online.weight.sum())

    def after_optimizer_step(self, progress):
        self.seen.append(progress)
        super().after_optimizer_step(progress)

    def embed(self, data):
        return self.online.weight.detach()


def test_the_loop_updates_the_target_after_every_step_with_the_scheduled_momentum():
    module = _Walk()
    module.fit(torch.zeros(1), epochs=4)
    assert module.seen == [0.0, 0.25, 0.5, 0.75]
    t = 0.0
    for step, p in enumerate(module.seen, start=1):  # online weight after step k is k
        m = 1 - 0.1 * (math.cos(math.pi * p) + 1) / 2
        t = m * t + (1 - m) * step
    assert module.target.network.weight.item() == pytest.approx(t, abs=1e-6)


def test_mini_batch_progress_counts_batches():
    module = _Walk(schedule="constant")
    module.fit(torch.zeros(1), epochs=2, loader=[Data(num_nodes=1)] * 3)  # 3 tiny batches
    assert module.seen == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    t = 0.0
    for step in range(1, 7):
        t = 0.9 * t + 0.1 * step
    assert module.target.network.weight.item() == pytest.approx(t, abs=1e-6)


def naive_bootstrap(p1, p2, t1, t2):
    """Thakoor et al., eq. 1 symmetrised: 2 - mean_i cos(p1_i, t2_i) - mean_i cos(p2_i, t1_i)."""
    def cos(a, b):
        return torch.stack([torch.dot(a[i], b[i]) / (a[i].norm() * b[i].norm())
                            for i in range(a.shape[0])])
    return 2 - cos(p1, t2).mean() - cos(p2, t1).mean()


def test_bootstrap_loss_matches_the_formula_and_stops_gradients_at_the_target():
    torch.manual_seed(0)
    p1, p2, t1, t2 = (torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
                      for _ in range(4))
    ours = bootstrap_loss(p1, p2, t1, t2)
    ref = naive_bootstrap(p1, p2, t1.detach(), t2.detach())
    assert torch.allclose(ours, ref, atol=1e-12)
    g_ours = torch.autograd.grad(ours, (p1, p2, t1, t2), allow_unused=True)
    g_ref = torch.autograd.grad(ref, (p1, p2))
    assert torch.allclose(g_ours[0], g_ref[0], atol=1e-12)
    assert torch.allclose(g_ours[1], g_ref[1], atol=1e-12)
    assert g_ours[2] is None and g_ours[3] is None
    step = Step(epoch=1, target=(t1, t2))
    assert torch.allclose(BootstrapLoss()(p1, p2, step), ours)
    with pytest.raises(ValueError, match="target=TargetNetwork"):
        BootstrapLoss()(p1, p2, Step(epoch=1))
    with pytest.raises(ValueError, match="one shape"):
        bootstrap_loss(p1, p2, t1[:3], t2)


def test_warmup_cosine_by_hand_and_in_the_loop():
    assert [warmup_cosine(s, 4, 12) for s in (0, 1, 2, 4, 8, 12, 13)] == pytest.approx(
        [0.0, 0.25, 0.5, 1.0, 0.5, 0.0, 0.0])
    assert warmup_cosine(6, 4, 12) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert [warmup_cosine(s, 10, 5) for s in (0, 4, 10)] == [0.0, 0.4, 0.0]  # warm-up only
    with pytest.raises(ValueError, match="total"):
        warmup_cosine(0, 10, 0)
    data = synthetic(num_nodes=30, num_features=5, num_classes=2, seed=0)
    pipe = bgrl(5, encoder_sizes=[8, 4], predictor_hidden=8, lr=0.01, epochs=12,
                warmup_epochs=4, device="cpu", progress=False)
    pipe.ensure_optimizer()
    lrs = [pipe.optimizer.param_groups[0]["lr"]]  # the first epoch's rate: 0.01 * f(0) = 0
    for _ in range(6):
        pipe.fit(data, epochs=1)
        lrs.append(pipe.optimizer.param_groups[0]["lr"])
    # after k epochs the next epoch's rate is 0.01 * f(k)
    assert lrs == pytest.approx([0.01 * warmup_cosine(k, 4, 12) for k in range(7)])
    assert isinstance(pipe.optimizer, torch.optim.AdamW)


def test_bgrl_parts_and_the_configuration():
    spec = get_method("bgrl")
    data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
    pipe = spec.build({**load_config("bgrl", "amazon-photo"), "device": "cpu"}, data)
    assert pipe.encoder.sizes == [6, 256, 128] and pipe.target.init == "reset"
    assert [m.p for m in pipe.augment1.augmentations] == [0.4, 0.1]
    assert [m.p for m in pipe.augment2.augmentations] == [0.1, 0.2]
    assert isinstance(pipe.head, MLP) and pipe.head.layers[0].out_features == 512
    params = {id(p) for p in pipe.parameter_groups()}
    assert not params & {id(p) for p in pipe.target.parameters()}  # never in the optimiser
    assert load_config("bgrl", "coauthor-cs")["lr"] == 1e-5


def test_bgrl_trains_on_sampled_subgraphs_with_the_target_network():
    torch.manual_seed(0)
    data = synthetic(num_nodes=120, num_features=8, num_classes=3, seed=0)
    pipe = bgrl(8, encoder_sizes=[16, 8], predictor_hidden=16, epochs=3, warmup_epochs=1,
                lr=0.01, device="cpu", progress=False)
    before = [p.clone() for p in pipe.target.parameters()]
    loader = NeighborSampler(data, [5, 5], batch_size=40, seed=0)
    history = pipe.fit(data, epochs=3, loader=loader)
    assert all(e["batches"] == 3 for e in history.epochs) and all(
        math.isfinite(v) for v in history.losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, pipe.target.parameters()))
    assert pipe.embed(data).shape == (120, 8)


def test_any_pipeline_takes_a_target_network():
    """The target network is a part of the loop: GRACE's encoder and views with BGRL's loss."""
    data = synthetic(num_nodes=50, num_features=6, num_classes=2, seed=0)
    enc = GCNEncoder(6, 8, activation="prelu")
    pipe = Pipeline(enc, BootstrapLoss(), augment=DropEdge(0.3), head=MLP([8, 16, 8], "prelu"),
                    target=TargetNetwork(enc, momentum=0.9), lr=0.01, device="cpu",
                    progress=False)
    pipe.fit(data, epochs=3)
    assert pipe.target.momentum_now == pytest.approx(momentum_at(2 / 3, 0.9))
    with pytest.raises(ValueError, match="target must be an nn.Module"):
        Pipeline(enc, BootstrapLoss(), target="ema")

"""The core paths on every available device: the CPU here, and CUDA where a GPU is present.

Each test takes a ``device``; its CUDA variant is marked ``cuda`` (``pytest -m cuda`` runs only
those, as ``benchmarks/gpu_check.py`` does) and is skipped without a GPU. The CPU variant keeps
the tests themselves working where CI runs. Method runs go through ``gcl.methods.run`` only.
"""

from __future__ import annotations

import math

import pytest
import torch

from gcl.data import NeighborSampler, synthetic

_CUDA = pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])
DEVICES = ["cpu", _CUDA]
#: A MEOW epoch on ACM takes seconds on the CPU: that variant is marked slow.
SLOW_ON_CPU = [pytest.param("cpu", marks=pytest.mark.slow), _CUDA]

#: Overrides that keep a method run's evaluation short (applied where the method has the key).
SHORT_EVAL = {"probe_epochs": 20, "probe_eval_every": 10, "clustering": False, "eval_heads": 2,
              "eval_steps": 20, "cluster_fits": 1, "kmeans_nredo": 1}


def _grace(device, data, **kwargs):
    from gcl import seed_everything
    from gcl.methods.grace import grace

    seed_everything(0)  # the same initial weights for every pipeline built here
    return grace(data.num_features, hidden=16, proj_hidden=16, device=device, seed=0,
                 progress=False, **kwargs)


def _short_run(method, dataset, device, **overrides):
    from gcl.methods import load_config, run

    known = load_config(method, dataset)
    extra = {k: v for k, v in SHORT_EVAL.items() if k in known}
    return run(method, dataset, overrides={**extra, **overrides}, device=device, log=None)


@pytest.mark.parametrize("device", DEVICES)
def test_pipeline_fit_and_embed(device):
    data = synthetic(num_nodes=200, num_features=12, num_classes=3, seed=0)
    pipe = _grace(device, data)
    history = pipe.fit(data, epochs=3)
    assert all(math.isfinite(loss) for loss in history.losses)
    assert {p.device.type for p in pipe.parameters()} == {device}
    z = pipe.embed(data)
    assert z.device.type == device and z.shape == (200, 16)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision,rtol", [("fp32", 1e-4), ("tf32", 3e-3), ("bf16", 3e-2)])
def test_blockwise_infonce_equals_dense(device, precision, rtol):
    from gcl.objectives import info_nce

    g = torch.Generator().manual_seed(0)
    h1 = torch.randn(700, 32, generator=g).to(device).requires_grad_()
    h2 = torch.randn(700, 32, generator=g).to(device).requires_grad_()
    bias = torch.rand(700, generator=g).to(device)
    out = []
    for block in (0, 128):
        loss = info_nce(h1, h2, 0.4, col_bias=bias, block_size=block, precision=precision)
        out.append((loss.detach(), *torch.autograd.grad(loss, (h1, h2))))
    for blockwise, dense in zip(out[1], out[0]):
        assert float((blockwise - dense).abs().max()) <= rtol * float(dense.abs().max())


@pytest.mark.parametrize("device", DEVICES)
def test_team_up_on_the_device_equals_the_cpu(device):
    from gcl.objectives import Step, TeamUp

    g = torch.Generator().manual_seed(1)
    strength = torch.rand(1500, generator=g)  # stays on the CPU until the first step
    h1, h2 = torch.randn(1500, 16, generator=g), torch.randn(1500, 16, generator=g)
    results = []
    for dev in ("cpu", device):
        loss_fn = TeamUp(tau=0.5, gamma_max=2.0, t0=0, ramp=1.0, node_strength=strength)
        a, b = h1.to(dev).requires_grad_(), h2.to(dev)
        z = (a, b)
        loss = loss_fn(a, b, Step(epoch=3, data=None, views=(None, None), z=z, h=z))
        results.append((float(loss), torch.autograd.grad(loss, a)[0].cpu()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_pamc_run(device):
    record = _short_run("gcn-pamc", "synthetic", device, epochs=3)
    assert all(math.isfinite(x) for x in record["runs"][0]["loss"])
    assert record["metrics"]["accuracy"]["mean"] > 0


@pytest.mark.parametrize("device", SLOW_ON_CPU)
def test_meow_run(device, require_dataset):
    require_dataset("acm")
    record = _short_run("meow", "acm", device, epochs=1, num_clusters=[5, 10])
    assert len(record["runs"][0]["loss"]) == 1
    assert all(math.isfinite(x) for x in record["runs"][0]["loss"])


@pytest.mark.parametrize("device", DEVICES)
def test_pot_regularised_fit(device):
    from gcl.objectives import add_pot

    data = synthetic(num_nodes=150, num_features=10, num_classes=3, seed=1)
    pipe = _grace(device, data, activation="prelu")
    add_pot(pipe, kappa=0.3)
    history = pipe.fit(data, epochs=2)
    assert all(math.isfinite(loss) for loss in history.losses)
    assert "pot" in history.epochs[-1]


@pytest.mark.parametrize("device", DEVICES)
def test_neighbor_sampler_batches_on_the_graphs_device(device):
    data = synthetic(num_nodes=300, num_features=8, num_classes=3, seed=2).to(device)
    loader = NeighborSampler(data, [5, 3], batch_size=64, seed=0,
                             input_nodes=data.train_mask)
    batch = next(iter(loader))
    for key in ("x", "edge_index", "n_id", "e_id", "y"):
        assert batch[key].device.type == device, key
    assert torch.equal(batch.x, data.x[batch.n_id])
    pipe = _grace(device, data)
    history = pipe.fit(data, epochs=1, loader=loader)
    assert history.epochs[-1]["batches"] == len(loader)


@pytest.mark.parametrize("device", DEVICES)
def test_checkpoint_resume_continues_the_run(device, tmp_path):
    data = synthetic(num_nodes=120, num_features=8, num_classes=3, seed=3)
    straight = _grace(device, data).fit(data, epochs=4).losses
    _grace(device, data).fit(data, epochs=2, checkpoint_dir=tmp_path, checkpoint_every=1)
    resumed = _grace(device, data).fit(data, epochs=4, checkpoint_dir=tmp_path, resume=True)
    assert resumed.losses == pytest.approx(straight, rel=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_linear_probe_on_the_device_equals_the_cpu(device):
    from gcl.evaluation import linear_probe

    data = synthetic(num_nodes=400, num_features=16, num_classes=4, seed=4)
    z = data.x @ torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    args = (data.y, data.train_mask, data.val_mask, data.test_mask)
    cpu = linear_probe(z, *args, epochs=200, seed=0)
    dev = linear_probe(z.to(device), *args, epochs=200, seed=0)
    assert dev["accuracy"]["mean"] == pytest.approx(cpu["accuracy"]["mean"], abs=0.02)

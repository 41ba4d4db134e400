"""Encoders, Pipeline (fit / embed / save / load), callbacks and the non-finite guard."""

import copy

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import stochastic_blockmodel_graph

from gcl import EarlyStopping, LambdaCallback, NonFiniteLossError, PeriodicEval, Pipeline
from gcl._utils import resolve_device, seed_everything
from gcl.augment import Compose, DropEdge, MaskFeature
from gcl.encoders import MLP, GCNEncoder, ProjectionHead, make_activation
from gcl.objectives import InfoNCE, Objective


def two_block_graph(n_per=30, f=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ei = stochastic_blockmodel_graph([n_per, n_per], [[0.3, 0.02], [0.02, 0.3]])
    y = torch.cat([torch.zeros(n_per), torch.ones(n_per)]).long()
    x = torch.rand(2 * n_per, f, generator=g)
    x[:, : f // 2] += y.unsqueeze(1).float()
    return Data(x=x, edge_index=ei, y=y)


def make_pipeline(f=12, seed=0, **kw):
    torch.manual_seed(seed)
    return Pipeline(GCNEncoder(f, 16, activation="prelu"), InfoNCE(tau=0.5),
                    augment=(Compose([DropEdge(0.2), MaskFeature(0.2)]),
                             Compose([DropEdge(0.3), MaskFeature(0.3)])),
                    head=ProjectionHead(16, 16), lr=0.01, device="cpu", progress=False, **kw)


# -- encoders -------------------------------------------------------------------------------------
def test_gcn_encoder_shapes_and_shared_prelu():
    enc = GCNEncoder(10, 8, activation="prelu")
    assert [c.in_channels for c in enc.convs] == [10, 16]
    assert [c.out_channels for c in enc.convs] == [16, 8]
    prelus = [m for m in enc.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 1 and prelus[0].weight.numel() == 1
    assert all(not c.cached for c in enc.convs)
    out = enc(torch.randn(5, 10), torch.tensor([[0, 1], [1, 2]]))
    assert out.shape == (5, 8)
    assert GCNEncoder(10, 8, num_layers=3).convs[1].in_channels == 16


def test_activation_after_last_layer():
    enc = GCNEncoder(4, 3, activation="relu")
    out = enc(torch.randn(20, 4), torch.randint(0, 20, (2, 40)))
    assert (out >= 0).all()


def test_rrelu_is_deterministic_eval_slope():
    act = make_activation("rrelu")
    x = torch.tensor([-1.0, 2.0])
    slope = (1 / 8 + 1 / 3) / 2
    assert torch.allclose(act(x), torch.tensor([-slope, 2.0]))
    assert torch.equal(act(x), act(x))


def test_encoder_errors():
    with pytest.raises(ValueError, match="activation"):
        GCNEncoder(4, 3, activation="tanh")
    with pytest.raises(ValueError, match=r"expects x of shape \[N, 4\]"):
        GCNEncoder(4, 3)(torch.randn(2, 5), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="hidden_channels"):
        GCNEncoder(4, 0)
    with pytest.raises(ValueError, match="at least two"):
        MLP([4])


def test_projection_head_and_mlp():
    assert ProjectionHead(8, 4)(torch.randn(3, 8)).shape == (3, 8)
    assert ProjectionHead(8, 4, 2)(torch.randn(3, 8)).shape == (3, 2)
    assert MLP([4, 6, 2])(torch.randn(3, 4), None).shape == (3, 2)


# -- pipeline -------------------------------------------------------------------------------------
def test_fit_lowers_loss_and_records_history():
    data = two_block_graph()
    pipe = make_pipeline()
    hist = pipe.fit(data, epochs=40)
    assert len(hist.epochs) == 40 and pipe.epoch == 40
    first, last = sum(hist.losses[:5]) / 5, sum(hist.losses[-5:]) / 5
    assert last < first
    assert hist.meta["device"] == "cpu" and hist.meta["train_s"] > 0
    assert hist.meta["peak_mem_mb"] > 0 and hist.meta["epoch_s_median"] > 0
    # fit continues counting epochs
    pipe.fit(data, epochs=3)
    assert pipe.epoch == 43 and hist.epochs[-1]["epoch"] == 43


def test_embed_is_clean_deterministic_and_eval_mode():
    data = two_block_graph()
    pipe = make_pipeline()
    pipe.fit(data, epochs=5)
    z1, z2 = pipe.embed(data), pipe.embed(data)
    assert torch.equal(z1, z2) and z1.shape == (60, 16) and not z1.requires_grad
    assert pipe.training  # restored
    expected = pipe.encoder(data.x, data.edge_index)
    assert torch.allclose(z1, expected)


def test_same_seed_same_embeddings():
    data = two_block_graph()
    outs = []
    for _ in range(2):
        seed_everything(3)
        pipe = make_pipeline(seed=3)
        pipe.seed = 3
        pipe.fit(data, epochs=5)
        outs.append(pipe.embed(data))
    assert torch.equal(outs[0], outs[1])


def test_embeddings_separate_the_planted_blocks():
    data = two_block_graph(n_per=40)
    pipe = make_pipeline()
    pipe.fit(data, epochs=60)
    z = torch.nn.functional.normalize(pipe.embed(data), dim=1)
    sim = z @ z.t()
    same = data.y.unsqueeze(0) == data.y.unsqueeze(1)
    assert sim[same].mean() > sim[~same].mean() + 0.1


def test_callbacks_periodic_eval_and_lambda_stop():
    data = two_block_graph()
    pipe = make_pipeline()
    calls = []
    cb = PeriodicEval(lambda p, d: calls.append(p.epoch) or {"norm": float(p.embed(d).norm())},
                      every=4)
    hist = pipe.fit(data, epochs=10, callbacks=[cb])
    assert [e["epoch"] for e in hist.evals] == [4, 8, 10]
    pipe2 = make_pipeline()
    hist2 = pipe2.fit(data, epochs=50, callbacks=[LambdaCallback(lambda p, e, logs: e >= 3)])
    assert len(hist2.epochs) == 3


def test_early_stopping_stops_and_restores_best():
    class Scripted(Objective):
        """Loss values scripted per epoch; gradients flow through the embeddings."""

        def __init__(self, values):
            super().__init__()
            self.values = values

        def forward(self, h1, h2, step=None):
            return self.values[step.epoch - 1] + 0.0 * (h1.sum() + h2.sum())

    values = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9]
    data = two_block_graph()
    pipe = Pipeline(GCNEncoder(12, 8), Scripted(values), lr=0.1, device="cpu", progress=False,
                    weight_decay=0.5)  # weight decay moves the weights every step
    states = {}
    snap = LambdaCallback(lambda p, e, logs: states.__setitem__(e, copy.deepcopy(p.state_dict())))
    stopper = EarlyStopping(patience=3)
    hist = pipe.fit(data, epochs=8, callbacks=[snap, stopper])
    assert len(hist.epochs) == 6 and hist.meta["best_epoch"] == 3
    for k, v in states[3].items():
        assert torch.equal(pipe.state_dict()[k], v)
    with pytest.raises(ValueError, match="monitors 'nope'"):
        make_pipeline().fit(data, epochs=2, callbacks=[EarlyStopping(monitor="nope")])


def test_non_finite_loss_stops_and_keeps_last_good_state():
    class BreaksAt(Objective):
        def forward(self, h1, h2, step=None):
            loss = (h1 - h2).pow(2).mean() + h1.pow(2).mean()
            return loss * float("nan") if step.epoch == 3 else loss

    data = two_block_graph()
    pipe = Pipeline(GCNEncoder(12, 8), BreaksAt(), augment=DropEdge(0.2), lr=0.01,
                    device="cpu", progress=False)
    good = {}
    snap = LambdaCallback(lambda p, e, logs: good.__setitem__("state", copy.deepcopy(
        p.state_dict())))
    with pytest.raises(NonFiniteLossError, match="epoch 3; last finite loss") as info:
        pipe.fit(data, epochs=10, callbacks=[snap])
    assert info.value.epoch == 3 and info.value.last_finite_loss == pipe.history.losses[-1]
    assert pipe.epoch == 2
    for k, v in good["state"].items():
        assert torch.equal(pipe.state_dict()[k], v)


def test_non_finite_gradient_is_caught():
    class InfGrad(Objective):
        def forward(self, h1, h2, step=None):
            # finite value (0) whose gradient is not: d sqrt(u)/du is infinite at u = 0
            return torch.sqrt((h1 * 0.0).sum())

    data = two_block_graph()
    pipe = Pipeline(GCNEncoder(12, 8), InfGrad(), lr=0.01, device="cpu", progress=False)
    with pytest.raises(NonFiniteLossError, match="gradient"):
        pipe.fit(data, epochs=2)


def test_save_and_load_round_trip(tmp_path):
    data = two_block_graph()
    pipe = make_pipeline(meta={"method": "test"})
    pipe.fit(data, epochs=4)
    path = pipe.save(tmp_path / "ckpt" / "model.pt")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    raw = torch.load(path, weights_only=True)  # loadable without unpickling code
    assert raw["format"] == "gcl-pipeline/1" and raw["epoch"] == 4
    other = make_pipeline(seed=99)
    other.load(path)
    assert torch.equal(other.embed(data), pipe.embed(data))
    assert other.epoch == 4 and other.meta["method"] == "test" and len(other.history.epochs) == 4
    with pytest.raises(FileNotFoundError):
        other.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        other.load(tmp_path / "junk.pt")


@pytest.mark.parametrize("mutate,match", [
    (lambda d: setattr(d, "edge_index", torch.tensor([[0, 1], [1, 999]])), "node index 999"),
    (lambda d: setattr(d, "edge_index", torch.tensor([[0, 1, 2]])), r"shape \[2, E\]"),
    (lambda d: setattr(d, "edge_index", torch.tensor([[0.0], [1.0]])), "integer node indices"),
    (lambda d: d.x.__setitem__((3, 2), float("nan")), "NaN or infinite"),
    (lambda d: setattr(d, "x", d.x[:10]), r"node index 59, outside \[0, 9\].*rows of data.x"),
    (lambda d: (setattr(d, "num_nodes", 60), setattr(d, "x", d.x[:10])), "rows but the graph has"),
    (lambda d: setattr(d, "y", d.y[:5]), "labels need one entry per node"),
])
def test_bad_graph_input_gives_one_clear_error(mutate, match):
    data = two_block_graph()
    mutate(data)
    with pytest.raises(ValueError, match=match):
        make_pipeline().fit(data, epochs=1)


def test_constructor_errors():
    with pytest.raises(ValueError, match="encoder must be"):
        Pipeline("gcn", InfoNCE())
    with pytest.raises(ValueError, match="objective must be"):
        Pipeline(GCNEncoder(4, 2), lambda a, b: 0)
    with pytest.raises(ValueError, match="pair"):
        Pipeline(GCNEncoder(4, 2), InfoNCE(), augment=[DropEdge(0.1)] * 3)
    with pytest.raises(ValueError, match="lr"):
        Pipeline(GCNEncoder(4, 2), InfoNCE(), lr=0)
    with pytest.raises(ValueError, match="epochs"):
        make_pipeline().fit(two_block_graph(), epochs=0)


def test_device_resolution():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-9000")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda():
    data = two_block_graph()
    pipe = Pipeline(GCNEncoder(12, 8), InfoNCE(), augment=DropEdge(0.2, seed=0), device="cuda",
                    progress=False)
    pipe.fit(data, epochs=3)
    assert pipe.embed(data).device.type == "cuda"

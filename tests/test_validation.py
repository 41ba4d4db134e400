"""Bad input at every boundary: one clear error naming the input and the fix, or it works.

``BAD_INPUTS`` lists every bad input tried with the error it must raise and a fragment of the
message; ``WORKS`` lists the unusual-but-valid graphs that must train. Add new cases there. The
tables continue, by concern, in ``tests/test_validation_api.py`` (graphs, probes, samplers,
heterogeneous graphs, configuration, devices and seeds) and ``tests/test_validation_cli.py``
(every ``gcl`` subcommand); files and faults are in ``tests/test_safe_paths.py``,
``tests/test_planted_pickles.py`` and ``tests/test_cache_faults.py``.
"""

import copy

import pytest
import torch
from torch_geometric.data import Data

from gcl import LambdaCallback, NonFiniteLossError, Pipeline
from gcl.augment import Compose, DropEdge, MaskFeature, RandomChoice
from gcl.cli import main
from gcl.encoders import GCNEncoder, ProjectionHead
from gcl.evaluation import kmeans_clustering, linear_probe
from gcl.methods import get_method, load_config, parse_override, run
from gcl.objectives import InfoNCE, Objective, info_nce


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def graph(n=8, f=4, **extra):
    g = torch.Generator().manual_seed(0)
    src = torch.arange(n)
    ei = torch.stack([torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])])
    return Data(x=torch.rand(n, f, generator=g), edge_index=ei, y=torch.arange(n) % 2, **extra)


def with_(**changes):
    data = graph()
    for key, value in changes.items():
        setattr(data, key, value)
    return data


def pipeline(f=4):
    torch.manual_seed(0)
    return Pipeline(GCNEncoder(f, 8), InfoNCE(0.5),
                    augment=Compose([DropEdge(0.3), MaskFeature(0.3)]),
                    head=ProjectionHead(8, 8), lr=0.01, device="cpu", progress=False)


def fit(data):
    return pipeline().fit(data, epochs=1)


def probe(y=None, train=None, val=None, test=None):
    n = 8
    mask = torch.zeros(n, dtype=torch.bool)
    mask[:4] = True
    return linear_probe(torch.rand(n, 3), torch.arange(n) % 2 if y is None else y,
                        mask if train is None else train, ~mask if val is None else val,
                        ~mask if test is None else test, epochs=2)


FAST = {"epochs": 1, "probe_epochs": 2, "hidden": 8, "proj_hidden": 8}
_data_root = {}  # filled by the fixture below: an empty folder as data root

# (id, thunk, expected exception, fragment of the message). The message must also name the input.
BAD_INPUTS = [
    # -- graphs given to Pipeline.fit ---------------------------------------------------------
    ("not a graph", lambda: fit("cora"), ValueError,
     "data must be a torch_geometric.data.Data graph"),
    ("edge_index missing", lambda: fit(Data(x=torch.rand(3, 4))), ValueError,
     "data.edge_index is missing"),
    ("edge_index a list", lambda: fit(with_(edge_index=[[0, 1], [1, 0]])), ValueError,
     "data.edge_index must be a torch.Tensor"),
    ("edge_index 1-D", lambda: fit(with_(edge_index=torch.tensor([0, 1]))), ValueError,
     r"data.edge_index must have shape \[2, E\], got \[2\]"),
    ("edge_index [E, 2]", lambda: fit(with_(edge_index=torch.tensor([[0, 1], [1, 2], [2, 3]]))),
     ValueError, r"shape \[2, E\], got \[3, 2\].*edge_index.t\(\)"),
    ("edge_index float", lambda: fit(with_(edge_index=torch.tensor([[0.0], [1.0]]))), ValueError,
     "must hold integer node indices.*edge_index.long()"),
    ("edge_index bool", lambda: fit(with_(edge_index=torch.ones(2, 2, dtype=torch.bool))),
     ValueError, "must hold integer node indices"),
    ("edge_index index too large", lambda: fit(with_(edge_index=torch.tensor([[0], [8]]))),
     ValueError, r"node index 8, outside \[0, 7\]"),
    ("edge_index negative", lambda: fit(with_(edge_index=torch.tensor([[-1], [0]]))), ValueError,
     r"node index -1, outside \[0, 7\]"),
    ("empty graph", lambda: fit(Data(x=torch.rand(0, 4), edge_index=torch.zeros(2, 0).long())),
     ValueError, "data has no nodes"),
    ("x missing", lambda: fit(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2)),
     ValueError, "data.x is missing"),
    ("x 1-D", lambda: fit(with_(x=torch.rand(8))), ValueError,
     r"data.x must be a 2-D \[num_nodes, num_features\] tensor, got \[8\]"),
    ("x integer", lambda: fit(with_(x=torch.ones(8, 4, dtype=torch.long))), ValueError,
     "data.x must be a floating tensor.*x.float()"),
    ("x float64 vs float32 model", lambda: fit(with_(x=torch.rand(8, 4).double())), ValueError,
     "data.x has dtype torch.float64 but the encoder's parameters are torch.float32"),
    ("x sparse", lambda: fit(with_(x=torch.rand(8, 4).to_sparse())), ValueError,
     r"data.x is a sparse tensor.*to_dense\(\)"),
    ("x NaN", lambda: fit(with_(x=torch.rand(8, 4).index_fill(0, torch.tensor([5]), float("nan")))),
     ValueError, r"data.x holds NaN or infinite values in 1 row\(s\) \(first: node 5\)"),
    ("x inf", lambda: fit(with_(x=torch.rand(8, 4).index_fill(1, torch.tensor([0]), float("inf")))),
     ValueError, "data.x holds NaN or infinite values in 8 row"),
    ("x rows != num_nodes", lambda: fit(with_(num_nodes=8, x=torch.rand(5, 4))), ValueError,
     "data.x has 5 rows but the graph has 8 nodes"),
    ("x fewer rows than edge indices", lambda: fit(with_(x=torch.rand(5, 4))), ValueError,
     r"node index 7, outside \[0, 4\].*rows of data.x"),
    ("x wrong feature count", lambda: fit(with_(x=torch.rand(8, 6))), ValueError,
     r"expects x of shape \[N, 4\]"),
    ("edge_weight wrong length", lambda: fit(with_(edge_weight=torch.ones(3))), ValueError,
     r"data.edge_weight must be a \[E\] tensor with one weight per edge \(E = 16\), got \[3\]"),
    ("edge_weight NaN", lambda: fit(with_(edge_weight=torch.ones(16).index_fill(
        0, torch.tensor([2]), float("nan")))), ValueError,
     r"data.edge_weight holds 1 NaN or infinite value\(s\)"),
    ("edge_weight integer", lambda: fit(with_(edge_weight=torch.ones(16, dtype=torch.long))),
     ValueError, "data.edge_weight must be a floating tensor"),
    ("labels wrong length", lambda: fit(with_(y=torch.zeros(5).long())), ValueError,
     "data.y has 5 entries but the graph has 8 nodes"),
    ("train_mask wrong length", lambda: fit(with_(train_mask=torch.ones(3, dtype=torch.bool))),
     ValueError, r"data.train_mask has shape \[3\] but the graph has 8 nodes"),
    ("test_mask wrong length [N', S]", lambda: fit(with_(test_mask=torch.ones(9, 2).bool())),
     ValueError, r"data.test_mask has shape \[9, 2\]"),
    ("embed on a bad graph", lambda: pipeline().embed(with_(edge_index=torch.tensor([[0], [9]]))),
     ValueError, "node index 9"),
    # -- evaluation ----------------------------------------------------------------------------
    ("probe labels wrong length", lambda: probe(y=torch.zeros(5).long()), ValueError, "labels y"),
    ("probe labels float", lambda: probe(y=torch.zeros(8)), ValueError,
     "labels y must hold integer class ids"),
    ("probe mask wrong length", lambda: probe(train=torch.ones(5, dtype=torch.bool)), ValueError,
     "train_mask is a boolean mask of length 5"),
    ("probe empty mask", lambda: probe(val=torch.zeros(8, dtype=torch.bool)), ValueError,
     "val_mask selects no nodes"),
    ("probe mask index out of range", lambda: probe(test=torch.tensor([0, 11])), ValueError,
     r"test_mask holds node index 11, outside \[0, 7\]"),
    ("k-means labels wrong length", lambda: kmeans_clustering(torch.rand(8, 3), torch.zeros(3)),
     ValueError, "labels y must be a vector with one entry per embedded node"),
    ("k-means NaN embeddings", lambda: kmeans_clustering(torch.full((8, 3), float("nan")),
                                                         torch.zeros(8).long()),
     ValueError, "embeddings z hold NaN or infinite values"),
    # -- augmentation parameters -------------------------------------------------------------
    ("DropEdge p > 1", lambda: DropEdge(1.5), ValueError,
     r"argument 'p' of DropEdge must be a probability in \[0, 1\], got 1.5"),
    ("DropEdge p negative", lambda: DropEdge(-0.1), ValueError, "argument 'p' of DropEdge"),
    ("DropEdge p NaN", lambda: DropEdge(float("nan")), ValueError, "argument 'p' of DropEdge"),
    ("DropEdge p string", lambda: DropEdge("0.2"), ValueError,
     r"argument 'p' of DropEdge must be a number in \[0, 1\], got '0.2'"),
    ("MaskFeature p > 1", lambda: MaskFeature(2), ValueError, "argument 'p' of MaskFeature"),
    ("negative seed", lambda: DropEdge(0.2, seed=-1), ValueError,
     "argument 'seed' of DropEdge must be >= 0"),
    ("float seed", lambda: MaskFeature(0.2, seed=1.5), ValueError,
     "argument 'seed' of MaskFeature must be a finite integer"),
    ("Compose of non-callables", lambda: Compose([DropEdge(0.1), 3]), ValueError,
     "Compose takes augmentations"),
    ("RandomChoice too many choices", lambda: RandomChoice([DropEdge(0.1)], num_choices=2),
     ValueError, "'num_choices' of RandomChoice is 2 but only 1 augmentations"),
    ("RandomChoice zero choices", lambda: RandomChoice([DropEdge(0.1)], num_choices=0),
     ValueError, "argument 'num_choices' of RandomChoice must be > 0"),
    ("augmentation on a non-graph", lambda: DropEdge(0.1)(torch.ones(3)), ValueError,
     "DropEdge expects a torch_geometric.data.Data, got Tensor"),
    ("MaskFeature without x", lambda: MaskFeature(0.5)(Data(edge_index=torch.tensor([[0], [1]]),
                                                           num_nodes=2)),
     ValueError, "MaskFeature needs node features: data.x is missing"),
    ("augment triple", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), augment=[DropEdge(0.1)] * 3),
     ValueError, "augment must be one augmentation or a pair"),
    # -- objective parameters ----------------------------------------------------------------
    ("InfoNCE tau 0", lambda: InfoNCE(tau=0), ValueError, "argument 'tau' of InfoNCE must be > 0"),
    ("InfoNCE tau negative", lambda: InfoNCE(tau=-0.5), ValueError, "argument 'tau' of InfoNCE"),
    ("InfoNCE tau NaN", lambda: InfoNCE(tau=float("nan")), ValueError,
     "argument 'tau' of InfoNCE must be a finite number"),
    ("InfoNCE tau string", lambda: InfoNCE(tau="0.5"), ValueError, "argument 'tau' of InfoNCE"),
    ("InfoNCE block_size negative", lambda: InfoNCE(block_size=-2), ValueError,
     "argument 'block_size' of InfoNCE must be None, 0 \\(dense\\) or a positive integer"),
    ("info_nce shapes differ", lambda: info_nce(torch.rand(4, 3), torch.rand(5, 3)), ValueError,
     r"two \[N, d\] embeddings of the same shape, got \[4, 3\] and \[5, 3\]"),
    ("info_nce empty", lambda: info_nce(torch.rand(0, 3), torch.rand(0, 3)), ValueError,
     r"empty embeddings \(N = 0\)"),
    ("info_nce bad reduction", lambda: info_nce(torch.rand(4, 3), torch.rand(4, 3),
                                                reduction="max"), ValueError,
     "reduction must be 'mean', 'sum' or 'none'"),
    ("info_nce bad col_bias", lambda: info_nce(torch.rand(4, 3), torch.rand(4, 3),
                                               col_bias=torch.zeros(3)), ValueError,
     r"col_bias must be a \[N\] tensor with N = 4"),
    # -- pipeline and training settings ------------------------------------------------------
    ("lr 0", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), lr=0), ValueError,
     "argument 'lr' of Pipeline must be > 0"),
    ("weight_decay negative", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), weight_decay=-1),
     ValueError, "argument 'weight_decay' of Pipeline must be >= 0"),
    ("unknown optimizer", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), optimizer="sgd",
                                           device="cpu").fit(graph(), epochs=1),
     ValueError, "optimizer must be 'adam' or a callable"),
    ("scheduler not callable", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), scheduler=3),
     ValueError, "scheduler must be a callable"),
    ("epochs 0", lambda: pipeline().fit(graph(), epochs=0), ValueError,
     "argument 'epochs' of Pipeline.fit must be > 0"),
    ("checkpoint_every 0", lambda: pipeline().fit(graph(), epochs=1, checkpoint_dir="unused",
                                                  checkpoint_every=0), ValueError,
     "argument 'checkpoint_every' of Pipeline.fit must be > 0"),
    ("unknown device", lambda: Pipeline(GCNEncoder(4, 2), InfoNCE(), device="tpu"), ValueError,
     "unknown device 'tpu'"),
    # -- names, configurations and files -----------------------------------------------------
    ("unknown method", lambda: get_method("graze"), ValueError,
     "unknown method 'graze'; available: .*Did you mean 'grace'"),
    ("unknown dataset", lambda: run("grace", "coraa", overrides=FAST, device="cpu", log=None),
     ValueError, "unknown dataset 'coraa'"),
    ("unknown config key", lambda: load_config("grace", "cora", overrides={"tua": 0.3}),
     ValueError, r"unknown config key\(s\) \['tua'\]"),
    ("override without '='", lambda: parse_override("tau"), ValueError, "must look like key=value"),
    ("config file missing", lambda: load_config("grace", "cora", "/nonexistent/cfg.yaml"),
     FileNotFoundError, "config file not found: /nonexistent/cfg.yaml"),
    ("config drop_edge not a pair", lambda: run("grace", "synthetic",
                                                overrides={**FAST, "drop_edge": [0.1, 0.2, 0.3]},
                                                device="cpu", log=None),
     ValueError, "config key 'drop_edge' must be a number or a pair"),
    ("config tau negative", lambda: run("grace", "synthetic", overrides={**FAST, "tau": -1},
                                        device="cpu", log=None),
     ValueError, "argument 'tau' of InfoNCE must be > 0"),
    ("runs 0", lambda: run("grace", "synthetic", runs=0, log=None), ValueError,
     "argument 'runs' of run must be > 0"),
    ("resume without folder", lambda: run("grace", "synthetic", resume=True, log=None),
     ValueError, "resume needs a checkpoint folder"),
    ("dataset files missing", lambda: __import__("gcl.data").data.load(
        "citeseer", root=_data_root["empty"]), FileNotFoundError, "ind.citeseer"),
]


@pytest.fixture(autouse=True)
def _empty_root(tmp_path):
    _data_root["empty"] = tmp_path


@pytest.mark.parametrize("thunk,error,fragment", [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_one_clear_error(thunk, error, fragment):
    with pytest.raises(error, match=fragment):
        thunk()


def _ring(n):
    src = torch.arange(n)
    return torch.stack([src, (src + 1) % n])


# Unusual graphs that are valid: training and embedding must work and give finite values.
WORKS = {
    "isolated nodes": Data(x=torch.rand(8, 4), edge_index=torch.tensor([[0, 1], [1, 0]])),
    "no edges at all": Data(x=torch.rand(8, 4), edge_index=torch.zeros(2, 0, dtype=torch.long)),
    "self-loops": Data(x=torch.rand(8, 4), edge_index=torch.cat(
        [_ring(8), torch.arange(8).repeat(2, 1)], dim=1)),
    "duplicate edges": Data(x=torch.rand(8, 4), edge_index=_ring(8).repeat(1, 3)),
    "directed edges only": Data(x=torch.rand(8, 4), edge_index=_ring(8)),
    "int32 edge_index": Data(x=torch.rand(8, 4), edge_index=_ring(8).int()),
    "a single node": Data(x=torch.rand(1, 4), edge_index=torch.zeros(2, 0, dtype=torch.long)),
    "two nodes": Data(x=torch.rand(2, 4), edge_index=torch.tensor([[0, 1], [1, 0]])),
    "edge weights": Data(x=torch.rand(8, 4), edge_index=_ring(8), edge_weight=torch.rand(8)),
    "all-zero features": Data(x=torch.zeros(8, 4), edge_index=_ring(8)),
    "edges on only 3 of 8 nodes": Data(x=torch.rand(8, 4), edge_index=_ring(3)),
}


@pytest.mark.parametrize("name", list(WORKS))
def test_unusual_but_valid_graphs_train(name):
    data = WORKS[name]
    before = copy.deepcopy(data)
    pipe = pipeline()
    hist = pipe.fit(data, epochs=3)
    z = pipe.embed(data)
    assert z.shape == (data.num_nodes, 8) and bool(torch.isfinite(z).all())
    assert all(torch.isfinite(torch.tensor(hist.losses)))
    for key, value in before.items():
        assert torch.equal(data[key], value)


# -- the non-finite guard ------------------------------------------------------------------------
class _InfGradAt(Objective):
    """A finite loss whose gradient is infinite from epoch ``k`` on (d sqrt(u)/du at u = 0)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, h1, h2, step=None):
        loss = (h1 - h2).pow(2).mean() + h1.pow(2).mean()
        if step.epoch >= self.k:
            loss = loss + torch.sqrt((h1 * 0.0).sum())
        return loss


def test_non_finite_gradient_names_epoch_and_last_loss_and_keeps_state():
    data = graph()
    pipe = Pipeline(GCNEncoder(4, 8), _InfGradAt(3), augment=DropEdge(0.2), lr=0.01,
                    device="cpu", progress=False)
    good = {}
    snap = LambdaCallback(lambda p, e, logs: good.update(
        state=copy.deepcopy(p.state_dict()), opt=copy.deepcopy(p.optimizer.state_dict())))
    with pytest.raises(NonFiniteLossError, match=r"gradient became NaN or infinite at epoch 3; "
                                                 r"last finite loss: \d") as info:
        pipe.fit(data, epochs=10, callbacks=[snap])
    assert info.value.epoch == 3 and info.value.last_finite_loss == pipe.history.losses[-1]
    assert pipe.epoch == 2 and len(pipe.history.epochs) == 2
    for k, v in good["state"].items():
        assert torch.equal(pipe.state_dict()[k], v)
    saved_steps = [s["step"] for s in good["opt"]["state"].values()]
    assert [s["step"] for s in pipe.optimizer.state_dict()["state"].values()] == saved_steps
    assert all(p.grad is None for p in pipe.parameters())


def test_non_finite_at_first_epoch_says_so():
    pipe = Pipeline(GCNEncoder(4, 8), _InfGradAt(1), device="cpu", progress=False)
    with pytest.raises(NonFiniteLossError, match="last finite loss: none"):
        pipe.fit(graph(), epochs=2)


def test_cli_reports_a_non_finite_loss_in_one_line(monkeypatch, capsys):
    import gcl.methods.runner as runner

    def fit_nan(module, data, config, callbacks=()):
        raise NonFiniteLossError(4, 1.25)

    monkeypatch.setattr(runner, "default_fit", fit_nan)
    monkeypatch.setattr(runner, "load_method_data", lambda *a, **k: graph(f=4))
    code = main(["train", "--method", "grace", "--dataset", "synthetic", "--device", "cpu",
                 "--set", "hidden=8", "--set", "proj_hidden=8"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "at epoch 4; last finite loss: 1.25" in err


def test_atomic_target_removes_its_file_on_failure_and_keeps_the_old_content(tmp_path):
    import os

    from gcl._utils import atomic_target

    target = tmp_path / "sub" / "a.npz"
    with atomic_target(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == target.parent and tmp != target
        tmp.write_text("first")
    assert target.read_text() == "first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(RuntimeError), atomic_target(target, durable=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "first"
    assert os.listdir(target.parent) == ["a.npz"]


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask

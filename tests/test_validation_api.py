"""Bad input through the Python API, second table (the first is ``tests/test_validation.py``).

``BAD_INPUTS`` lists each input with the error it gets and a fragment of the message; the tests
below it check the inputs that used to be silently accepted and now do the documented right
thing (unlabelled nodes in k-means, node attributes whose length equals E).
"""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data, HeteroData

from gcl import Pipeline
from gcl._utils import resolve_device, seed_everything
from gcl.augment import DropEdge, MaskFeature
from gcl.data import NeighborSampler, from_hetero_data, load, synthetic
from gcl.data.hetero import MetaPathGraph
from gcl.data.splits import random_split
from gcl.encoders import GCNEncoder
from gcl.evaluation import kmeans_clustering, linear_probe, sklearn_probe
from gcl.evaluation.links import split_edges
from gcl.methods import get_method, load_config, parse_override
from gcl.objectives import InfoNCE
from gcl.objectives.meow import MEOWLoss
from gcl.objectives.pot import POT

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ring(n=8, both=True):
    src = torch.arange(n)
    ei = torch.stack([src, (src + 1) % n])
    return torch.cat([ei, ei.flip(0)], 1) if both else ei


def fit(**changes):
    data = Data(x=torch.rand(8, 4, generator=torch.Generator().manual_seed(0)),
                edge_index=ring())
    for key, value in changes.items():
        setattr(data, key, value)
    pipe = Pipeline(GCNEncoder(4, 8), InfoNCE(0.5), augment=DropEdge(0.2), device="cpu",
                    progress=False)
    return pipe.fit(data, epochs=1)


HALF = torch.arange(8) < 4
VAL = (torch.arange(8) >= 4) & (torch.arange(8) < 6)
TEST = torch.arange(8) >= 6


def probe(y=None, train=HALF, val=VAL, test=TEST, **kw):
    return linear_probe(torch.rand(8, 3), torch.arange(8) % 2 if y is None else y, train, val,
                        test, epochs=2, **kw)


def hetero(x=None, pa=None):
    d = HeteroData()
    d["paper"].x = torch.rand(4, 3) if x is None else x
    d["author"].num_nodes = 2
    d["paper", "by", "author"].edge_index = (torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
                                             if pa is None else pa)
    return from_hetero_data(d, [("paper", "author", "paper")])


def yaml_file(tmp, text, binary=False):
    path = tmp / "config.yaml"
    path.write_bytes(text) if binary else path.write_text(text)
    return path


def bomb(levels=9):
    """A few hundred bytes of YAML whose aliases expand to 10**levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


_tmp = {}
NAN = float("nan")

# (id, thunk, expected exception, fragment of the message)
BAD_INPUTS = [
    # -- graphs (gcl._graphs.validate_graph, run by fit and embed) -----------------------------
    ("x requires grad", lambda: fit(x=torch.rand(8, 4).requires_grad_()), ValueError,
     r"data.x requires grad.*data.x.detach\(\)"),
    ("negative edge weights", lambda: fit(edge_weight=-torch.ones(16)), ValueError,
     r"data.edge_weight holds 16 negative value\(s\) \(first: edge 0, weight -1\)"),
    ("float64 edge weights", lambda: fit(edge_weight=torch.ones(16, dtype=torch.float64)),
     ValueError, r"edge_weight has dtype torch.float64 but data.x has torch.float32"),
    ("edge weights overflowing the degree", lambda: fit(edge_weight=torch.full((16,), 3e38)),
     ValueError, r"data.edge_weight is too large: the weighted target degree of node 0 "
                 r"overflows torch.float32"),
    # -- linear probe --------------------------------------------------------------------------
    ("probe: int64 0/1 mask", lambda: probe(train=HALF.long()), ValueError,
     r"train_mask is an index tensor that holds node 0 4 times; it looks like a 0/1 mask "
     r"stored as integers: pass train_mask.bool\(\)"),
    ("probe: repeated indices", lambda: probe(train=torch.tensor([0, 1, 1, 2])), ValueError,
     r"train_mask is an index tensor that holds node 1 2 times; pass each node once"),
    ("probe: train and val overlap", lambda: probe(val=HALF | VAL),
     ValueError, r"train_mask and val_mask share 4 node\(s\) \(first: node 0\)"),
    ("probe: val and test overlap", lambda: probe(test=torch.arange(8) >= 5), ValueError,
     r"val_mask and test_mask share 1 node\(s\) \(first: node 5\)"),
    ("probe: huge class id", lambda: probe(y=torch.tensor([10**13, 1, 0, 1, 0, 1, 0, 1])),
     ValueError, r"a linear probe over 10000000000001 classes .* would need .* more than the .*"
                 r"torch.unique"),
    # -- samplers and splits -------------------------------------------------------------------
    ("sampler: float fan-out", lambda: NeighborSampler(Data(x=torch.rand(8, 2),
                                                            edge_index=ring()), [2.5], 4),
     ValueError, r"num_neighbors must be a non-empty list of positive integer counts .* got "
                 r"\[2.5\]; a fractional fan-out is not rounded"),
    ("sampler: float node ids", lambda: NeighborSampler(
        Data(x=torch.rand(8, 2), edge_index=ring()), [2], 4, input_nodes=torch.tensor([0.5])),
     ValueError, r"input_nodes must be a boolean mask or a tensor of integer node ids, got "
                 r"torch.float32"),
    ("too many random splits", lambda: load("synthetic", num_nodes=50, num_splits=10**6),
     ValueError, r"num_splits=1000000 is more than the 10000 random splits"),
    ("random splits too large for memory", lambda: random_split(2**45, num_splits=100),
     ValueError, r"100 random splits of 35184372088832 nodes .* would need .* more than"),
    # -- heterogeneous graphs ------------------------------------------------------------------
    ("HeteroData NaN features", lambda: hetero(x=torch.tensor([[0.0], [NAN], [1], [2]])),
     ValueError, r"HeteroData\['paper'\].x holds NaN or infinite values \(first: node 1\)"),
    ("HeteroData empty relation", lambda: hetero(pa=torch.zeros(2, 0, dtype=torch.long)),
     ValueError, r"edge type \('paper', 'by', 'author'\) has no edges"),
    ("MetaPathGraph without its target type", lambda: MetaPathGraph(
        "g", "q", {"p": torch.eye(2)}, [], [], []), ValueError,
     r"MetaPathGraph 'g': the target type 'q' has no features in x_dict \(types: \['p'\]\)"),
    ("MEOW more clusters than nodes", lambda: MEOWLoss(num_clusters=(2, 50), nredo=1)(
        torch.randn(8, 4), torch.randn(8, 4)), ValueError,
     r"argument 'num_clusters' of MEOWLoss asks for 50 clusters of 8 nodes; .* at most 8"),
    # -- configuration -------------------------------------------------------------------------
    ("normalize_features=maybe", lambda: load_config(
        "grace", "cora", overrides=dict([parse_override("normalize_features=maybe")])),
     ValueError, r"config key 'normalize_features' in the command-line overrides must be true "
                 r"or false, got 'maybe'"),
    ("pot=maybe", lambda: load_config("grace", "cora", overrides={"pot": "maybe"}), ValueError,
     r"config key 'pot' .* must be true or false"),
    ("kappa nan in a config", lambda: load_config("grace", "cora", overrides={"kappa": NAN}),
     ValueError, r"config key 'kappa' .* must be a finite number .* got nan"),
    ("tau as a string", lambda: load_config("grace", "cora", overrides={"tau": "0.5"}),
     ValueError, r"config key 'tau' .* must be a finite number .* got '0.5'"),
    ("MVGRL threshold true (a number or a string)", lambda: load_config(
        "mvgrl", "cora", overrides={"threshold": True}), ValueError,
     r"config key 'threshold' .* must be one of: a number, a string; got True"),
    ("MVGRL threshold neither a number nor auto", lambda: get_method("mvgrl").build(
        {**load_config("mvgrl", "cora", overrides={"threshold": "eps"}), "device": "cpu"},
        synthetic(num_nodes=20, num_features=4, num_classes=2)), ValueError,
     r"threshold must be a number, 'auto' or None, got 'eps'"),
    ("G-BT probe, more folds than any class has nodes", lambda: sklearn_probe(
        torch.randn(12, 3), torch.tensor([0, 0, 0, 1] * 3), torch.arange(12) < 8,
        torch.arange(12) >= 8, folds=7), ValueError,
     r"sklearn_probe: a 7-fold grid search needs a class with at least 7 training nodes, the "
     r"largest has 6; give fewer folds \(probe_folds\)"),
    ("POT kappa nan", lambda: POT(NAN, drop_probs=(0.1, 0.1)), ValueError,
     r"argument 'kappa' of POT must be a probability"),
    ("--set value too long", lambda: parse_override("tau=" + "1" * 20_000), ValueError,
     r"has a value of 20000 characters, more than the 10000"),
    ("--set YAML alias bomb", lambda: parse_override("x=" + "{" + bomb(6).replace("\n", ", ")
                                                     .rstrip(", ") + "}"),
     ValueError, r"expands to more than 100000 values \(nested YAML aliases\?\)"),
    ("config file alias bomb", lambda: load_config("grace", "cora", yaml_file(_tmp["d"], bomb())),
     ValueError, r"config file .*config.yaml expands to more than 100000 values"),
    ("config file nested 100 deep", lambda: load_config(
        "grace", "cora", yaml_file(_tmp["d"], "a: " + "[" * 100 + "]" * 100)),
     ValueError, r"nests deeper than 32 levels"),
    ("config file a folder", lambda: load_config("grace", "cora", _tmp["d"]), ValueError,
     r"config file .* is a folder; give a YAML file"),
    ("config file binary", lambda: load_config(
        "grace", "cora", yaml_file(_tmp["d"], b"\x89PNG\r\n\x1a\n\x00\x00", binary=True)),
     ValueError, r"config file .* is not a text file \(YAML\)"),
    ("config file with a Python tag", lambda: load_config(
        "grace", "cora", yaml_file(_tmp["d"], "tau: !!python/object/apply:os.system [ls]")),
     ValueError, r"config file .* is not valid YAML \(line 1, column 6\)"),
    # -- devices and seeds ---------------------------------------------------------------------
    ("device meta", lambda: resolve_device("meta"), ValueError,
     r"device 'meta' is not supported: gcl trains on 'cpu' or 'cuda'"),
    ("seed beyond 2**63", lambda: seed_everything(2**63), ValueError,
     r"seed must be an integer in \[0, 2\*\*63 - 1\], got 9223372036854775808"),
]


@pytest.fixture(autouse=True)
def _tmp_dir(tmp_path):
    _tmp["d"] = tmp_path


@pytest.mark.parametrize("thunk,error,fragment", [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_one_clear_short_error(thunk, error, fragment):
    with pytest.raises(error, match=fragment) as info:
        thunk()
    assert len(str(info.value)) < 600  # a short message, however large the input


def test_hetero_labels_file_is_blamed_for_its_own_length(data_root, tmp_path):
    """A ``labels.npy`` of the wrong length is named, instead of ``pap.npz``'s shape."""
    source = data_root / "hetero" / "meow" / "acm"
    if not source.is_dir():
        pytest.skip(f"{source} is not in the data root")
    folder = tmp_path / "hetero" / "meow" / "acm"
    folder.mkdir(parents=True)
    for f in source.iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "labels.npy").unlink()
    np.save(folder / "labels.npy", np.zeros(100, dtype=np.int64))
    from gcl.data import load_hetero

    with pytest.raises(ValueError, match=r"labels.npy: 100 labels, expected one per 'p' node "
                                         r"\(4019\)"):
        load_hetero("acm", tmp_path, verify=False)


def test_kmeans_ignores_unlabelled_nodes_as_a_class():
    """Nodes labelled -1 are clustered but not scored, and are not a class of their own."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    z = torch.nn.functional.one_hot(y, 3).float() * 5 + torch.randn(60, 3, generator=g)
    y_partial = y.clone()
    y_partial[::4] = -1  # a quarter of the nodes are unlabelled
    r = kmeans_clustering(z, y_partial, seeds=[0], n_init=2)
    labelled = (y_partial >= 0).numpy()
    pred = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(z.double().numpy())
    expected = normalized_mutual_info_score(y_partial.numpy()[labelled], pred[labelled])
    assert r["nmi"]["values"][0] == pytest.approx(expected, abs=1e-12)
    assert r["acc"]["values"][0] > 0.9  # -1 counted as a class would cap accuracy at 0.75
    with pytest.raises(ValueError, match="all negative"):
        kmeans_clustering(z, -torch.ones(60, dtype=torch.long))


def _n_equals_e():
    """A directed ring: N = E = 8, with a node attribute, an edge attribute and an edge
    attribute whose name lacks 'edge' (PyG's rule: length E and E != N means per edge)."""
    return Data(x=torch.rand(8, 2), edge_index=ring(8, both=False),
                score=torch.arange(8.0), edge_weight=torch.arange(8.0))


def test_node_attribute_of_length_e_stays_a_node_attribute():
    data = _n_equals_e()
    torch.manual_seed(0)
    view = DropEdge(0.5)(data)
    assert torch.equal(view.score, data.score)  # a node attribute: all 8 rows kept
    kept = view.edge_index.size(1)
    assert kept < 8 and view.edge_weight.numel() == kept
    batch = next(iter(NeighborSampler(data, [-1], 3, shuffle=False)))
    assert torch.equal(batch.score, data.score[batch.n_id])
    assert torch.equal(batch.edge_weight, data.edge_weight[batch.e_id])
    split = split_edges(data, test_ratio=0.25, seed=0)
    assert torch.equal(split.train_data.score, data.score) and "edge_weight" not in \
        split.train_data


def test_edge_attribute_without_edge_in_its_name_is_filtered_with_the_edges():
    data = Data(x=torch.rand(8, 2), edge_index=ring(), w=torch.arange(16.0))  # E=16, N=8
    torch.manual_seed(0)
    view = DropEdge(0.5)(data)
    assert view.w.numel() == view.edge_index.size(1) < 16
    assert MaskFeature(0.5)(data).w.numel() == 16

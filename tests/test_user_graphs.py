"""A graph of the user's own: files, networkx, saved PyG graphs, registration, the CLI."""

import json
import re
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Data, HeteroData

import gcl
from gcl.cli import main
from gcl.data.registry import register_graph, registered_names, unregister_graph
from gcl.data.safe import CorruptFileError, UnsafeFileError
from gcl.data.user import from_files, from_networkx, prepare_graph
from gcl.data.user_io import parse_metapaths, read_edge_list, read_graph_file, read_metapaths

FAST = ["--set", "probe_epochs=30", "--set", "hidden=8", "--set", "proj_hidden=8",
        "--device", "cpu", "--quiet"]
MEOW_FAST = ["--set", "nei_max=[10,10]", "--set", "num_clusters=[3,4]", "--set", "hidden=8",
             "--set", "proj_dim=8", "--set", "eval_heads=2", "--set", "eval_steps=10",
             "--set", "cluster_fits=1", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def _forget_registered_graphs():
    before = set(registered_names())
    yield
    for name in set(registered_names()) - before:
        unregister_graph(name)


def _ring_files(folder, n=30, classes=3, one_way=True, header="source,target"):
    """A ring of n nodes plus chords inside each class; features say the class (noisily)."""
    y = np.arange(n) % classes
    pairs = [(i, (i + 1) % n) for i in range(n)] + [(i, i + classes) for i in range(n - classes)]
    if not one_way:
        pairs += [(b, a) for a, b in pairs]
    rng = np.random.default_rng(0)
    x = np.eye(classes)[y] + 0.1 * rng.standard_normal((n, classes))
    np.savetxt(folder / "edges.csv", np.array(pairs), fmt="%d", delimiter=",", header=header,
               comments="")
    np.save(folder / "x.npy", x.astype(np.float32))
    np.savetxt(folder / "y.txt", y, fmt="%d")
    return pairs, x, y


def _hetero(n=45, with_y=True, masks=False):
    gen = torch.Generator().manual_seed(0)
    topic = torch.arange(n) % 3
    h = HeteroData()
    h["paper"].x = torch.randn(n, 6, generator=gen) + torch.eye(3)[topic].repeat(1, 2)
    if with_y:
        h["paper"].y = topic
    h["author"].num_nodes = 9
    h["subject"].num_nodes = 3
    h["paper", "by", "author"].edge_index = torch.stack(
        [torch.arange(n), topic * 3 + torch.randint(0, 3, (n,), generator=gen)])
    h["paper", "on", "subject"].edge_index = torch.stack([torch.arange(n), topic])
    if masks:
        idx = torch.arange(n)
        h["paper"].train_mask, h["paper"].val_mask = idx < 9, (idx >= 9) & (idx < 18)
        h["paper"].test_mask = idx >= 18
    return h


# -- reading files -------------------------------------------------------------------------------

def test_edge_lists_in_every_separator_with_and_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("src,dst\n0,1\n1,2\n")
    (tmp_path / "b.tsv").write_text("0\t1\n1\t2\n")
    (tmp_path / "c.txt").write_text("# comment\n0 1\n1  2\n")
    (tmp_path / "d.edges").write_text("0,1\n1,2\n")
    for name in ("a.csv", "b.tsv", "c.txt", "d.edges"):
        assert read_edge_list(tmp_path / name).tolist() == [[0, 1], [1, 2]], name


@pytest.mark.parametrize("content,match", [
    ("0,1,0.5\n", "two columns"),
    ("0,-1\n", "non-negative"),
    ("0,1.5\n", "node ids must be integers"),
    ("a,b\nx,y\n", "not a numeric edge list"),
    ("a,b\n", "no edges"),
])
def test_malformed_edge_lists_name_the_file(tmp_path, content, match):
    path = tmp_path / "e.csv"
    path.write_text(content)
    with pytest.raises(CorruptFileError, match=match) as err:
        read_edge_list(path)
    assert str(path) in str(err.value)


def test_from_files_symmetrises_with_a_warning_that_counts_the_added_edges(tmp_path):
    pairs, x, y = _ring_files(tmp_path)
    with pytest.warns(UserWarning, match=rf"not symmetric \({len(pairs)} of {len(pairs)} edges "
                                         r"have no reverse edge\); added the reverse edges"):
        data = from_files(tmp_path / "edges.csv", tmp_path / "x.npy", tmp_path / "y.txt")
    assert data.num_nodes == 30 and data.name == "edges"
    assert data.num_edges == 2 * len(pairs)
    listed = {tuple(p) for p in data.edge_index.t().tolist()}
    assert all((a, b) in listed and (b, a) in listed for a, b in pairs)
    assert torch.allclose(data.x, torch.from_numpy(x.astype(np.float32)))
    assert data.y.tolist() == y.tolist()
    # seeded random 10/10/80 split (3/3/24 nodes), the same for the same seed
    assert [int(data[k].sum()) for k in ("train_mask", "val_mask", "test_mask")] == [3, 3, 24]
    again = from_files(tmp_path / "edges.csv", tmp_path / "x.npy", tmp_path / "y.txt", warn=False)
    assert torch.equal(again.train_mask, data.train_mask) and data.split_name == "random-0.1-0.1"


def test_symmetric_or_directed_input_is_kept_without_a_warning(tmp_path):
    pairs, _, _ = _ring_files(tmp_path, one_way=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = from_files(tmp_path / "edges.csv", tmp_path / "x.npy")
    assert data.num_edges == len(pairs)
    _ring_files(tmp_path, one_way=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        directed = from_files(tmp_path / "edges.csv", tmp_path / "x.npy", directed=True)
    assert directed.num_edges == len(pairs) // 2
    assert directed.split_name == "none" and "train_mask" not in directed  # no labels, no masks


def test_from_files_refuses_files_that_disagree(tmp_path):
    _ring_files(tmp_path)
    np.savetxt(tmp_path / "short.txt", np.zeros(7), fmt="%d")
    with pytest.raises(ValueError, match="disagree on the number of nodes"):
        from_files(tmp_path / "edges.csv", tmp_path / "x.npy", tmp_path / "short.txt")
    np.save(tmp_path / "x5.npy", np.zeros((5, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="node id 29 but .*x5.npy has only 5 rows"):
        from_files(tmp_path / "edges.csv", tmp_path / "x5.npy")
    (tmp_path / "bad_y.txt").write_text("0\n-1\n")
    with pytest.raises(CorruptFileError, match=r"labels \(class ids\) must be non-negative"):
        from_files(tmp_path / "edges.csv", labels=tmp_path / "bad_y.txt")
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        from_files(tmp_path / "nope.csv")


def test_features_as_text_table_and_object_npy_refused(tmp_path):
    _ring_files(tmp_path)
    np.savetxt(tmp_path / "x.csv", np.ones((30, 2)), delimiter=",", header="a,b", comments="")
    assert from_files(tmp_path / "edges.csv", tmp_path / "x.csv", warn=False).x.shape == (30, 2)
    np.save(tmp_path / "obj.npy", np.array([np.arange(2), np.arange(3)], dtype=object),
            allow_pickle=True)
    with pytest.raises(UnsafeFileError, match="pickled object array"):
        from_files(tmp_path / "edges.csv", tmp_path / "obj.npy")


def test_no_features_gives_one_hot_with_a_warning_and_a_size_limit(monkeypatch):
    g = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    with pytest.warns(UserWarning, match="no node features: using a one-hot vector per node"):
        out = prepare_graph(g, name="tiny")
    assert torch.equal(out.x, torch.eye(3)) and "x" not in g  # the input is left alone
    monkeypatch.setattr("gcl.data.user.ONE_HOT_LIMIT", 2)
    with pytest.raises(ValueError, match="no node features and 3 nodes"):
        prepare_graph(g, name="tiny")


def test_given_masks_are_kept():
    idx = torch.arange(10)
    g = Data(x=torch.rand(10, 2), edge_index=torch.tensor([[0], [1]]), y=idx % 2,
             train_mask=idx < 4, val_mask=(idx >= 4) & (idx < 6), test_mask=idx >= 6)
    out = prepare_graph(g, warn=False)
    assert out.split_name == "given" and torch.equal(out.train_mask, idx < 4)


def test_from_networkx_numbers_string_labels_and_reads_feature_attributes():
    nx = pytest.importorskip("networkx")
    graph = nx.karate_club_graph()
    data = from_networkx(graph, labels="club", warn=False)
    assert data.label_names == ["Mr. Hi", "Officer"]
    clubs = [graph.nodes[i]["club"] for i in graph.nodes]
    assert data.y.tolist() == [data.label_names.index(c) for c in clubs]
    assert data.num_edges == 2 * graph.number_of_edges() and data.x.shape == (34, 34)
    for i in graph.nodes:
        graph.nodes[i]["vec"] = [float(i), 1.0]
    assert from_networkx(graph, features="vec", warn=False).x[5].tolist() == [5.0, 1.0]
    del graph.nodes[3]["club"]
    with pytest.raises(ValueError, match="some nodes have no 'club' attribute"):
        from_networkx(graph, labels="club")


# -- saved PyG graphs ------------------------------------------------------------------------------

def test_reading_a_graph_file_leaves_the_process_wide_allow_list_alone(tmp_path):
    before = set(torch.serialization.get_safe_globals())
    assert Data in before  # PyG allows it when imported; others load processed files with it
    torch.save(Data(x=torch.rand(2, 1), edge_index=torch.tensor([[0], [1]])), tmp_path / "g.pt")
    read_graph_file(tmp_path / "g.pt")
    assert set(torch.serialization.get_safe_globals()) == before


def test_saved_data_and_heterodata_read_back(tmp_path):
    d = Data(x=torch.rand(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.arange(3))
    torch.save(d, tmp_path / "d.pt")
    back = read_graph_file(tmp_path / "d.pt")
    assert torch.equal(back.x, d.x) and torch.equal(back.edge_index, d.edge_index)
    h = _hetero()
    torch.save(h, tmp_path / "h.pt")
    hb = read_graph_file(tmp_path / "h.pt")
    assert set(hb.node_types) == {"paper", "author", "subject"}
    assert torch.equal(hb["paper", "by", "author"].edge_index, h["paper", "by", "author"].edge_index)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(CorruptFileError, match="holds a dict, not a PyG Data"):
        read_graph_file(tmp_path / "w.pt")


class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_in_a_graph_file_never_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save(Data(x=torch.zeros(2, 1), edge_index=torch.tensor([[0], [1]]),
                    extra=_Planted(marker)), tmp_path / "evil.pt")
    with pytest.raises(CorruptFileError, match=r"evil.pt is not a graph .*\(weights_only=True\): "
                                               r"it references (os|posix).system"):
        read_graph_file(tmp_path / "evil.pt")
    assert not marker.exists()


def test_metapaths_from_text_and_yaml(tmp_path):
    assert parse_metapaths(["a-b-a", "a,b-c,a"]) == [("a", "b", "a"), ("a", "b-c", "a")]
    with pytest.raises(ValueError, match="at least three node types"):
        parse_metapaths(["a-b"])
    (tmp_path / "m.yaml").write_text("- [p, a, p]\n- p-s-p\n")
    assert read_metapaths(tmp_path / "m.yaml") == {"metapaths": [("p", "a", "p"), ("p", "s", "p")],
                                                   "target": None}
    (tmp_path / "bad.yaml").write_text("metapaths: [[p, a, p]]\ntarget: p\nextra: 1\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['extra'\]"):
        read_metapaths(tmp_path / "bad.yaml")


def test_heterodata_target_masks_become_the_split():
    graph = gcl.data.from_hetero_data(_hetero(masks=True), [("paper", "author", "paper")])
    train, val, test = graph.splits["given"]
    assert train.tolist() == list(range(9)) and len(val) == 9 and len(test) == 27


# -- registration and load -------------------------------------------------------------------------

def test_registered_names_are_checked():
    g = Data(x=torch.rand(2, 1), edge_index=torch.tensor([[0], [1]]))
    for bad in ("", "../up", "a/b", "x" * 65, ".hidden"):
        with pytest.raises(ValueError, match="graph name"):
            register_graph(bad, g)
    with pytest.raises(ValueError, match="'Photo' is a catalog dataset \\('amazon-photo'\\)"):
        register_graph("Photo", g)
    with pytest.raises(ValueError, match="HeteroData needs its meta-paths"):
        register_graph("h", _hetero())


def test_load_draws_a_split_per_seed_for_a_registered_graph(tmp_path):
    _ring_files(tmp_path)
    data = from_files(tmp_path / "edges.csv", tmp_path / "x.npy", tmp_path / "y.txt", warn=False)
    register_graph("ring", data)
    a, b = gcl.data.load("ring", split_seed=1), gcl.data.load("ring", split_seed=2)
    assert not torch.equal(a.train_mask, b.train_mask)
    assert torch.equal(a.train_mask, gcl.data.load("ring", split_seed=1).train_mask)
    normalised = gcl.data.load("ring", normalize_features=True)
    assert torch.allclose(normalised.x, data.x / data.x.sum(1, keepdim=True).clamp(min=1))
    graph = gcl.data.from_hetero_data(_hetero(), [("paper", "author", "paper")], name="p")
    register_graph("p", graph)
    s1, s2 = gcl.data.load("p", split_seed=1).splits, gcl.data.load("p", split_seed=2).splits
    assert list(s1) == ["random"] and not torch.equal(s1["random"][0], s2["random"][0])
    assert graph.splits == {}  # the registered graph itself is left alone


# -- the command line ------------------------------------------------------------------------------

def test_cli_trains_and_evaluates_grace_on_an_edge_list(tmp_path, capsys):
    _ring_files(tmp_path)
    out = tmp_path / "r.json"
    code = main(["train", "--method", "grace", "--edges", str(tmp_path / "edges.csv"),
                 "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.txt"),
                 "--name", "ring", "--epochs", "3", "--runs", "2", "--out", str(out), *FAST])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: graph 'ring': the edge list is not symmetric" in err
    assert len(re.findall("no configuration for 'ring'", err)) == 1  # once for two runs
    record = json.loads(out.read_text())
    assert record["dataset"] == "ring" and record["seeds"] == [0, 1]
    assert {"accuracy", "macro_f1", "nmi", "ari"} <= set(record["metrics"])
    assert all(0.0 <= v <= 1.0 for v in record["metrics"]["accuracy"]["values"])


def test_cli_trains_and_evaluates_meow_on_a_saved_heterodata(tmp_path, capsys):
    torch.save(_hetero(), tmp_path / "papers.pt")
    (tmp_path / "mp.yaml").write_text("target: paper\nmetapaths:\n  - [paper, author, paper]\n"
                                      "  - paper-subject-paper\n")
    out = tmp_path / "m.json"
    code = main(["train", "--method", "meow", "--data", str(tmp_path / "papers.pt"),
                 "--metapaths", str(tmp_path / "mp.yaml"), "--epochs", "3", "--out", str(out),
                 *MEOW_FAST])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["dataset"] == "papers"
    assert {"macro_f1@random", "micro_f1@random", "auc@random", "nmi", "ari"} == set(
        record["metrics"])


def test_cli_without_labels_trains_and_says_what_it_skipped(tmp_path, capsys):
    _ring_files(tmp_path)
    out = tmp_path / "r.json"
    assert main(["train", "--method", "grace", "--edges", str(tmp_path / "edges.csv"),
                 "--epochs", "2", "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "warning: graph 'edges' has no node features: using a one-hot vector" in err
    assert re.search(r"warning: evaluation skipped: data.y is missing: the linear probe and the "
                     r"clustering .* give labels \(gcl train --labels FILE\)", err)
    assert json.loads(out.read_text())["metrics"] == {}
    h = _hetero(with_y=False)
    torch.save(h, tmp_path / "h.pt")
    assert main(["train", "--method", "meow", "--data", str(tmp_path / "h.pt"), "--metapath",
                 "paper-author-paper", "--metapath", "paper-subject-paper", "--epochs", "2",
                 "--out", str(tmp_path / "h.json"), *MEOW_FAST]) == 0
    assert "evaluation skipped: the graph has no labels (y)" in capsys.readouterr().err


@pytest.mark.parametrize("extra,match", [
    (["--metapath", "paper-nope-paper"], r"unknown node type\(s\) \['nope'\]"),
    ([], "name the meta-paths to follow, e.g. --metapath paper-<type>-paper"),
])
def test_cli_heterodata_errors_are_one_line(tmp_path, capsys, extra, match):
    torch.save(_hetero(), tmp_path / "h.pt")
    assert main(["train", "--method", "meow", "--data", str(tmp_path / "h.pt"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err


@pytest.mark.parametrize("argv,match", [
    (["--dataset", "cora", "--labels", "y.txt"], "--labels describe a graph of your own"),
    (["--edges", "e.csv", "--metapath", "a-b-a"], "--metapath/--metapaths go with a HeteroData"),
    (["--data", "g.pt", "--features", "x.npy"], "--features and --labels go with --edges"),
    (["--edges", "e.csv", "--name", "cora"], "'cora' is a catalog dataset"),
    (["--data", "h.pt", "--directed", "--metapath", "paper-author-paper"],
     "--directed does not apply to a HeteroData"),
])
def test_cli_own_graph_options_that_do_not_fit(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.csv").write_text("0,1\n")
    torch.save(_hetero(), tmp_path / "h.pt")
    assert main(["train", "--method", "grace", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


# -- evaluation says what it skipped -----------------------------------------------------------------

def test_evaluation_skips_what_the_graph_cannot_support_and_says_why():
    from gcl.evaluation import EvaluationSkippedWarning, evaluate_embeddings, heco_evaluate

    y = torch.arange(30) % 3
    z = torch.nn.functional.one_hot(y, 3).float()
    with pytest.warns(EvaluationSkippedWarning, match="data.y is missing"):
        assert evaluate_embeddings(z, Data(num_nodes=30), missing="skip") == {}
    with pytest.warns(EvaluationSkippedWarning, match="no train_mask or test_mask: the linear "
                                                      "probe needs split masks"):
        scores = evaluate_embeddings(z, Data(y=y, num_nodes=30), missing="skip",
                                     cluster_kwargs={"seeds": [0]})
    assert sorted(scores) == ["ari", "cluster_acc", "cluster_f1", "nmi"]
    with pytest.raises(ValueError, match="the linear probe needs split masks"):
        evaluate_embeddings(z, Data(y=y, num_nodes=30))  # the default still raises
    graph = gcl.data.from_hetero_data(_hetero(), [("paper", "author", "paper")])
    zh = torch.nn.functional.one_hot(graph.y, 3).float()
    with pytest.warns(EvaluationSkippedWarning, match="no train/val/test splits, so "
                                                      "classification .* is not scored"):
        assert sorted(heco_evaluate(zh, graph, cluster_seeds=[0])) == ["ari", "nmi"]
    graph.y = None
    with pytest.warns(EvaluationSkippedWarning, match=r"no labels \(y\)"):
        assert heco_evaluate(zh, graph) == {}

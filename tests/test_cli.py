"""The `gcl` command, the method registry, configurations and result records."""

import json
import subprocess
import sys

import pytest
import torch

from gcl.cli import main
from gcl.methods import get_method, load_config, parse_override, run
from gcl.results import RESULT_FORMAT, read_result

FAST = ["--set", "probe_epochs=40", "--set", "hidden=16", "--set", "proj_hidden=16"]


def test_train_synthetic_writes_a_complete_record(tmp_path, capsys):
    out = tmp_path / "r.json"
    emb = tmp_path / "emb.pt"
    code = main(["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "3",
                 "--runs", "2", "--seed", "5", "--device", "cpu", "--out", str(out),
                 "--save-emb", str(emb), "--quiet", *FAST])
    assert code == 0
    record = read_result(out)
    assert record["format"] == RESULT_FORMAT
    assert record["method"] == "grace" and record["dataset"] == "synthetic"
    assert record["seeds"] == [5, 6]
    assert record["config"]["epochs"] == 3 and record["config"]["hidden"] == 16
    for name in ("accuracy", "micro_f1", "macro_f1", "nmi", "ari", "cluster_acc", "cluster_f1"):
        m = record["metrics"][name]
        assert set(m) == {"mean", "std", "values"} and len(m["values"]) == 2
        assert 0.0 <= m["mean"] <= 1.0
    assert record["timing"]["train_s"] > 0 and record["timing"]["epoch_s_median"] > 0
    assert record["timing"]["peak_mem_mb"] > 0
    assert record["device"].startswith("cpu")
    assert {"python", "torch", "torch_geometric", "gcl"} <= set(record["versions"])
    assert len(record["runs"]) == 2 and len(record["runs"][0]["loss"]) == 3
    printed = capsys.readouterr().out
    assert "accuracy" in printed and str(out) in printed
    saved = torch.load(emb, weights_only=True)
    assert saved["embeddings"].shape == (1000, 16) and saved["seed"] == 6
    assert saved["y"].shape == (1000,)


def test_runs_are_reproducible_per_seed():
    kw = dict(overrides={"epochs": 3, "probe_epochs": 30, "hidden": 8, "proj_hidden": 8},
              device="cpu", log=None)
    a = run("grace", "synthetic", seed=3, **kw)
    b = run("grace", "synthetic", seed=3, **kw)
    assert a["runs"][0]["loss"] == b["runs"][0]["loss"]
    assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"]


def test_train_on_cora_reports_probe_and_clustering(data_root, tmp_path):
    out = tmp_path / "cora.json"
    code = main(["train", "--method", "grace", "--dataset", "cora", "--epochs", "2",
                 "--device", "cpu", "--data-root", str(data_root), "--out", str(out), "--quiet",
                 *FAST])
    assert code == 0
    record = json.loads(out.read_text())
    assert {"accuracy", "macro_f1", "nmi", "ari", "cluster_acc", "cluster_f1"} <= set(
        record["metrics"])
    assert record["config"]["normalize_features"] is True and record["config"]["tau"] == 0.4


@pytest.mark.parametrize("argv,match", [
    (["train", "--method", "graze", "--dataset", "cora"], "unknown method 'graze'.*grace"),
    (["train", "--method", "grace", "--dataset", "coraa"], "coraa"),
    (["train", "--method", "grace", "--dataset", "synthetic", "--set", "tua=0.3"],
     r"unknown config key\(s\) \['tua'\]"),
    (["train", "--method", "grace", "--dataset", "synthetic", "--set", "tau"], "key=value"),
    (["train", "--method", "grace", "--dataset", "synthetic", "--runs", "0"], "runs"),
    (["train", "--method", "grace", "--dataset", "synthetic", "--device", "tpu"], "device"),
])
def test_bad_input_is_one_line_and_exit_2(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    import re
    assert re.search(match, err), err


def test_missing_dataset_names_files_root_and_remedy(tmp_path, capsys):
    assert main(["train", "--method", "grace", "--dataset", "citeseer",
                 "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ind.citeseer" in err and str(tmp_path) in err
    assert "Traceback" not in err


def test_datasets_lists_catalog_with_status(data_root, capsys):
    assert main(["datasets", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "cora" in out and "available" in out
    line = next(l for l in out.splitlines() if l.strip().startswith("pubmed"))
    assert "missing" in line and "ind.pubmed" in line
    assert "ogbn-arxiv" in out and "synthetic" in out


def test_methods_and_help_show_defaults(capsys):
    assert main(["methods"]) == 0
    assert "grace" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--method", "--dataset", "--config", "--epochs", "--runs", "--device",
                 "--data-root", "--out", "--save-emb", "--set"):
        assert flag in help_text
    flat = " ".join(help_text.split())
    assert "(default: 1)" in flat and "(default: auto)" in flat


def test_config_layers(tmp_path):
    assert load_config("grace", "cora")["lr"] == 0.0005
    assert load_config("grace", "citeseer")["drop_edge"] == [0.2, 0.0]
    user = tmp_path / "c.yaml"
    user.write_text("tau: 0.7\nepochs: 5\n")
    cfg = load_config("grace", "cora", user, {"epochs": 9})
    assert cfg["tau"] == 0.7 and cfg["epochs"] == 9
    sectioned = tmp_path / "s.yaml"
    sectioned.write_text("defaults: {tau: 0.1}\ndatasets: {cora: {tau: 0.2}, citeseer: {tau: 0.3}}\n")
    assert load_config("grace", "cora", sectioned)["tau"] == 0.2
    (tmp_path / "bad.yaml").write_text("tau: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config("grace", "cora", tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        load_config("grace", "cora", tmp_path / "nope.yaml")
    assert parse_override("drop_edge=[0.1, 0.2]") == ("drop_edge", [0.1, 0.2])
    assert get_method("GRACE").name == "grace"


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "gcl", "--version"], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.startswith("gcl ")

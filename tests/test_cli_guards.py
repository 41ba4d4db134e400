"""No silent fallbacks: wrong kinds of graph, configuration fallbacks, resume without a
checkpoint, Ctrl-C, CSGCL's Team-up start, light commands, the missing data root."""

import re
import subprocess
import sys
import warnings

import pytest

from gcl.cli import main
from gcl.manifest import ConfigFallbackWarning, prepare_run, shipped_methods
from gcl.methods import available_methods, get_method, load_config, run

FAST = {"epochs": 2, "probe_epochs": 10, "hidden": 4, "proj_hidden": 4, "clustering": False}


@pytest.mark.parametrize("method,dataset,kinds,fits", [
    ("meow", "cora", ("heterogeneous graph", "'cora' is a homogeneous graph"),
     "bgrl, ccassg, csgcl, dgi, gbt, gca, gcn-pamc, grace, mvgrl, pamc, pamc-nodepair"),
    ("grace", "acm", ("homogeneous graph", "'acm' is a heterogeneous graph"),
     "adameow, heco, meow"),
])
def test_a_method_on_the_wrong_kind_of_graph_is_one_line_and_exit_2(method, dataset, kinds,
                                                                     fits, capsys):
    assert main(["train", "--method", method, "--dataset", dataset]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert all(k in err for k in kinds), err
    assert err.endswith(f"methods that fit '{dataset}': {fits}"), err


def test_the_manifest_agrees_with_the_registry():
    shipped = shipped_methods()
    assert set(shipped) == set(available_methods())
    for name in available_methods():
        spec = get_method(name)
        assert spec.description == shipped[name]["description"], name
        assert set(spec.datasets) == set(shipped[name]["datasets"]), name
    assert {n for n, a in shipped.items() if a["graph"] == "heterogeneous"} == {"meow", "adameow",
                                                                                "heco"}


def test_a_dataset_alias_uses_its_configuration_and_an_unconfigured_one_warns_once():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_run(get_method("grace"), "Cora") == "cora"  # configured: no warning
    record = run("grace", "Cora", overrides=FAST, device="cpu", log=None)
    assert record["dataset"] == "cora" and record["config"]["lr"] == load_config("grace",
                                                                                   "cora")["lr"]
    import gcl

    tiny = gcl.data.synthetic(num_nodes=60, num_classes=3, num_features=8, seed=0)
    del tiny.train_mask, tiny.val_mask, tiny.test_mask
    gcl.data.register_graph("tiny-graph", tiny)
    try:
        with pytest.warns(ConfigFallbackWarning) as caught:
            record = run("csgcl", "tiny-graph", overrides={**FAST, "t0": 1}, runs=2, device="cpu",
                         log=None)
    finally:
        gcl.data.unregister_graph("tiny-graph")
    fallbacks = [w for w in caught if issubclass(w.category, ConfigFallbackWarning)]
    # the recipe's own default (csgcl.yaml's defaults section holds only protocol keys)
    assert len(fallbacks) == 1 and record["config"]["tau"] == get_method("csgcl").defaults()["tau"]
    assert re.match(r"method 'csgcl' has no configuration for 'tiny-graph': using its recipe's "
                    r"defaults and the 'defaults' section of csgcl.yaml \(configured for: wikics, ",
                    str(fallbacks[0].message))


def test_csgcl_warns_when_team_up_never_switches_on(capsys, tmp_path):
    assert main(["train", "--method", "csgcl", "--dataset", "synthetic", "--epochs", "3",
                 "--set", "probe_epochs=5", "--set", "hidden=4", "--set", "proj_hidden=4",
                 "--set", "clustering=false", "--device", "cpu", "--quiet",
                 "--out", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    assert ("warning: CSGCL: epochs=3 is not above the Team-up start t0=50, so the "
            "community-strength term never switches on") in err
    from gcl.methods.csgcl import csgcl

    # the recipe's default t0 is the configuration files' default (cora has no csgcl section)
    assert csgcl(4, device="cpu").objective.t0 == load_config("csgcl", "cora")["t0"] == 1000


def test_resume_without_a_checkpoint_is_refused_and_missing_seeds_are_named(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"

    def train(*extra):
        return main(["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "2",
                     "--set", "probe_epochs=5", "--set", "hidden=4", "--set", "proj_hidden=4",
                     "--set", "clustering=false", "--device", "cpu", "--quiet",
                     "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "r.json"), *extra])

    assert train("--resume") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"gcl train: error: --resume: the checkpoint folder {ckpt} does not exist, so "
                   "there is nothing to resume (check the path; to start fresh, run the same "
                   "command without --resume)")
    ckpt.mkdir()
    assert train("--resume") == 2
    assert "holds no checkpoint of seed(s) [0]" in capsys.readouterr().err
    assert train() == 0 and (ckpt / "seed-0" / "last.pt").is_file()
    capsys.readouterr()
    assert train("--resume", "--runs", "2") == 0
    err = capsys.readouterr().err
    assert f"--resume: no checkpoint for seed 1 in {ckpt}: that run starts from scratch" in err
    assert "seed 0" not in err


@pytest.mark.parametrize("checkpoint,expected", [
    ([], "no checkpoint was kept: add --checkpoint-dir DIR (a checkpoint every "
         "--checkpoint-every 10 epochs) to make the next run resumable, then rerun it with "
         "--resume after an interruption"),
    (["--checkpoint-dir", "CKPT"], "checkpoints are in CKPT/seed-1 (every 10 epochs): rerun "
                                   "the same command with --resume to continue"),
])
def test_ctrl_c_says_where_it_stopped(monkeypatch, capsys, tmp_path, checkpoint, expected):
    import gcl.methods

    def interrupted_after_one_run(*args, log=None, **kwargs):
        log("[grace/synthetic] run 1/3 seed=0 train 1.0s: accuracy=0.5")
        raise KeyboardInterrupt

    monkeypatch.setattr(gcl.methods, "run", interrupted_after_one_run)
    checkpoint = [str(tmp_path / "ckpt") if a == "CKPT" else a for a in checkpoint]
    assert main(["train", "--method", "grace", "--dataset", "synthetic", "--runs", "3",
                 "--quiet", *checkpoint]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("gcl train: interrupted during run 2 of 3 (seed 1) after 1 finished "
                          "run(s); no result record was written")
    assert err.endswith(expected.replace("CKPT", str(tmp_path / "ckpt"))), err


def test_missing_data_root_says_the_folder_does_not_exist(tmp_path, capsys):
    root = tmp_path / "no-such-folder"
    assert main(["train", "--method", "grace", "--dataset", "citeseer",
                 "--data-root", str(root)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert f"the data root {root} does not exist" in first


def test_help_datasets_and_methods_import_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "from gcl.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['methods']); main(['datasets'])\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in\n"
            "      {'torch', 'torch_geometric', 'sklearn', 'scipy', 'igraph', 'ogb', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout[:500]


def test_methods_lists_kinds_and_datasets(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^meow +MEOW: .*\n +trains on heterogeneous graphs; configured for: acm, "
                     r"dblp, aminer, imdb$", out, flags=re.M)
    assert re.search(r"^grace +GRACE: .*\n +trains on homogeneous graphs; configured for: cora,",
                     out, flags=re.M)


def test_warnings_print_one_line_each(capsys, monkeypatch):
    import gcl.cli_train

    def warn_twice(*args, **kwargs):
        warnings.warn("first\nsecond line", UserWarning, stacklevel=1)
        raise ValueError("stop")

    monkeypatch.setattr(gcl.cli_train, "graph_from_args", warn_twice)
    monkeypatch.setattr("gcl.cli.graph_from_args", warn_twice)
    assert main(["train", "--method", "grace", "--dataset", "cora"]) == 2
    assert capsys.readouterr().err.splitlines() == ["gcl train: warning: first second line",
                                                    "gcl train: error: stop"]


def test_ctrl_c_before_training_is_one_line_too(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("gcl.cli.graph_from_args", interrupted)
    assert main(["train", "--method", "grace", "--dataset", "cora"]) == 130
    assert capsys.readouterr().err.strip() == "gcl train: interrupted"

"""CSGCL and GCA recipes: registration, per-dataset configs from the spec, and short runs."""

from __future__ import annotations

import math

import pytest
import torch

from gcl.methods import available_methods, get_method, load_config, run


def test_registered():
    assert {"csgcl", "gca"} <= set(available_methods())


@pytest.mark.parametrize("dataset,expected", [
    ("amazon-photo", {"lr": 0.1, "hidden": 256, "proj_hidden": 64, "activation": "relu",
                      "ced_drop_rate": [0.5, 0.7], "cav_drop_rate": [0.1, 0.1], "tau": 0.3,
                      "epochs": 3000, "t0": 2000, "gamma": 1.0, "cav_dense": False}),
    ("amazon-computers", {"lr": 0.005, "hidden": 512, "proj_hidden": 128, "activation": "prelu",
                          "ced_drop_rate": [0.6, 0.7], "cav_drop_rate": [0.1, 0.1], "tau": 0.2,
                          "epochs": 2500, "t0": 2000, "gamma": 5.0}),
    ("coauthor-cs", {"lr": 0.0005, "hidden": 256, "proj_hidden": 256, "activation": "rrelu",
                     "ced_drop_rate": [0.1, 0.1], "cav_drop_rate": [0.1, 0.5], "tau": 0.4,
                     "epochs": 4600, "t0": 1500, "gamma": 1.0}),
    ("wikics", {"lr": 0.01, "hidden": 256, "proj_hidden": 256, "activation": "prelu",
                "ced_drop_rate": [0.2, 0.7], "cav_drop_rate": [0.1, 0.2], "tau": 0.6,
                "epochs": 2000, "t0": 1000, "gamma": 10.0, "cav_dense": True}),
])
def test_csgcl_configs_follow_the_spec(dataset, expected):
    cfg = load_config("csgcl", dataset)
    for key, value in expected.items():
        assert cfg[key] == value, key
    assert cfg["weight_decay"] == 1e-5 and cfg["ced_threshold"] == 1.0 and cfg["cav_threshold"] == 1.0
    assert cfg["probe_epochs"] == (800 if dataset == "wikics" else 3000)


def test_gamma_saturates_where_the_spec_says():
    from gcl.objectives import team_up_gamma

    for dataset in ("wikics", "amazon-computers"):
        cfg = load_config("csgcl", dataset)
        assert team_up_gamma(cfg["epochs"], cfg["t0"], cfg["gamma"]) == cfg["gamma"]
        assert team_up_gamma(cfg["epochs"] - 1, cfg["t0"], cfg["gamma"]) < cfg["gamma"]


def test_gca_configs_follow_the_reference():
    cfg = load_config("gca", "amazon-computers")
    assert (cfg["lr"], cfg["hidden"], cfg["activation"], cfg["tau"], cfg["epochs"]) == \
        (0.01, 128, "rrelu", 0.2, 2000)
    assert cfg["threshold"] == 0.7 and cfg["centrality"] == "degree"


def test_csgcl_builds_the_parts():
    from gcl.augment.communal import CommunalAttributeVoting, CommunalEdgeDropping
    from gcl.data import synthetic
    from gcl.objectives import TeamUp

    data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
    cfg = load_config("csgcl", "synthetic")
    pipe = get_method("csgcl").build({**cfg, "device": "cpu", "progress": False}, data)
    assert isinstance(pipe.objective, TeamUp)
    ced, cav = pipe.augment1.augmentations
    assert isinstance(ced, CommunalEdgeDropping) and isinstance(cav, CommunalAttributeVoting)
    assert (ced.p, cav.p) == (0.2, 0.2) and pipe.augment2.augmentations[0].p == 0.4
    history = pipe.fit(data, epochs=2)
    # the augmentations and Team-up share one community detection
    assert ced.communities is cav.communities
    assert pipe.objective.node_strength.shape == (60,)
    assert all(math.isfinite(v) for v in history.losses)


@pytest.mark.parametrize("method", ["csgcl", "gca"])
def test_run_on_synthetic(method):
    overrides = {"epochs": 3, "probe_epochs": 40}
    if method == "csgcl":
        overrides["t0"] = 1
    record = run(method, "synthetic", overrides=overrides, device="cpu", log=None)
    assert record["method"] == method
    assert 0.0 <= record["metrics"]["accuracy"]["mean"] <= 1.0
    assert "nmi" in record["metrics"]


def test_legacy_strength_reaches_every_part():
    from gcl.data import synthetic

    data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
    cfg = load_config("csgcl", "synthetic", overrides={"legacy_strength": True})
    pipe = get_method("csgcl").build({**cfg, "device": "cpu", "progress": False}, data)
    pipe.fit(data, epochs=1)
    ced, cav = pipe.augment1.augmentations
    assert ced.communities.legacy_strength and cav.communities is ced.communities
    assert torch.equal(pipe.objective.node_strength, ced.communities.node_strength)


def test_community_seed_is_recorded_and_follows_the_run_seed():
    a = run("csgcl", "synthetic", overrides={"epochs": 1, "probe_epochs": 20}, device="cpu",
            log=None, seed=3)
    b = run("csgcl", "synthetic", overrides={"epochs": 1, "probe_epochs": 20}, device="cpu",
            log=None, seed=3)
    seed_a = a["runs"][0]["meta"]["community_seed"]
    assert isinstance(seed_a, int) and seed_a == b["runs"][0]["meta"]["community_seed"]
    assert a["runs"][0]["meta"]["community_method"] == "leiden"

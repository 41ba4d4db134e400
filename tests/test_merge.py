"""Merging result records of one configuration run as separate per-seed processes."""

import json

import pytest

from gcl.cli import main
from gcl.methods import run
from gcl.results import merge_records, read_result

KW = dict(overrides={"epochs": 3, "probe_epochs": 30, "hidden": 8, "proj_hidden": 8},
          device="cpu", log=None)


@pytest.fixture(scope="module")
def records():
    together = run("grace", "synthetic", runs=2, seed=0, **KW)
    parts = [run("grace", "synthetic", runs=1, seed=s, **KW) for s in (1, 0)]
    return together, parts


def test_merged_per_seed_records_equal_one_run_with_all_seeds(records):
    together, parts = records
    merged = merge_records(parts)
    assert merged["seeds"] == [0, 1]
    assert [r["loss"] for r in merged["runs"]] == [r["loss"] for r in together["runs"]]
    assert set(merged["metrics"]) == set(together["metrics"])
    for name, m in together["metrics"].items():
        assert merged["metrics"][name]["values"] == m["values"]
        assert merged["metrics"][name]["mean"] == pytest.approx(m["mean"], abs=1e-12)
        assert merged["metrics"][name]["std"] == pytest.approx(m["std"], abs=1e-12)
    assert merged["timing"]["peak_mem_mb"] == max(p["timing"]["peak_mem_mb"] for p in parts)
    assert len(merged["merged_from"]) == 2


def test_merge_refuses_overlap_other_config_and_single_record(records):
    _, parts = records
    with pytest.raises(ValueError, match="overlap"):
        merge_records([parts[0], parts[0]])
    other = json.loads(json.dumps(parts[1]))
    other["config"]["lr"] = 123.0
    with pytest.raises(ValueError, match="'config'"):
        merge_records([parts[0], other])
    relabeled = {**parts[1], "label": "GRACE+POT"}
    with pytest.raises(ValueError, match="'label'"):
        merge_records([parts[0], relabeled])
    with pytest.raises(ValueError, match="at least two"):
        merge_records(parts[:1])


def test_merge_command_line(tmp_path, capsys):
    paths = []
    for s in (0, 1):
        code = main(["reproduce", "--method", "grace", "--dataset", "synthetic", "--seeds", "1",
                     "--seed", str(s), "--device", "cpu", "--set", "epochs=2",
                     "--set", "probe_epochs=20", "--set", "hidden=8", "--set", "proj_hidden=8",
                     "--results-dir", str(tmp_path / f"part{s}"),
                     "--docs", str(tmp_path / f"page{s}.md")])
        assert code == 0
        paths += [str(p) for p in (tmp_path / f"part{s}").rglob("*.json")]
    out = tmp_path / "results" / "grace" / "merged.json"
    page = tmp_path / "page.md"
    code = main(["merge", *paths, "--out", str(out), "--docs", str(page),
                 "--results-dir", str(tmp_path / "results")])
    assert code == 0
    merged = read_result(out)
    assert merged["seeds"] == [0, 1]
    assert "--seeds 2" in merged["command"] and "--seed " not in merged["command"]
    assert "synthetic" in page.read_text()
    assert "merged 2 records" in capsys.readouterr().out
    assert main(["merge", paths[0], paths[0], "--out", str(tmp_path / "x.json")]) == 2

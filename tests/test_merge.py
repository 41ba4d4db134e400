"""Merging result records of one configuration run as separate per-seed processes."""

import json

import pytest

from gcl.cli import main
from gcl.methods import run
from gcl.results import compare_records, merge_records, read_result, write_json

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
    with pytest.raises(ValueError, match="'config'") as err:
        merge_records([parts[0], other])
    # the message names the key and both values, not two whole configurations
    assert f"lr: {parts[0]['config']['lr']!r} | 123.0" in str(err.value)
    assert "--fill" not in str(err.value) and "epochs" not in str(err.value)
    relabeled = {**parts[1], "label": "GRACE+POT"}
    with pytest.raises(ValueError, match="'label'"):
        merge_records([parts[0], relabeled])
    with pytest.raises(ValueError, match="at least two"):
        merge_records(parts[:1])


def test_merge_fills_a_key_that_older_records_lack(records):
    _, parts = records
    older = json.loads(json.dumps(parts[1]))  # written before the code had the key "init"
    newer = json.loads(json.dumps(parts[0]))
    newer["config"]["init"] = "xavier"
    with pytest.raises(ValueError, match="'config'") as err:
        merge_records([older, newer])
    assert "init: missing | 'xavier'" in str(err.value) and "--fill KEY=VALUE" in str(err.value)
    merged = merge_records([older, newer], fill={"init": "xavier"})
    assert merged["config"]["init"] == "xavier" and merged["seeds"] == [0, 1]
    # merged_from is in seed order: the older record is seed 0
    assert [m.get("filled") for m in merged["merged_from"]] == [{"init": "xavier"}, None]
    assert "init" not in older["config"]  # the inputs are left as they were
    # a record that has the key with another value is not overridden
    with pytest.raises(ValueError, match="'config'"):
        merge_records([older, newer], fill={"init": "reference"})


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
    relabeled = tmp_path / "results" / "grace" / "relabeled.json"
    assert main(["merge", *paths, "--out", str(relabeled), "--label", "GRACE (old inputs)",
                 "--note", "ran before the default changed", "--docs", str(page),
                 "--results-dir", str(tmp_path / "results")]) == 0
    assert read_result(relabeled)["label"] == "GRACE (old inputs)"
    text = page.read_text()
    assert "| GRACE (old inputs) |" in text
    assert "- GRACE (old inputs): ran before the default changed" in text
    assert main(["merge", paths[0], paths[0], "--out", str(tmp_path / "x.json")]) == 2


def _fake(values: dict, label: str | None = None) -> dict:
    from gcl.results import make_record

    record = make_record(method="grace", dataset="cora", config={}, seeds=sorted(values),
                         metrics={}, timing={}, device="cpu", command="gcl",
                         runs=[{"seed": s, "metrics": {"micro_f1": v}} for s, v in values.items()])
    return {**record, "label": label} if label else record


def test_compare_records_is_a_paired_difference():
    base = _fake({0: 0.60, 1: 0.70, 2: 0.65, 7: 0.5})
    other = _fake({2: 0.70, 0: 0.64, 1: 0.73})
    c = compare_records(base, other)
    assert c["seeds"] == [0, 1, 2]  # seed 7 has no partner
    m = c["metrics"]["micro_f1"]
    diffs = [0.04, 0.03, 0.05]
    assert m["diffs"] == pytest.approx(diffs)
    mean = sum(diffs) / 3
    sd = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5
    assert m["mean"] == pytest.approx(mean) and m["std"] == pytest.approx(sd)
    assert m["t"] == pytest.approx(mean / (sd / 3 ** 0.5))
    assert m["base"]["values"] == pytest.approx([0.60, 0.70, 0.65])
    one = compare_records(base, _fake({1: 0.8}))["metrics"]["micro_f1"]
    assert one["std"] is None and one["t"] is None
    with pytest.raises(ValueError, match="share no seed"):
        compare_records(base, _fake({5: 0.1}))


def test_compare_command_line(tmp_path, capsys):
    a = write_json(_fake({0: 0.60, 1: 0.70}), tmp_path / "a.json")
    b = write_json(_fake({0: 0.65, 1: 0.72}, label="GRACE+POT"), tmp_path / "b.json")
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "GRACE+POT - GRACE on cora, paired over seeds [0, 1]" in out
    assert "+5.0 +2.0" in out and "+3.50" in out

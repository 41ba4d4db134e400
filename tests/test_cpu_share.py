"""The share of the CPU a training run got travels with its timing: the loop measures it (kept
across a resume), records and merged records carry it, the reproduction page and the summary
table show it, and a record whose share is not a number is refused."""

from __future__ import annotations

import pytest

from gcl.data import synthetic
from gcl.merge import merge_records
from gcl.methods.runner import run
from gcl.recordcheck import check_record
from gcl.training.history import cpu_share


def test_cpu_share_is_cpu_time_over_what_the_threads_could_use():
    assert cpu_share(1.0, 4.0, threads=1) == 0.25
    assert cpu_share(3.0, 2.0, threads=2) == 0.75
    assert cpu_share(1.0, 0.0, threads=1) > 1  # no division by zero


def test_the_loop_records_cpu_time_and_share_and_keeps_them_across_a_resume(tmp_path):
    from gcl.methods import get_method, load_config

    data = synthetic(num_nodes=60, num_features=8, num_classes=2, seed=0)
    config = {**load_config("grace", "synthetic"), "device": "cpu", "progress": False}
    pipe = get_method("grace").build(config, data)
    pipe.configure_checkpoints(tmp_path, 2, False)
    pipe.fit(data, epochs=4)
    meta = pipe.history.meta
    assert meta["cpu_s"] > 0 and 0 < meta["cpu_share"] <= 1.5
    again = get_method("grace").build(config, data)
    again.configure_checkpoints(tmp_path, 2, True)
    again.fit(data, epochs=6)
    # the CPU time before the checkpoint comes back with it and grows from there
    assert again.history.meta["resumes"] and again.history.meta["cpu_s"] > meta["cpu_s"]
    assert 0 < again.history.meta["cpu_share"] <= 1.5


def _record(seed):
    return run("grace", "synthetic", seed=seed, runs=1, device="cpu",
               overrides={"epochs": 3, "probe_epochs": 5}, progress=False)


def test_records_and_merged_records_carry_the_share():
    a, b = _record(0), _record(1)
    for rec in (a, b):
        assert 0 < rec["timing"]["cpu_share"] <= 1.5
        assert rec["timing"]["cpu_share"] == rec["runs"][0]["cpu_share"]
    merged = merge_records([a, b])
    assert merged["timing"]["cpu_share"] == pytest.approx(
        (a["runs"][0]["cpu_share"] + b["runs"][0]["cpu_share"]) / 2)
    # a run without the share (a record of older code) leaves the merged timing without it
    older = {**b, "runs": [{k: v for k, v in b["runs"][0].items() if k != "cpu_share"}]}
    assert "cpu_share" not in merge_records([a, older])["timing"]


def test_the_page_and_the_summary_show_the_share():
    from gcl.cli import format_metrics_table
    from gcl.reporting import render_reproduction

    rec = _record(0)
    share = f"CPU share {rec['timing']['cpu_share']:.2f}"
    assert share in format_metrics_table(rec)
    assert share in render_reproduction([{**rec, "_file": "grace/x.json"}], [])


@pytest.mark.parametrize("where", ["timing", "run"])
def test_a_share_that_is_not_a_number_is_refused(where):
    rec = _record(0)
    if where == "timing":
        rec["timing"]["cpu_share"] = "busy"
    else:
        rec["runs"][0]["cpu_share"] = [1]
    with pytest.raises(ValueError, match="cpu_share"):
        check_record(rec, "x.json")

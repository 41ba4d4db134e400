"""Cost estimates: measured from the first epochs, extrapolated, listed on the reproduction page
until a result record of the same row exists."""

from __future__ import annotations

import json

import pytest

from gcl.estimate import collect_estimates, estimate_cost, main
from gcl.reporting import render_reproduction


def test_estimate_extrapolates_the_median_epoch_to_the_full_run():
    rec = estimate_cost("bgrl", "synthetic", epochs=3, seeds=2,
                        overrides={"encoder_sizes": [8, 4], "predictor_hidden": 8})
    assert rec["full_epochs"] == 200 and rec["seeds"] == 2 and len(rec["epoch_s"]) == 3
    assert rec["estimated_s"] == pytest.approx(sorted(rec["epoch_s"])[1] * 200 * 2)
    assert rec["label"] == "BGRL" and not rec["early_stopping"]


def test_pending_runs_are_listed_until_a_record_exists(tmp_path):
    out = main(["--method", "grace", "--dataset", "synthetic", "--epochs", "2", "--seeds", "4",
                "--set", "epochs=7200", "--results-dir", str(tmp_path),
                "--docs", str(tmp_path / "r.md")])
    rec = json.loads(out.read_text())
    assert rec["command"].startswith("python -m gcl.estimate --method grace")
    estimates = collect_estimates(tmp_path)
    page = render_reproduction([], [], estimates)
    assert "## Runs that need a GPU" in page and "| GRACE | synthetic | 7200 × 4 |" in page
    done = {"method": "grace", "dataset": "synthetic", "seeds": [0], "metrics": {},
            "_file": "grace/x.json"}
    assert "Runs that need a GPU" not in render_reproduction([done], [], estimates)


def test_an_estimate_records_the_cpu_share_and_warns_on_a_busy_machine(monkeypatch, capsys):
    """An estimate timed while other work held the cores is too high (BGRL's first estimates were
    7-10x): the record carries the CPU share of its timing, a low one warns, the page shows it."""
    import gcl.training.loop as loop
    from gcl.training.history import cpu_share

    rec = estimate_cost("grace", "synthetic", epochs=2, seeds=1)
    assert 0 < rec["cpu_share"] <= 1.5
    # the same fit as if three other processes had shared the core: a quarter of the CPU
    monkeypatch.setattr(loop, "cpu_share", lambda cpu_s, wall_s: cpu_share(cpu_s, 4 * wall_s))
    busy = estimate_cost("grace", "synthetic", epochs=2, seeds=1)
    assert busy["cpu_share"] < 0.4
    assert "the machine is busy" in capsys.readouterr().err
    page = render_reproduction([], [], [{**busy, "_file": "estimates/g.json"}])
    assert f"CPU share {busy['cpu_share']:.2f}" in page

"""docs/reproduction.md is generated from result records, and the committed page agrees with them."""

import shlex
import time
from pathlib import Path

import pytest

from gcl.cli import main
from gcl.reporting import collect_results, load_paper_numbers, render_reproduction
from gcl.results import make_record, read_result, write_json

REPO = Path(__file__).resolve().parents[1]


def _record(label, dataset, acc, created, seeds=(0, 1)):
    r = make_record(method="grace", dataset=dataset, config={"tau": 0.4}, seeds=list(seeds),
                    metrics={"accuracy": {"mean": acc, "std": 0.01, "values": [acc] * len(seeds)}},
                    timing={"train_s": 12.5, "epoch_s_median": 0.1, "peak_mem_mb": 100.0},
                    device="cpu", command=f"gcl reproduce --method grace --dataset {dataset}")
    r["label"] = label
    r["created"] = created
    return r


def test_render_rows_paper_columns_and_latest_wins(tmp_path):
    write_json(_record("GRACE", "cora", 0.80, "2026-01-01T00:00:00"), tmp_path / "a.json")
    write_json(_record("GRACE", "cora", 0.82, "2026-02-01T00:00:00"), tmp_path / "b.json")
    write_json(_record("GRACE+POT", "cora", 0.83, "2026-01-01T00:00:00"), tmp_path / "c.json")
    (tmp_path / "noise.json").write_text('{"not": "a record"}')
    (tmp_path / "paper.yaml").write_text(
        "- {label: GRACE, dataset: cora, metric: accuracy, value: 81.9, std: 0.4, source: paper T1}\n"
        "- {label: CSGCL, dataset: amazon-photo, metric: accuracy, value: 93.32, source: paper}\n")
    records = collect_results(tmp_path)
    assert [r["_file"] for r in records] == ["b.json", "c.json"]
    md = render_reproduction(records, load_paper_numbers(tmp_path / "paper.yaml"))
    assert "| GRACE | 2 | 82.00 ± 1.00 | 81.90 ± 0.40 | 12.5 | cpu" in md
    assert "| GRACE+POT | 2 | 83.00 ± 1.00 | – |" in md
    assert "accuracy (paper)" in md and "paper T1" in md
    assert "| CSGCL | amazon-photo | accuracy | 93.32 | paper |" in md  # paper-only row


def test_paper_sources_are_listed_once_per_row_and_source(tmp_path):
    r = _record("GRACE", "cora", 0.80, "2026-01-01T00:00:00")
    r["metrics"]["nmi"] = {"mean": 0.5, "std": 0.0, "values": [0.5, 0.5]}
    write_json(r, tmp_path / "a.json")
    (tmp_path / "paper.yaml").write_text(
        "- {label: GRACE, dataset: cora, metric: nmi, value: 50.0, source: Table 3}\n"
        "- {label: GRACE, dataset: cora, metric: accuracy, value: 81.9, source: Table 3}\n")
    md = render_reproduction(collect_results(tmp_path), load_paper_numbers(tmp_path / "paper.yaml"))
    assert md.count("Table 3") == 1
    assert "- paper numbers — GRACE accuracy, nmi: Table 3" in md


def test_published_baseline_without_a_run_is_a_row_of_its_dataset(tmp_path):
    write_json(_record("GRACE", "cora", 0.80, "2026-01-01T00:00:00"), tmp_path / "a.json")
    (tmp_path / "paper.yaml").write_text(
        "- {label: SDCN, dataset: cora, metric: accuracy, value: 65.96, std: 0.31, source: T2}\n"
        "- {label: SDCN, dataset: cora, metric: unknown_metric, value: 1.0, source: T2}\n"
        "- {label: DGI, dataset: cora, metric: accuracy, value: 82.3, source: T3}\n")
    md = render_reproduction(collect_results(tmp_path), load_paper_numbers(tmp_path / "paper.yaml"))
    # DGI's only metric is a column of the table: a row; SDCN has a metric the table lacks: it
    # stays in the paper-only table, with all its numbers
    assert "| DGI (published) | – | 82.30 | – | – | paper |" in md
    assert "SDCN (published)" not in md
    assert "| SDCN | cora | accuracy | 65.96 ± 0.31 | T2 |" in md
    assert "| DGI | cora |" not in md
    assert "\nCommands:\n\n- GRACE: `gcl reproduce" in md
    assert "--results-dir" not in md


def test_paper_numbers_with_a_protocol_stay_with_that_protocol(tmp_path):
    write_json(_record("GRACE", "cora", 0.80, "2026-01-01T00:00:00"), tmp_path / "a.json")
    tagged = _record("GRACE", "cora", 0.70, "2026-01-01T00:00:00")
    tagged["protocol"] = "P2"
    write_json(tagged, tmp_path / "b.json")
    (tmp_path / "paper.yaml").write_text(
        "- {label: GRACE, dataset: cora, metric: accuracy, value: 81.9, source: T1}\n"
        "- {label: GRACE, dataset: cora, metric: accuracy, value: 71.5, source: T2, "
        "protocol: P2}\n"
        "- {label: DGI, dataset: cora, metric: accuracy, value: 60.0, source: T3, protocol: P2}\n"
        "- {label: DGI, dataset: cora, metric: accuracy, value: 50.0, source: T4, protocol: P3}\n")
    md = render_reproduction(collect_results(tmp_path), load_paper_numbers(tmp_path / "paper.yaml"))
    plain, rest = md.split("## cora — P2")
    assert "| GRACE | 2 | 80.00 ± 1.00 | 81.90 |" in plain and "71.50" not in plain
    assert "| GRACE | 2 | 70.00 ± 1.00 | 71.50 |" in rest and "81.90" not in rest
    assert "| DGI (published) | – | 60.00 | – |" in rest and "60.00" not in plain
    # no record of protocol P3: the paper-only table says which protocol the number is for
    assert "| DGI | cora — P3 | accuracy | 50.00 | T4 |" in md


def test_paper_table_requires_sources(tmp_path):
    (tmp_path / "paper.yaml").write_text("- {label: X, dataset: cora, metric: accuracy, value: 1}\n")
    with pytest.raises(ValueError, match="source"):
        load_paper_numbers(tmp_path / "paper.yaml")


def test_reproduce_appends_a_record_and_regenerates(tmp_path):
    results, docs = tmp_path / "results", tmp_path / "docs" / "reproduction.md"
    argv = ["reproduce", "--method", "grace", "--dataset", "synthetic", "--seeds", "1",
            "--device", "cpu", "--results-dir", str(results), "--docs", str(docs),
            "--set", "epochs=2", "--set", "probe_epochs=20", "--set", "hidden=8",
            "--set", "proj_hidden=8", "--label", "GRACE (tiny)"]
    assert main(argv) == 0
    files = list((results / "grace").glob("*.json"))
    assert len(files) == 1 and read_result(files[0])["label"] == "GRACE (tiny)"
    assert files[0].name.startswith("grace-tiny-synthetic-")  # a file name without ( ) or spaces
    page = docs.read_text()
    assert "## synthetic" in page and "| GRACE (tiny) | 1 |" in page


def test_link_prediction_records_get_a_table_of_their_own(tmp_path):
    results, docs = tmp_path / "results", tmp_path / "r.md"
    argv = ["reproduce", "--method", "grace", "--dataset", "synthetic", "--seeds", "1",
            "--device", "cpu", "--results-dir", str(results), "--docs", str(docs),
            "--set", "epochs=2", "--set", "probe_epochs=20", "--set", "hidden=8",
            "--set", "proj_hidden=8"]
    assert main([*argv, "--set", "task=link"]) == 0
    time.sleep(1.1)  # another time stamp: the node record is the newer one
    assert main(argv) == 0
    page = docs.read_text()
    assert "## synthetic\n" in page and "## synthetic — held-out link prediction" in page
    link_table = page.split("## synthetic — held-out link prediction")[1].split("##")[0]
    assert "link_auc" in link_table and "accuracy" not in link_table
    assert page.count("| GRACE | 1 |") == 2


def test_committed_page_matches_the_result_files():
    records = collect_results(REPO / "results")
    paper = load_paper_numbers(REPO / "results" / "paper.yaml")
    from gcl.estimate import collect_estimates

    expected = render_reproduction(records, paper, collect_estimates(REPO / "results"))
    actual = (REPO / "docs" / "reproduction.md").read_text()
    assert actual == expected, (
        "docs/reproduction.md is out of date with results/: run `python -m gcl.reporting`")


def test_recorded_command_keeps_quoted_arguments(monkeypatch):
    from gcl.reporting import shown_command
    from gcl.results import _command_line

    monkeypatch.setattr("sys.argv", ["/src/gcl/__main__.py", "reproduce", "--label", "A (b)",
                                     "--results-dir", "/tmp/r x"])
    line = _command_line()
    assert line == "gcl reproduce --label 'A (b)' --results-dir '/tmp/r x'"
    assert shown_command(line) == "gcl reproduce --label 'A (b)'"
    # records written before the quoting: shown word by word, unbalanced quotes included
    old = shown_command("gcl reproduce --label it's")
    assert old == "gcl reproduce --label " + shlex.quote("it's")


def test_reproduce_resumes_from_its_checkpoint(tmp_path, capsys):
    # a finished checkpointed run resumed: nothing is trained again, the record is the same run
    results, docs, ckpt = tmp_path / "results", tmp_path / "r.md", tmp_path / "ckpt"
    argv = ["reproduce", "--method", "grace", "--dataset", "synthetic", "--seeds", "1",
            "--seed", "2", "--device", "cpu", "--results-dir", str(results), "--docs", str(docs),
            "--set", "epochs=6", "--set", "probe_epochs=20", "--set", "hidden=8",
            "--set", "proj_hidden=8", "--checkpoint-dir", str(ckpt), "--checkpoint-every", "2"]
    assert main(argv) == 0
    assert (ckpt / "seed-2" / "last.pt").is_file()
    assert main(argv) != 0  # an existing checkpoint needs --resume
    assert "already exists" in capsys.readouterr().err
    time.sleep(1.1)  # another time stamp, so the second record gets its own file
    assert main([*argv, "--resume"]) == 0
    first, second = sorted((results / "grace").glob("*.json"))
    a, b = read_result(first)["runs"][0], read_result(second)["runs"][0]
    assert a["loss"] == b["loss"] and len(b["loss"]) == 6
    assert a["metrics"] == b["metrics"]
    assert "resumes" not in a["meta"] and b["meta"]["resumes"][-1]["epoch"] == 6
    # the training time of the first process is kept: the resumed one trained nothing
    assert b["train_s"] >= a["meta"]["train_s"] > 0
    assert "--checkpoint-dir" not in docs.read_text()


def test_records_name_the_commit_of_the_checkout():
    import subprocess

    from gcl.results import source_revision

    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=10", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    rev = source_revision()
    assert rev is not None and rev.split("+")[0] == head
    code_changes = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "gcl",
         "tests", "benchmarks/*.py", "examples", "pyproject.toml", "Makefile"],
        capture_output=True, text=True, check=True).stdout.strip()
    if code_changes:
        assert rev.endswith("+dirty")
    record = _record("GRACE", "cora", 0.8, "2026-01-01T00:00:00Z")
    assert record["versions"]["gcl_commit"] == rev


def test_records_and_pages_written_by_runs_leave_the_checkout_clean(tmp_path):
    """``make bench`` and ``gcl reproduce`` write into results/, benchmarks/results/ and docs/;
    a run after another must still name a clean commit. Code, tests or configuration changed
    make it ``+dirty``."""
    import subprocess

    from gcl.results import checkout_revision

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git")
    files = ["gcl/results.py", "results/grace/a.json", "benchmarks/results/b.json",
             "benchmarks/b.py", "docs/reproduction.md", "Makefile", "pyproject.toml"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("v1\n")
    (tmp_path / "pyproject.toml").write_text(  # the checkout names its output folders
        '[tool.gcl]\noutput-paths = ["results", "benchmarks/results", "docs"]\n')
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "--short=10", "HEAD")
    assert checkout_revision(tmp_path) == head
    for f in ["results/grace/a.json", "benchmarks/results/b.json", "docs/reproduction.md"]:
        (tmp_path / f).write_text("v2\n")
    (tmp_path / "results" / "new.json").write_text("{}")  # untracked: never counted
    assert checkout_revision(tmp_path) == head
    for f in ["gcl/results.py", "benchmarks/b.py", "Makefile"]:
        (tmp_path / f).write_text("v2\n")
        assert checkout_revision(tmp_path) == head + "+dirty", f
        git("checkout", "-q", "--", f)
    assert checkout_revision(tmp_path / "gcl") is None  # not the top of the checkout
    (tmp_path / "pyproject.toml").write_text("[tool.other]\n")  # no output folders named:
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    head = git("rev-parse", "--short=10", "HEAD")
    (tmp_path / "docs/reproduction.md").write_text("v3\n")  # every tracked change counts
    assert checkout_revision(tmp_path) == head + "+dirty"


def test_source_revision_without_git_is_none(monkeypatch):
    import subprocess

    from gcl import results

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert results.source_revision() is None


def test_module_command_line_writes_the_asked_page_and_refuses_unknown_options(tmp_path, capsys):
    from gcl import reporting

    write_json(_record("GRACE", "cora", 0.80, "2026-01-01T00:00:00"), tmp_path / "a.json")
    page = reporting.main(["--results-dir", str(tmp_path), "--out", str(tmp_path / "p.md")])
    assert page == tmp_path / "p.md"
    assert page.read_text() == render_reproduction(collect_results(tmp_path), [])
    assert capsys.readouterr().out.strip() == str(page)
    with pytest.raises(SystemExit):  # the repository's benchmark page: benchmarks/report.py
        reporting.main(["--benchmarks", "--out", str(tmp_path / "b.md")])
    assert not (tmp_path / "b.md").exists()
    for argv, code in ((["--help"], 0), (["--bogus"], 2)):
        with pytest.raises(SystemExit) as err:
            reporting.main(["--out", str(tmp_path / "never.md"), *argv])
        assert err.value.code == code
    assert not (tmp_path / "never.md").exists()  # --help and bad options write nothing

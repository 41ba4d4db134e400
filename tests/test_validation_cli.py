"""Bad input to every ``gcl`` subcommand: one line on stderr, status 2, never a traceback.

``CASES`` lists each command line (built in a temporary folder) with a fragment of the one
line it must print. Outputs are checked for writability before anything is trained, so none of
these cases trains a model.
"""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gcl._files import format_bytes
from gcl.cli import main
from gcl.results import make_record, merge_records, read_result, write_json


def record(tmp, name="r.json", drop=(), runs=None, **changes):
    """A small two-seed record (no training) with ``changes`` applied, written to ``tmp``."""
    runs = runs if runs is not None else [
        {"seed": s, "metrics": {"accuracy": 0.7 + s / 10}, "train_s": 1.0, "loss": [2.0, 1.5]}
        for s in (0, 1)]
    rec = make_record(method="grace", dataset="cora", config={"lr": 0.01}, seeds=[0, 1],
                      metrics={"accuracy": {"mean": 0.75, "std": 0.05, "values": [0.7, 0.8]}},
                      timing={"train_s": 1.0, "epoch_s_median": 0.1, "peak_mem_mb": 10.0},
                      device="cpu", runs=runs, command="gcl train")
    rec.update(changes)
    for key in drop:
        del rec[key]
    return str(write_json(rec, tmp / name))


def second(tmp):
    """A record of the same run with seeds 2 and 3: it merges with ``record``'s."""
    return record(tmp, "b.json", seeds=[2, 3], runs=[
        {"seed": s, "metrics": {"accuracy": 0.6}, "train_s": 1.0, "loss": [2.0]} for s in (2, 3)])


def metric_run(value):
    return [{"seed": 0, "metrics": {"accuracy": value}, "train_s": 1.0},
            {"seed": 1, "metrics": {"accuracy": 0.8}, "train_s": 1.0}]


def _file(tmp, name, data):
    path = tmp / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return str(path)


def _tensor_file(tmp, name, obj):
    torch.save(obj, tmp / name)
    return str(tmp / name)


def _bomb():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


TRAIN = ["train", "--method", "grace", "--dataset", "synthetic", "--device", "cpu"]
UNWRITABLE = "/proc/gcl-no-such-folder/out"  # nothing can be created under /proc, even as root

# (id, argv builder taking the temporary folder, fragment of the one error line)
CASES = [
    ("--config a folder", lambda t: [*TRAIN, "--config", str(t)], "is a folder; give a YAML"),
    ("--config a binary file", lambda t: [*TRAIN, "--config", _file(t, "c.yaml", b"\x00\xff")],
     "is not a text file (YAML)"),
    ("--config a YAML alias bomb", lambda t: [*TRAIN, "--config", _file(t, "c.yaml", _bomb())],
     "expands to more than 100000 values"),
    ("--set a YAML alias bomb", lambda t: [*TRAIN, "--set", "x={" + _bomb().replace(
        "\n", ", ").rstrip(", ") + "}"], "expands to more than 100000 values"),
    ("--set normalize_features=maybe", lambda t: [*TRAIN, "--set", "normalize_features=maybe"],
     "config key 'normalize_features' in the command-line overrides must be true or false"),
    ("--out an existing folder", lambda t: [*TRAIN, "--out", str(t)],
     "--out {t} is a folder; give a file path"),
    ("--out a read-only place", lambda t: [*TRAIN, "--out", UNWRITABLE + ".json"],
     "cannot be written: /proc is not writable"),
    ("--out below a file", lambda t: [*TRAIN, "--out", _file(t, "f", "x") + "/r.json"],
     "cannot be written: {t}/f is a file, not a folder"),
    ("--save-emb an existing folder", lambda t: [*TRAIN, "--out", str(t / "r.json"),
                                                 "--save-emb", str(t)],
     "--save-emb {t} is a folder"),
    ("--save-emb a read-only place", lambda t: [*TRAIN, "--out", str(t / "r.json"),
                                                "--save-emb", UNWRITABLE + ".pt"],
     "--save-emb /proc/gcl-no-such-folder/out.pt cannot be written"),
    ("--plot a file", lambda t: [*TRAIN, "--out", str(t / "r.json"), "--plot", _file(t, "f", "")],
     "--plot {t}/f is a file; give a folder"),
    ("--device meta", lambda t: [*TRAIN, "--device", "meta", "--out", str(t / "r.json")],
     "device 'meta' is not supported"),
    ("--runs huge", lambda t: [*TRAIN, "--runs", str(10**12)],
     "argument --runs: must be an integer in [1, 10000], got '1000000000000'"),
    ("--seed beyond 2**63", lambda t: [*TRAIN, "--seed", str(2**63)],
     "argument --seed: must be an integer in [0, 9223372036854775807]"),
    ("--seed + --runs beyond 2**63", lambda t: [*TRAIN, "--seed", str(2**63 - 1), "--runs", "2",
                                                "--out", str(t / "r.json")],
     "goes past the largest seed"),
    ("--kappa nan", lambda t: [*TRAIN, "--pot", "--kappa", "nan"],
     "argument --kappa: must be a number in [0, 1], got 'nan'"),
    ("--epochs not a number", lambda t: [*TRAIN, "--epochs", "ten"],
     "argument --epochs: expected an integer, got 'ten'"),
    ("unknown dataset", lambda t: [*TRAIN[:4], "coraa", "--out", str(t / "r.json")],
     "unknown dataset 'coraa'"),
    ("unknown subcommand", lambda t: ["trian"], "argument COMMAND: invalid choice: 'trian'"),
    ("reproduce --results-dir a file", lambda t: [
        "reproduce", "--method", "grace", "--dataset", "synthetic",
        "--results-dir", _file(t, "f", ""), "--docs", str(t / "p.md")],
     "--results-dir {t}/f is a file; give a folder"),
    ("reproduce --docs a folder", lambda t: [
        "reproduce", "--method", "grace", "--dataset", "synthetic",
        "--results-dir", str(t / "res"), "--docs", str(t)], "--docs {t} is a folder"),
    ("demo --out a folder", lambda t: ["demo", "--out", str(t)], "--out {t} is a folder"),
    ("plot a folder", lambda t: ["plot", str(t)], "{t} is a folder, not a gcl result record"),
    ("plot a missing file", lambda t: ["plot", str(t / "nope.json")],
     "gcl result record {t}/nope.json not found"),
    ("plot deeply nested JSON", lambda t: ["plot", _file(t, "d.json", "[" * 200_000)],
     "nests more deeply than Python can read"),
    ("plot a binary file", lambda t: ["plot", _file(t, "b.json", b"\xff\xfe\x00")],
     "is not a gcl result record: it is not UTF-8 text"),
    ("plot non-numeric losses", lambda t: ["plot", record(t, runs=[
        {"seed": 0, "metrics": {}, "loss": [2.0, "abc"]}])],
     "runs[0] (seed 0).loss must be a list of numbers, got 'abc'"),
    ("plot --tsne-points -5", lambda t: ["plot", record(t), "--tsne-points", "-5"],
     "argument --tsne-points: must be an integer in [3, 10000000], got '-5'"),
    ("plot --out a file", lambda t: ["plot", record(t), "--out", _file(t, "f", "")],
     "--out {t}/f is a file; give a folder"),
    ("plot --emb not tensors", lambda t: ["plot", record(t), "--out", str(t / "png"), "--emb",
                                          _tensor_file(t, "e.pt", {"embeddings": [1, 2]})],
     "{t}/e.pt: 'embeddings' must be a [N, d] float tensor, got list"),
    ("plot --emb a list", lambda t: ["plot", record(t), "--out", str(t / "png"), "--emb",
                                     _tensor_file(t, "e.pt", [torch.ones(2)])],
     "{t}/e.pt holds a list, not the mapping gcl train --save-emb writes"),
    *[(f"merge a record without {key!r}", lambda t, key=key: [
        "merge", record(t, "a.json", drop=(key,)), second(t), "--out",
        str(t / "m.json")], f"'{key}' is missing") for key in
      ("seeds", "runs", "timing", "metrics", "dataset")],
    ("merge a NaN metric", lambda t: ["merge", record(t, "a.json", runs=metric_run(math.nan)),
                                      second(t), "--out", str(t / "m.json")],
     "runs[0] (seed 0).metrics['accuracy'] must be a finite number, got nan"),
    ("merge a string metric", lambda t: ["merge", record(t, "a.json", runs=metric_run("high")),
                                         second(t), "--out", str(t / "m.json")],
     "must be a finite number, got 'high'"),
    ("merge --out a folder", lambda t: ["merge", record(t, "a.json"), second(t),
                                        "--out", str(t)], "--out {t} is a folder"),
    ("merge --out read-only", lambda t: ["merge", record(t, "a.json"), second(t),
                                         "--out", UNWRITABLE + ".json"], "is not writable"),
    ("compare other datasets", lambda t: ["compare", record(t, "a.json"),
                                          record(t, "b.json", dataset="citeseer")],
     "cannot compare records of different datasets ('cora' vs 'citeseer')"),
    ("compare other methods", lambda t: ["compare", record(t, "a.json"),
                                         record(t, "b.json", method="gca")],
     "cannot compare records of different methods ('grace' vs 'gca')"),
    ("compare an infinite metric", lambda t: ["compare", record(t, "a.json"), record(
        t, "b.json", runs=metric_run(math.inf))], "must be a finite number, got inf"),
    ("compare --metrics unknown", lambda t: ["compare", record(t, "a.json"), record(t, "b.json"),
                                             "--metrics", "nope"],
     "metric(s) ['nope'] are not in every paired run of both records; choose from ['accuracy']"),
    ("compare a record without 'metrics'", lambda t: ["compare", record(t, "a.json"), record(
        t, "b.json", drop=("metrics",))], "'metrics' is missing"),
]


@pytest.mark.parametrize("build,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_ends_in_one_line_and_status_2(tmp_path, monkeypatch, capsys, build,
                                                        fragment):
    monkeypatch.chdir(tmp_path)
    argv = build(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment.format(t=tmp_path) in lines[0]
    assert len(lines[0]) < 700
    assert not (tmp_path / "runs").exists()  # nothing was trained or written


def test_a_full_disk_is_one_line_naming_the_folder_and_status_1(tmp_path, monkeypatch, capsys):
    import errno

    import gcl._files as files

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    a, b = record(tmp_path, "a.json"), record(tmp_path, "b.json", runs=[
        {"seed": s, "metrics": {"accuracy": 0.5}, "train_s": 1.0} for s in (2, 3)],
        seeds=[2, 3])
    monkeypatch.setattr(Path, "write_bytes", no_space)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(free=1234))
    assert main(["merge", a, b, "--out", str(tmp_path / "out" / "m.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    size = len(json.dumps(merge_records([read_result(a), read_result(b)]), indent=2)) + 1
    assert (f"no space left on the disk of {tmp_path / 'out'} (1.2 KiB free; about "
            f"{format_bytes(size)} more are needed)") in err[0]
    assert not list((tmp_path / "out").iterdir())  # the temporary file is gone

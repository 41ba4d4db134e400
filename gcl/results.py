"""Result records: the JSON file every CLI run, example and benchmark writes.

Schema (``format: gcl-result/1``)::

    {"format", "method", "dataset", "config", "seeds",
     "metrics": {name: {"mean", "std", "values"}},
     "timing": {"train_s", "epoch_s_median", "peak_mem_mb"},
     "device", "versions", "command", "created", "runs": [...per-run details...]}

Docs tables and benchmark pages are generated from these files, never typed by hand.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from ._utils import atomic_target

__all__ = ["RESULT_FORMAT", "device_description", "source_revision", "versions", "write_json",
           "read_result", "make_record", "merge_records", "compare_records"]

RESULT_FORMAT = "gcl-result/1"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device | str) -> str:
    """A human-readable description of the device a figure was measured on.

    Args:
        device: a torch device or its name.

    Returns:
        str: ``"cpu: <model> (<cores> cores, <threads> torch threads)"`` or
        ``"cuda: <GPU name>"``.

    Example:
        >>> device_description("cpu").startswith("cpu")
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda: {torch.cuda.get_device_name(index)}"
    return f"cpu: {_cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


#: Folders the tools write into (result records, benchmark files, the generated pages): changes
#: there do not make a checkout's code differ from its commit.
OUTPUT_PATHS = ("results", "benchmarks/results", "docs")


def source_revision() -> str | None:
    """The git commit of the checkout gcl runs from, ``"<short sha>"``, or ``"<short sha>+dirty"``
    when tracked files outside :data:`OUTPUT_PATHS` differ from it; ``None`` outside a git
    checkout (an installed package) or without git. Result records keep it as
    ``versions["gcl_commit"]``, looked up once per process (at its first record). Records and
    pages written by earlier runs (``make bench`` writes one file per script, ``gcl reproduce``
    a record and the page) leave the code unchanged, so they do not count as changes.

    Returns:
        str | None: the short commit id, with ``+dirty`` when the checkout's code has changes.

    Example:
        >>> rev = source_revision()
        >>> rev is None or len(rev.split("+")[0]) >= 7
        True
    """
    return checkout_revision(Path(__file__).resolve().parents[1])


def checkout_revision(root: str | os.PathLike) -> str | None:
    """:func:`source_revision` of the git checkout whose top folder is ``root`` (``None`` when
    ``root`` is not the top of a git checkout, or without git).

    Args:
        root: the checkout's top folder.

    Returns:
        str | None: the short commit id, with ``+dirty`` when tracked files outside
        :data:`OUTPUT_PATHS` differ from it.
    """
    import subprocess

    root = Path(root).resolve()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None  # gcl installed inside some other repository's tree
        sha = git("rev-parse", "--short=10", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                    *(f":(top,exclude){p}" for p in OUTPUT_PATHS))
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


_revision = functools.cache(source_revision)  # once per process


def versions() -> dict[str, str]:
    """Versions of Python, torch, torch_geometric, gcl and the optional packages in use, and the
    git commit of gcl's source when it runs from a checkout (``gcl_commit``, see
    :func:`source_revision`).

    Returns:
        dict[str, str]: package name -> version (the optional ones only when imported).

    Example:
        >>> "torch" in versions()
        True
    """
    import torch_geometric

    from . import __version__

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gcl": __version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
    }
    revision = _revision()
    if revision:
        out["gcl_commit"] = revision
    if torch.version.cuda:
        out["cuda"] = torch.version.cuda
    for name in ("numpy", "scipy", "sklearn", "ogb", "igraph", "torch_scatter"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            out[name] = str(module.__version__)
    return out


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file, then rename).

    Args:
        obj: a JSON-serialisable object (tensors and paths are converted).
        path: the file to write (folders are created).

    Returns:
        Path: the written file.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_json({"a": 1}, pathlib.Path(tempfile.mkdtemp()) / "r.json")
        >>> p.read_text().strip().startswith("{")
        True
    """
    path = Path(path)
    with atomic_target(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=_json_default)
        fh.write("\n")
    return path


def _json_default(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def read_result(path: str | os.PathLike) -> dict:
    """Read a result record, checking its format.

    Args:
        path: a JSON file written by ``gcl train`` or ``gcl reproduce``.

    Returns:
        dict: the record.

    Raises:
        ValueError: when the file is not a gcl result record.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> _ = write_json({"format": RESULT_FORMAT, "method": "grace"}, p)
        >>> read_result(p)["method"]
        'grace'
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
        raise ValueError(f"{path} is not a gcl result record ({RESULT_FORMAT})")
    return record


def _command_line() -> str:
    """The running command as a user would type it (``gcl ...`` for ``python -m gcl ...``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "gcl":
        argv[0] = "gcl"
    elif argv and Path(argv[0]).name == "gcl":
        argv[0] = "gcl"
    return shlex.join(argv)


def make_record(*, method: str, dataset: str, config: dict, seeds: list[int],
                metrics: dict, timing: dict, device: torch.device | str,
                runs: list[dict] | None = None, command: str | None = None,
                extra: dict | None = None) -> dict:
    """Assemble a result record (see the module docstring for the schema).

    Args:
        method: the method name.
        dataset: the dataset name.
        config: the full run configuration.
        seeds: the seed of every run.
        metrics: metric name -> ``{"mean", "std", "values"}`` over runs.
        timing: ``{"train_s", "epoch_s_median", "peak_mem_mb"}``.
        device: the device the runs used (described with :func:`device_description`).
        runs: per-run details (seed, scores, loss history, ...) (default: none).
        command: the command line (default: ``sys.argv`` joined).
        extra: more top-level fields (default: none).

    Returns:
        dict: the record, with ``format``, ``versions`` and ``created`` filled in.

    Example:
        >>> r = make_record(method="grace", dataset="cora", config={}, seeds=[0], metrics={},
        ...                 timing={}, device="cpu", command="gcl train")
        >>> r["format"], r["device"].startswith("cpu")
        ('gcl-result/1', True)
    """
    record = {
        "format": RESULT_FORMAT,
        "method": method,
        "dataset": dataset,
        "config": config,
        "seeds": list(seeds),
        "metrics": metrics,
        "timing": timing,
        "device": device_description(device),
        "versions": versions(),
        "command": command if command is not None else _command_line(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "runs": runs or [],
    }
    if extra:
        record.update(extra)
    return record


#: top-level fields that must agree for records to be merged
_MERGE_KEYS = ("method", "dataset", "config", "device", "label", "protocol", "config_file")


def _seed_options(command: str, seeds: list[int]) -> str:
    """``command`` with its ``--seeds``/``--seed``/``--runs`` options replaced by the merged
    range (only called for a contiguous range)."""
    import re

    stripped = re.sub(r"\s--(seeds|seed|runs)(=|\s+)\S+", "", command)
    key = "--runs" if " train " in f" {stripped} " else "--seeds"
    return stripped + f" {key} {len(seeds)}" + (f" --seed {seeds[0]}" if seeds[0] else "")


def merge_records(records: list[dict], fill: dict | None = None) -> dict:
    """One record from several records of the same run configuration with different seeds.

    Seeds run as separate processes (or on separate machines) become the record one command
    with all the seeds would have written: the runs are concatenated in seed order and every
    metric is summarised again over all runs. The records must agree on method, dataset, the
    full configuration, device, label, protocol and configuration file, and their seeds must
    not overlap. Timing: ``train_s`` is the mean over all runs, ``peak_mem_mb`` the maximum,
    ``epoch_s_median`` the median of the records' medians (per-epoch times are not kept).
    ``merged_from`` lists the source records' commands and creation times; ``command`` is the
    single equivalent command when the seeds form a contiguous range (each run seeds itself,
    so the runs do not depend on which process ran them).

    A configuration key added to the code after some of the records were written is missing
    from those records only. ``fill`` gives such keys the value the older code used (its
    behaviour before the key existed): a record without the key takes that value, a record that
    has the key must already hold it. The merged record's ``merged_from`` says which keys were
    filled in which record.

    Args:
        records: result records (dicts as :func:`read_result` returns).
        fill: ``{key: value}`` for configuration keys the older records lack (default: none).

    Returns:
        dict: the merged record (``created`` and ``versions`` are the newest record's).

    Raises:
        ValueError: when fewer than two records are given, they disagree on a field above,
            a seed appears twice, or a record has no per-run details.

    Example:
        >>> base = dict(method="grace", dataset="cora", config={"lr": 0.01}, timing={
        ...     "train_s": 1.0, "epoch_s_median": 0.1, "peak_mem_mb": 50.0}, device="cpu")
        >>> a = make_record(seeds=[0], command="gcl reproduce --method grace --seeds 1",
        ...     metrics={"accuracy": {"mean": 0.8, "std": 0.0, "values": [0.8]}},
        ...     runs=[{"seed": 0, "metrics": {"accuracy": 0.8}, "train_s": 1.0}], **base)
        >>> b = make_record(seeds=[1], command="gcl reproduce --method grace --seeds 1 --seed 1",
        ...     metrics={"accuracy": {"mean": 0.6, "std": 0.0, "values": [0.6]}},
        ...     runs=[{"seed": 1, "metrics": {"accuracy": 0.6}, "train_s": 3.0}], **base)
        >>> m = merge_records([b, a])
        >>> m["seeds"], round(m["metrics"]["accuracy"]["mean"], 4), m["timing"]["train_s"]
        ([0, 1], 0.7, 2.0)
        >>> m["command"]
        'gcl reproduce --method grace --seeds 2'
    """
    from .evaluation import summarize

    records = list(records)
    if len(records) < 2:
        raise ValueError(f"merge_records needs at least two records, got {len(records)}")
    filled = [{} for _ in records]
    if fill:
        records = [dict(r) for r in records]
        for r, done in zip(records, filled):
            config = dict(r.get("config") or {})
            for key, value in fill.items():
                if key not in config:
                    config[key] = done[key] = value
            r["config"] = config
    first = records[0]
    for key in _MERGE_KEYS:
        values = [json.dumps(r.get(key), sort_keys=True, default=str) for r in records]
        if len(set(values)) > 1:
            raise ValueError(f"cannot merge records that differ in {key!r}: "
                             + ", ".join(sorted(set(values))[:3]))
    for r in records:
        if not r.get("runs"):
            raise ValueError(f"cannot merge a record without per-run details "
                             f"(seeds {r.get('seeds')}, created {r.get('created')})")
    runs = sorted((run for r in records for run in r["runs"]), key=lambda run: run["seed"])
    seeds = [run["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ValueError(f"cannot merge records whose seeds overlap: {dup} appear twice")
    names = [k for k, v in runs[0]["metrics"].items() if isinstance(v, float)]
    missing = [k for k in names if any(k not in run["metrics"] for run in runs)]
    if missing:
        raise ValueError(f"cannot merge: metrics {missing} are missing from some runs")
    metrics = {k: summarize([run["metrics"][k] for run in runs]) for k in names}
    medians = [r["timing"].get("epoch_s_median") for r in records
               if r.get("timing", {}).get("epoch_s_median") is not None]
    peaks = [r["timing"].get("peak_mem_mb") for r in records
             if r.get("timing", {}).get("peak_mem_mb") is not None]
    timing = {
        "train_s": statistics.fmean(run["train_s"] for run in runs),
        "epoch_s_median": statistics.median(medians) if medians else None,
        "peak_mem_mb": max(peaks) if peaks else None,
    }
    newest = max(records, key=lambda r: r.get("created", ""))
    merged = dict(newest)
    contiguous = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    command = first.get("command", "")
    merged.update(
        config=first["config"], seeds=seeds, metrics=metrics, timing=timing, runs=runs,
        command=_seed_options(command, seeds) if contiguous and command else command,
        merged_from=[{"command": r.get("command"), "created": r.get("created"),
                      "seeds": r.get("seeds"), **({"filled": done} if done else {})}
                     for r, done in sorted(zip(records, filled), key=lambda rd: rd[0]["seeds"])],
    )
    return merged


def compare_records(base: dict, other: dict, metrics: list[str] | None = None) -> dict:
    """Paired per-seed comparison of two records (e.g. a method without and with POT).

    Runs with the same seed share their initialisation and augmentations' random state up to
    where the two configurations differ, so the per-seed differences ``other - base`` are
    compared with their own spread rather than with the two records' separate spreads.

    Args:
        base: the reference record.
        other: the record compared with it.
        metrics: metric names (default: the base record's metrics that both records have).

    Returns:
        dict: ``{"seeds": [...], "metrics": {name: {"base", "other", "diffs", "mean", "std",
        "t"}}}`` with ``std`` the sample standard deviation of the differences and ``t`` the
        paired t statistic ``mean / (std / sqrt(n))`` (``None`` for one seed or zero spread).

    Raises:
        ValueError: if the records share no seed or lack per-run details.

    Example:
        >>> a = make_record(method="grace", dataset="cora", config={}, seeds=[0, 1],
        ...                 metrics={}, timing={}, device="cpu", command="gcl",
        ...                 runs=[{"seed": 0, "metrics": {"acc": 0.80}},
        ...                       {"seed": 1, "metrics": {"acc": 0.82}}])
        >>> b = dict(a, runs=[{"seed": 0, "metrics": {"acc": 0.83}},
        ...                   {"seed": 1, "metrics": {"acc": 0.84}}])
        >>> c = compare_records(a, b)
        >>> c["seeds"], [round(d, 4) for d in c["metrics"]["acc"]["diffs"]]
        ([0, 1], [0.03, 0.02])
    """
    from .evaluation import summarize

    runs = []
    for r in (base, other):
        if not r.get("runs"):
            raise ValueError("compare_records needs records with per-run details ('runs')")
        runs.append({run["seed"]: run["metrics"] for run in r["runs"]})
    seeds = sorted(set(runs[0]) & set(runs[1]))
    if not seeds:
        raise ValueError(f"the records share no seed ({sorted(runs[0])} vs {sorted(runs[1])})")
    if metrics is None:
        first = runs[0][seeds[0]]
        metrics = [k for k, v in first.items() if isinstance(v, (int, float))
                   and all(k in runs[i][s] for i in (0, 1) for s in seeds)]
    out = {}
    for name in metrics:
        a = [float(runs[0][s][name]) for s in seeds]
        b = [float(runs[1][s][name]) for s in seeds]
        diffs = [y - x for x, y in zip(a, b)]
        mean = statistics.fmean(diffs)
        std = statistics.stdev(diffs) if len(diffs) > 1 else None
        t = mean / (std / len(diffs) ** 0.5) if std else None
        out[name] = {"base": summarize(a), "other": summarize(b), "diffs": diffs,
                     "mean": mean, "std": std, "t": t}
    return {"seeds": seeds, "metrics": out}

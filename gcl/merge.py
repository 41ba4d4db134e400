"""Merging result records of one configuration, and comparing two records seed by seed.

Both check their inputs with :func:`gcl.recordcheck.check_record` first, so a record with a
missing field, a NaN or a string metric is refused with its name instead of being dropped or
summarised into nonsense. Merging is linear in the number of runs.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter

from .recordcheck import check_record
from .training.history import mean_cpu_share

__all__ = ["merge_records", "compare_records"]


#: top-level fields that must agree for records to be merged
_MERGE_KEYS = ("method", "dataset", "config", "device", "label", "protocol", "config_file")


def config_difference(configs: list[dict]) -> str:
    """The message for records whose configurations differ: each differing key with its value
    per record ("missing" where a record lacks it), and the ``--fill`` that would give an older
    record a key it lacks.

    Example:
        >>> msg = config_difference([{"lr": 0.1, "tau": 1}, {"lr": 0.1, "tau": 2, "init": "x"}])
        >>> msg.split(": ", 1)[1].split("; a key")[0]
        "init: missing | 'x'; tau: 1 | 2"
        >>> "--fill KEY=VALUE" in msg
        True
    """
    missing = object()
    keys = sorted({k for c in configs for k in c})
    parts, lacking = [], False
    for k in keys:
        values = [c.get(k, missing) for c in configs]
        shown = [json.dumps(v, sort_keys=True, default=str) for v in values if v is not missing]
        if len(set(shown)) > 1 or len(shown) < len(values):
            lacking = lacking or len(shown) < len(values)
            parts.append(f"{k}: " + " | ".join("missing" if v is missing else repr(v)
                                               for v in values))
    msg = "cannot merge records that differ in 'config': " + "; ".join(parts)
    if lacking:
        msg += ("; a key that older records lack can be given the value their code used with "
                "--fill KEY=VALUE (gcl merge) / fill={KEY: VALUE}")
    return msg


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
    not overlap. Timing: ``train_s`` (and ``cpu_share``, when every run has it) is the mean
    over all runs, ``peak_mem_mb`` the maximum, ``epoch_s_median`` the median of the records'
    medians (per-epoch times are not kept).
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
        >>> from gcl.results import make_record
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
    for i, r in enumerate(records):
        check_record(r, f"record {i + 1} of {len(records)}")
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
            if key == "config":
                raise ValueError(config_difference([r.get("config") or {} for r in records]))
            raise ValueError(f"cannot merge records that differ in {key!r}: "
                             + ", ".join(sorted(set(values))[:3]))
    for r in records:
        if not r["runs"] or any("train_s" not in run for run in r["runs"]):
            raise ValueError(f"cannot merge a record without per-run details (runs with their "
                             f"train_s; seeds {r.get('seeds')}, created {r.get('created')})")
    runs = sorted((run for r in records for run in r["runs"]), key=lambda run: run["seed"])
    seeds = [run["seed"] for run in runs]
    counts = Counter(seeds)
    if len(counts) != len(seeds):
        dup = sorted(s for s, c in counts.items() if c > 1)
        raise ValueError(f"cannot merge records whose seeds overlap: {dup[:10]} appear twice"
                         + (f" (and {len(dup) - 10} more)" if len(dup) > 10 else ""))
    names = list(runs[0]["metrics"])
    for run in runs:
        missing = [k for k in names if k not in run["metrics"]]
        extra = [k for k in run["metrics"] if k not in runs[0]["metrics"]]
        if missing or extra:
            raise ValueError(f"cannot merge: the run of seed {run['seed']} lacks metrics "
                             f"{missing} or has others {extra} than the run of seed "
                             f"{runs[0]['seed']}")
    metrics = {k: summarize([run["metrics"][k] for run in runs]) for k in names}
    medians = [r["timing"].get("epoch_s_median") for r in records
               if r.get("timing", {}).get("epoch_s_median") is not None]
    peaks = [r["timing"].get("peak_mem_mb") for r in records
             if r.get("timing", {}).get("peak_mem_mb") is not None]
    timing = {
        "train_s": statistics.fmean(run["train_s"] for run in runs),
        "epoch_s_median": statistics.median(medians) if medians else None,
        "peak_mem_mb": max(peaks) if peaks else None,
        **mean_cpu_share(runs),
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
        >>> from gcl.results import make_record
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

    check_record(base, "the base record")
    check_record(other, "the other record")
    for key in ("method", "dataset"):
        if base[key] != other[key]:
            raise ValueError(
                f"cannot compare records of different {key}s ({base[key]!r} vs "
                f"{other[key]!r}): a paired per-seed comparison needs runs of one method on one "
                "dataset whose seeds share their initialisation (e.g. a method without and "
                "with POT)")
    runs = []
    for r in (base, other):
        if not r["runs"]:
            raise ValueError("compare_records needs records with per-run details ('runs')")
        runs.append({run["seed"]: run["metrics"] for run in r["runs"]})
    seeds = sorted(set(runs[0]) & set(runs[1]))
    if not seeds:
        raise ValueError(f"the records share no seed ({sorted(runs[0])} vs {sorted(runs[1])})")
    common = [k for k in runs[0][seeds[0]]
              if all(k in runs[i][s] for i in (0, 1) for s in seeds)]
    if metrics is None:
        metrics = common
    unknown = [k for k in metrics if k not in common]
    if unknown:
        raise ValueError(f"metric(s) {unknown} are not in every paired run of both records; "
                         f"choose from {common}")
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

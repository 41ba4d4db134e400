"""What a reproduction would cost on this machine, measured from its first epochs.

A run too long for the machine at hand (BGRL's 10,000 epochs on a CPU) is not run; instead
:func:`estimate_cost` trains the method's shipped configuration for a few epochs, times them and
writes a ``gcl-estimate/1`` record under ``results/estimates/``. The reproduction page lists such
rows, without a result of ours, with their estimated time (:mod:`gcl.reporting`).

    python -m gcl.estimate --method bgrl --dataset amazon-photo --epochs 5 --seeds 3
"""

from __future__ import annotations

import datetime as _dt
import statistics
import sys
from pathlib import Path

from ._utils import check_positive, resolve_device, seed_everything

__all__ = ["ESTIMATE_FORMAT", "estimate_cost", "collect_estimates", "estimate_section", "main"]

#: The tag of cost-estimate records.
ESTIMATE_FORMAT = "gcl-estimate/1"


def estimate_cost(method: str, dataset: str, *, epochs: int = 3, seeds: int = 3,
                  overrides: dict | None = None, device: str = "cpu", data_root=None,
                  label: str | None = None) -> dict:
    """Time ``epochs`` epochs of ``method`` on ``dataset`` (its shipped configuration, seed 0)
    and extrapolate to the configuration's full length and ``seeds`` runs.

    Args:
        method: a registered method name.
        dataset: a dataset name.
        epochs: epochs to time (default: 3); the median is extrapolated.
        seeds: runs of the reproduction (default: 3).
        overrides: configuration keys layered last (default: none).
        device: where to measure (default: ``"cpu"``).
        data_root: the data root (default: ``$GCL_DATA``).
        label: the row label (default: the method's).

    Returns:
        dict: a ``gcl-estimate/1`` record: the measured epoch times, their median, the full
        length (``config["epochs"]``; an upper bound for a method that stops early), the
        estimated time of all runs in seconds, the peak memory, the device and the command.

    Example:
        >>> rec = estimate_cost("grace", "synthetic", epochs=2, seeds=3,
        ...                     overrides={"epochs": 100})
        >>> rec["format"], rec["full_epochs"], len(rec["epoch_s"])
        ('gcl-estimate/1', 100, 2)
        >>> abs(rec["estimated_s"] - rec["epoch_s_median"] * 100 * 3) < 1e-9
        True
    """
    from .methods.base import get_method, load_config
    from .methods.runner import apply_plugins, load_method_data
    from .reporting import record_label
    from .results import _command_line, device_description, versions

    check_positive(epochs, "epochs", "estimate_cost", integer=True)
    check_positive(seeds, "seeds", "estimate_cost", integer=True)
    spec = get_method(method)
    config = load_config(spec.name, dataset, overrides=overrides)
    dev = resolve_device(device)
    seed_everything(0)
    data = load_method_data(dataset, config, root=data_root, seed=0)
    module = spec.build({**config, "device": str(dev), "progress": False, "seed": 0}, data)
    apply_plugins(module, config)
    history = module.fit(data, epochs=int(epochs))
    share = history.meta.get("cpu_share")  # measured by the loop, on the CPU only
    if share is not None and share < BUSY_SHARE:
        print(f"gcl estimate: warning: the timed epochs got {share:.2f} of the CPU their "
              f"{_threads()} thread(s) could use: the machine is busy and the estimate is high; "
              "measure again with other work paused", file=sys.stderr)
    times = [float(e["time_s"]) for e in history.epochs]
    median = statistics.median(times)
    full = int(config["epochs"])
    return {
        "format": ESTIMATE_FORMAT,
        "method": spec.name,
        "dataset": dataset,
        "label": label or record_label({"method": spec.name}),
        "config": config,
        "measured_epochs": int(epochs),
        "epoch_s": times,
        "epoch_s_median": median,
        "full_epochs": full,
        "early_stopping": "patience" in config,
        "seeds": int(seeds),
        "estimated_s": median * full * int(seeds),
        "peak_mem_mb": float(history.meta.get("peak_mem_mb") or 0.0),
        "cpu_share": share,
        "device": device_description(dev),
        "versions": versions(),
        "command": _command_line(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


#: Below this share of the CPU the timed epochs ran on a busy machine (a warning says so).
BUSY_SHARE = 0.8


def _threads() -> int:
    import torch

    return max(int(torch.get_num_threads()), 1)


def collect_estimates(results_dir="results") -> list[dict]:
    """Every ``gcl-estimate/1`` record under ``results_dir`` (recursively), newest per
    (label, dataset).

    Args:
        results_dir: the records folder (default: ``results``).

    Returns:
        list[dict]: the records, each with its path relative to ``results_dir`` under ``_file``.

    Example:
        >>> import tempfile
        >>> collect_estimates(tempfile.mkdtemp())
        []
    """
    from .results import newest_records

    latest = newest_records(results_dir, ESTIMATE_FORMAT, lambda r: (r["label"], r["dataset"]))
    return sorted(latest, key=lambda r: (r["dataset"], r["label"]))


def estimate_section(records: list[dict], estimates: list[dict]) -> list[str]:
    """The reproduction page's section "Runs that need a GPU": the estimates of a (label,
    dataset) without a result record, as a table, and their commands.

    Args:
        records: result records (from :func:`gcl.reporting.collect_results`).
        estimates: cost estimates (from :func:`collect_estimates`).

    Returns:
        list[str]: Markdown lines (none when every estimate has a record).

    Example:
        >>> estimate_section([], [])
        []
    """
    from .callbacks import _duration
    from .reporting import record_label, shown_command
    from .training.history import share_suffix

    done = {(record_label(r), r["dataset"]) for r in records}
    pending = [e for e in estimates if (e["label"], e["dataset"]) not in done]
    if not pending:
        return []
    out = ["## Runs that need a GPU\n",
           "Too long for the machine the records were made on: the first epochs of the shipped "
           "configuration were timed there (`python -m gcl.estimate`) and extrapolated to the "
           "full run and all seeds (for a method that stops early, the epoch budget is an upper "
           "bound). The device column gives the share of the CPU the timing got (about 1 on "
           "an idle machine; lower means a busy one and a high estimate).\n",
           "| method | dataset | epochs × seeds | s/epoch measured | estimated time | "
           "peak MiB | device | record |",
           "|---|---|---|---|---|---|---|---|"]
    for e in pending:
        bound = " (upper bound)" if e.get("early_stopping") else ""
        out.append(f"| {e['label']} | {e['dataset']} | {e['full_epochs']} × {e['seeds']} | "
                   f"{e['epoch_s_median']:.2f} ({e['measured_epochs']} epochs) | "
                   f"{_duration(e['estimated_s'])}{bound} | {e.get('peak_mem_mb', 0):.0f} | "
                   f"{e.get('device', '–')}{share_suffix(e.get('cpu_share'))} | "
                   f"`results/{e['_file']}` |")
    out.append("")
    out.append("Commands:\n")
    for e in pending:
        out.append(f"- {e['label']} on {e['dataset']}: "
                   f"`gcl reproduce --method {e['method']} --dataset {e['dataset']} "
                   f"--seeds {e['seeds']}` (estimate: `{shown_command(e.get('command', ''))}`)")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> Path:
    """``python -m gcl.estimate --method M --dataset D [--epochs K] [--seeds S] [--set k=v]``:
    measure, write ``results/estimates/<label>-<dataset>.json`` and regenerate the reproduction
    page; prints and returns the record's path.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        Path: the written record.

    Example:
        >>> import tempfile, pathlib
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> out = main(["--method", "grace", "--dataset", "synthetic", "--epochs", "1",
        ...             "--results-dir", str(tmp), "--docs", str(tmp / "r.md")])  # doctest: +ELLIPSIS
        /.../grace-synthetic.json
        >>> "Runs that need a GPU" in (tmp / "r.md").read_text()
        True
    """
    import argparse
    import re
    import shlex

    from .methods.base import parse_override
    from .reporting import write_reproduction
    from .results import write_json

    parser = argparse.ArgumentParser(prog="python -m gcl.estimate",
                                     description="Time a method's first epochs on this machine "
                                                 "and record what its reproduction would cost.")
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time")
    parser.add_argument("--seeds", type=int, default=3, help="runs of the reproduction")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one configuration key (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--label", default=None)
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--docs", default="docs/reproduction.md")
    args = parser.parse_args(argv)
    overrides = dict(parse_override(o) for o in args.overrides)
    record = estimate_cost(args.method, args.dataset, epochs=args.epochs, seeds=args.seeds,
                           overrides=overrides or None, device=args.device,
                           data_root=args.data_root, label=args.label)
    given = sys.argv[1:] if argv is None else list(argv)
    record["command"] = "python -m gcl.estimate " + shlex.join(given)
    name = re.sub(r"[^a-z0-9._]+", "-", record["label"].lower()).strip("-")
    out = write_json(record, Path(args.results_dir) / "estimates" / f"{name}-{args.dataset}.json")
    write_reproduction(args.results_dir, args.docs)
    print(out)
    return out


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

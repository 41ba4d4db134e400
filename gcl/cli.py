"""The ``gcl`` command.

Subcommands:
    gcl train     train and evaluate a method on a dataset or your own graph, write a result record
    gcl reproduce run a method's paper protocol, add its record to results/, regenerate the docs
    gcl datasets  list the catalog and what is available at the data root
    gcl methods   list the registered methods
    gcl plot      training curves and a t-SNE of the embeddings from a result record
    gcl demo      GRACE on Cora (the copy shipped with gcl when no data root has it), with a table

Errors in user input (unknown names, missing files, bad values) print one line and exit with
status 2; warnings print one line each; Ctrl-C prints where training stopped and exits with
status 130. Set ``GCL_DEBUG=1`` for the full traceback.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
import warnings
from pathlib import Path

from ._constants import MAX_SEED
from ._files import DiskFullError, check_writable, path_in
from .cli_train import graph_from_args, run_from_args

__all__ = ["main", "build_parser", "format_metrics_table"]

from .cli_args import LINK_PROTOCOL, _UsageError, build_parser  # noqa: F401  (re-exported)


def format_metrics_table(record: dict) -> str:
    """A small text table of a result record's metrics (mean ± std, in percent).

    Args:
        record: a result record.

    Returns:
        str: the table, one metric per line, with the run count, device and timing.

    Example:
        >>> rec = {"method": "grace", "dataset": "cora", "seeds": [0], "device": "cpu",
        ...        "metrics": {"accuracy": {"mean": 0.8, "std": 0.0, "values": [0.8]}},
        ...        "timing": {"train_s": 1.0, "epoch_s_median": None, "peak_mem_mb": 100.0}}
        >>> print(format_metrics_table(rec).splitlines()[2])
        accuracy   80.00 ±  0.00
    """
    from .training.history import share_suffix

    rows = [(name, f"{100 * m['mean']:6.2f} ± {100 * m['std']:5.2f}")
            for name, m in record["metrics"].items()]
    width = max((len(r[0]) for r in rows), default=6)
    head = (f"{record['method']} on {record['dataset']} — {len(record['seeds'])} run(s), "
            f"seeds {record['seeds']}, {record['device']}")
    lines = [head, "-" * len(head)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    t = record["timing"]
    epoch = t.get("epoch_s_median")
    lines.append(f"{'train time':<{width}}  {t['train_s']:.1f} s per run"
                 + (f", median epoch {1000 * epoch:.1f} ms" if epoch else "")
                 + f", peak memory {t['peak_mem_mb']:.0f} MiB"
                 + share_suffix(t.get("cpu_share")))
    return "\n".join(lines)


def _default_out(method: str, dataset: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return path_in("runs", f"{method}-{dataset}-{stamp}.json")


def _names(args, dataset: str) -> tuple[str, str]:
    """The canonical method and dataset names of a command (unknown ones raise ValueError); a
    graph of the user's own keeps its registered name (already checked to be a safe name)."""
    from .data import canonical_name
    from .data.registry import registered_names
    from .methods import get_method

    name = dataset if dataset in registered_names() else canonical_name(dataset)
    return get_method(args.method).name, name


def _check_seeds(args, count: int) -> None:
    if args.seed + count - 1 > MAX_SEED:
        raise ValueError(f"--seed {args.seed} with {count} run(s) goes past the largest seed, "
                         f"2**63 - 1 = {MAX_SEED}; use a smaller --seed")


def _overrides(args) -> dict:
    from .methods import parse_override

    out = dict(parse_override(text) for text in args.overrides)
    if getattr(args, "epochs", None) is not None:
        out["epochs"] = args.epochs
    if getattr(args, "eval_every", 0):
        out["monitor_every"] = args.eval_every
    if getattr(args, "pot", False):
        out["pot"] = True
    if getattr(args, "kappa", None) is not None:
        out["kappa"] = args.kappa
    if getattr(args, "pot_batch", None) is not None:
        out["pot_batch"] = args.pot_batch
    return out


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _join_ranks(args):
    """Under torchrun: join the process group and take this rank's device (``args.device``);
    returns the world, ``None`` in a single process (:func:`gcl.distributed.init_distributed`)."""
    if "LOCAL_RANK" not in os.environ:  # not a torchrun rank: nothing to join, torch not imported
        return None
    from .distributed import init_distributed

    world, args.device = init_distributed(args.device)
    return world


def _leave_ranks() -> None:
    """Leave the process group that a torchrun rank joined (nothing in a single process)."""
    dist = sys.modules.get("torch.distributed")
    if "LOCAL_RANK" in os.environ and dist is not None and dist.is_initialized():
        dist.destroy_process_group()


def _cmd_train(args) -> int:
    from .results import write_json

    log = None if args.quiet else _stderr
    dataset = graph_from_args(args)
    method, dataset = _names(args, dataset)
    _check_seeds(args, args.runs)
    out = check_writable(args.out if args.out else _default_out(method, dataset), "--out")
    if args.nproc > 1 and "LOCAL_RANK" not in os.environ:  # the inputs are checked: start ranks
        from .distributed.launch import launch

        return launch(args.nproc, args.argv)
    world = _join_ranks(args)
    save_emb = args.save_emb
    if args.plot:
        check_writable(args.plot, "--plot", folder=True)
        if not save_emb:
            save_emb = path_in(args.plot, f"{method}-{dataset}-embeddings.pt")
    if save_emb:
        check_writable(save_emb, "--save-emb" if args.save_emb else "--plot")
    record = run_from_args(args, dataset, args.runs, _overrides(args), log,
                           save_embeddings=save_emb)
    if world is not None and not world.is_main:
        return 0  # rank 0 writes the record, the embeddings and the figures
    if "embeddings" in record:
        record["embeddings"] = str(Path(record["embeddings"]).resolve())
    write_json(record, out)
    print(format_metrics_table(record))
    print(f"result record: {out}")
    if save_emb:
        print(f"embeddings: {save_emb}")
    if args.plot:
        from .plotting import plot_record

        for path in plot_record(record, args.plot):
            print(f"figure: {path}")
    return 0


def _cmd_plot(args) -> int:
    from .plotting import plot_record

    if args.out:
        check_writable(args.out, "--out", folder=True)
    for path in plot_record(args.result, args.out, embeddings=args.emb, seed=args.seed,
                            max_points=args.tsne_points):
        print(f"figure: {path}")
    return 0


def _cmd_reproduce(args) -> int:
    from .reporting import write_reproduction
    from .results import write_json

    overrides = _overrides(args)
    method, dataset = _names(args, args.dataset)
    _check_seeds(args, args.seeds)
    check_writable(args.results_dir, "--results-dir", folder=True)
    check_writable(args.docs, "--docs")
    if args.label is None and overrides.get("pot"):
        args.label = f"{method.upper()}+POT"
    world = _join_ranks(args)
    record = run_from_args(args, args.dataset, args.seeds, overrides, _stderr)
    if world is not None and not world.is_main:
        return 0  # rank 0 writes the record and the page
    if args.config:
        record["config_file"] = args.config
    if args.label:
        record["label"] = args.label
    if args.protocol:
        record["protocol"] = args.protocol
    elif record.get("config", {}).get("task") == "link":
        record["protocol"] = LINK_PROTOCOL
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^a-z0-9._]+", "-", (args.label or record["method"]).lower()).strip("-")
    out = path_in(args.results_dir, record["method"], f"{name}-{dataset}-{stamp}.json")
    write_json(record, out)
    page = write_reproduction(args.results_dir, args.docs)
    print(format_metrics_table(record))
    print(f"result record: {out}\nregenerated: {page}")
    return 0


def _cmd_compare(args) -> int:
    from .reporting import record_label
    from .results import compare_records, read_result

    base, other = read_result(args.base), read_result(args.other)
    result = compare_records(base, other, args.metrics)
    print(f"{record_label(other)} - {record_label(base)} on {base.get('dataset')}, "
          f"paired over seeds {result['seeds']} (percentage points)")
    print(f"{'metric':12s} {'base':>14s} {'other':>14s} {'mean diff':>9s} {'std':>6s} "
          f"{'t':>6s}  per seed")
    def pm(s):
        return f"{100 * s['mean']:6.2f} ± {100 * s['std']:5.2f}"

    for name, m in result["metrics"].items():
        std = "–" if m["std"] is None else f"{100 * m['std']:.2f}"
        t = "–" if m["t"] is None else f"{m['t']:.2f}"
        diffs = " ".join(f"{100 * d:+.1f}" for d in m["diffs"])
        print(f"{name:12s} {pm(m['base']):>14s} {pm(m['other']):>14s} {100 * m['mean']:+9.2f} "
              f"{std:>6s} {t:>6s}  {diffs}")
    return 0


def _cmd_merge(args) -> int:
    from .methods import parse_override
    from .results import merge_records, read_result, write_json

    fill = dict(parse_override(text) for text in args.fill)
    check_writable(args.out, "--out")
    if args.docs:
        check_writable(args.docs, "--docs")
    merged = merge_records([read_result(path) for path in args.records], fill=fill)
    if args.label:
        merged["label"] = args.label
    if args.note:
        merged["note"] = args.note
    out = write_json(merged, args.out)
    print(format_metrics_table(merged))
    print(f"merged {len(args.records)} records: {out}")
    if args.docs:
        from .reporting import write_reproduction

        print(f"regenerated: {write_reproduction(args.results_dir, args.docs)}")
    return 0


def _cmd_datasets(args) -> int:
    from .data import dataset_status, resolve_root

    root = resolve_root(args.data_root)
    rows = dataset_status(root)
    print(f"data root: {root}")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "available" if r["available"] else "missing"
        if r["source"] == "embedded":
            state += " (the copy shipped with gcl)"
        line = f"  {r['name']:<{width}}  {state}"
        if not r["available"] and r.get("missing"):
            missing = r["missing"]
            shown = ", ".join(str(m) for m in missing[:2])
            more = f" (+{len(missing) - 2} more)" if len(missing) > 2 else ""
            line += f"  — missing {shown}{more}"
        print(line)
    return 0


def _cmd_methods(_args) -> int:
    from .manifest import shipped_methods

    for name, about in shipped_methods().items():
        print(f"{name:<13} {about['description']}")
        print(f"{'':<13} trains on {about['graph']} graphs; configured for: "
              f"{', '.join(about['datasets']) or 'no catalog dataset'}")
    return 0


def _cmd_demo(args) -> int:
    from .data import dataset_status
    from .methods import run
    from .results import write_json

    if args.out:
        check_writable(args.out, "--out")
    row = next(r for r in dataset_status(args.data_root) if r["name"] == "cora")
    where = ("the copy shipped with gcl" if row["source"] == "embedded" else row["location"]) \
        if row["available"] else "not found"
    _stderr(f"gcl demo: GRACE on Cora ({where}), seeds {list(range(args.runs))}")
    record = run("grace", "cora", runs=args.runs, device=args.device, data_root=args.data_root,
                 log=_stderr)
    out = Path(args.out) if args.out else _default_out("grace", "cora")
    write_json(record, out)
    print(format_metrics_table(record))
    print(f"result record: {out}")
    return 0


def _one_line_warning(command: str):
    """Warnings as one line each, ``gcl COMMAND: warning: ...`` (not Python's two lines with a
    source path); ``GCL_DEBUG=1`` keeps Python's format."""
    if os.environ.get("GCL_DEBUG"):
        return warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"gcl {command}: warning: {text}", file=file or sys.stderr)

    return show


_COMMANDS = {"train": _cmd_train, "reproduce": _cmd_reproduce, "datasets": _cmd_datasets,
             "methods": _cmd_methods, "demo": _cmd_demo, "plot": _cmd_plot, "merge": _cmd_merge,
             "compare": _cmd_compare}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gcl`` command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        int: the exit status (0 on success, 2 for an error in the user's input).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
        ...     code = main(["methods"])
        >>> code, "grace" in printed.getvalue()
        (0, True)
    """
    os.environ.setdefault("OUTDATED_IGNORE", "1")
    parser = build_parser()
    command = "gcl"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        command = f"gcl {args.command}"
        args.argv = list(sys.argv[1:] if argv is None else argv)
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            return _COMMANDS[args.command](args)
    except KeyboardInterrupt as err:
        if os.environ.get("GCL_DEBUG"):
            raise
        if not getattr(err, "reported", False):  # train and reproduce say where they stopped
            _stderr(f"{command}: interrupted")
        return 130
    except (ValueError, OSError, RuntimeError) as err:
        return _report(err, command)
    finally:
        _leave_ranks()


def _report(err: BaseException, command: str) -> int:
    """The one place errors become a message and an exit status: 2 for bad input (a
    ``ValueError`` or an ``OSError`` about the user's files), 1 for a run that could not finish
    (a full disk, a non-finite loss); anything else is a bug and keeps its traceback."""
    from .pipeline import NonFiniteLossError

    if isinstance(err, _UsageError):
        print(f"{command}: error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("GCL_DEBUG") or (isinstance(err, RuntimeError)
                                       and not isinstance(err, NonFiniteLossError)):
        raise err
    if isinstance(err, OSError) and not isinstance(err, DiskFullError) and err.filename:
        text = f"{err.strerror or err}: {err.filename}"
    else:
        text = str(err)
    print(f"{command}: error: {text}", file=sys.stderr)
    return 1 if isinstance(err, (DiskFullError, NonFiniteLossError)) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

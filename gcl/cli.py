"""The ``gcl`` command.

Subcommands:
    gcl train     train and evaluate a method on a dataset, write a result record
    gcl reproduce run a method's paper protocol, add its record to results/, regenerate the docs
    gcl datasets  list the catalog and what is available at the data root
    gcl methods   list the registered methods
    gcl plot      training curves and a t-SNE of the embeddings from a result record
    gcl demo      GRACE on Cora (or the synthetic graph when Cora is missing), with a short table

Errors in user input (unknown names, missing files, bad values) print one line and exit with
status 2; set ``GCL_DEBUG=1`` for the full traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import sys
from pathlib import Path

__all__ = ["main", "build_parser", "format_metrics_table"]

_ROOT_HELP = "dataset root (default: $GCL_DATA, else the repository's datasets/)"
#: Protocol tag of ``gcl reproduce`` records trained with ``--set task=link``: their rows go to
#: a table of their own, beside (not over) the same method's node-classification row.
LINK_PROTOCOL = "held-out link prediction"


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append ``(default: ...)`` to every option's help, unless the help already names its
    default or the option is required."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.required:
            return text
        return super()._get_help_string(action)


def _add_pot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pot", action="store_true",
                   help="add the POT regularizer (2-layer GCN encoders with edge-dropping views)")
    p.add_argument("--kappa", type=float, default=None,
                   help="POT weight: (1 - kappa) * objective + kappa * POT (default: 0.5)")
    p.add_argument("--pot-batch", type=int, default=None,
                   help="POT node-chunk size (default: all nodes)")


def _add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="keep a resumable checkpoint of each run in DIR/seed-<seed>/")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="K",
                   help="checkpoint period in epochs")
    p.add_argument("--resume", action="store_true",
                   help="continue the runs from their checkpoints in --checkpoint-dir")


def _add_common_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file layered over the method's shipped per-dataset configuration")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the configuration's value)")
    p.add_argument("--runs", type=int, default=1, help="independent runs (seeds seed..seed+runs-1)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--data-root", default=None, metavar="DIR", help=_ROOT_HELP)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key (repeatable), e.g. --set tau=0.5")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: only on a terminal)")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    _add_pot_args(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gcl`` command.

    Returns:
        argparse.ArgumentParser: the parser with one subparser per subcommand.

    Example:
        >>> build_parser().parse_args(["train", "--method", "grace", "--dataset", "cora"]).runs
        1
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="gcl", formatter_class=_Formatter,
        description="Graph contrastive learning on PyTorch Geometric: train, evaluate, reproduce.",
    )
    parser.add_argument("--version", action="version", version=f"gcl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", formatter_class=_Formatter,
                       help="train and evaluate a method on a dataset",
                       description="Train a method with its per-dataset configuration, evaluate "
                                   "it with its paper's protocol, and write a result record.")
    p.add_argument("--method", required=True, help="method name (see `gcl methods`)")
    p.add_argument("--dataset", required=True, help="dataset name (see `gcl datasets`)")
    _add_common_run_args(p)
    p.add_argument("--out", default=None, metavar="RESULT.json",
                   help="result record path (default: runs/<method>-<dataset>-<time>.json)")
    p.add_argument("--save-emb", default=None, metavar="FILE",
                   help="save the last run's embeddings, labels and split masks (torch file)")
    p.add_argument("--plot", default=None, metavar="DIR",
                   help="save PNGs of the training loss and a t-SNE of the last run's embeddings "
                        "in DIR (embeddings go to DIR too unless --save-emb is given)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel training in N processes on this machine (torchrun's "
                        "launcher; the same as `torchrun --standalone --nproc-per-node N -m gcl "
                        "train ...`); several machines: launch with torchrun itself")
    p.add_argument("--eval-every", type=int, default=0, metavar="K",
                   help="linear-probe the embeddings every K epochs (0: off; MEOW/AdaMEOW: "
                        "a short HeCo check with NMI/ARI); the scores are kept in the record "
                        "and plotted")
    _add_checkpoint_args(p)

    p = sub.add_parser("plot", formatter_class=_Formatter,
                       help="plot a result record (training curves, t-SNE of embeddings)",
                       description="Write PNGs from a result record: the training loss of every "
                                   "run (with periodic evaluation scores when recorded) and a 2-D "
                                   "t-SNE of the saved embeddings coloured by label.")
    p.add_argument("result", metavar="RESULT.json", help="a result record written by gcl train")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the PNGs (default: the record's folder)")
    p.add_argument("--emb", default=None, metavar="FILE",
                   help="embeddings file from --save-emb (default: the one named in the record)")
    p.add_argument("--seed", type=int, default=0, help="t-SNE random state")
    p.add_argument("--tsne-points", type=int, default=5000, metavar="N",
                   help="t-SNE of a seeded subsample of at most N nodes")

    p = sub.add_parser("datasets", formatter_class=_Formatter,
                       help="list datasets and whether they are available",
                       description="Every catalog entry with its status at the data root.")
    p.add_argument("--data-root", default=None, metavar="DIR", help=_ROOT_HELP)

    p = sub.add_parser("reproduce", formatter_class=_Formatter,
                       help="run a method's paper protocol and update docs/reproduction.md",
                       description="Run the method's full paper protocol with its shipped "
                                   "configuration, append a result record under the results "
                                   "folder and regenerate the reproduction page from all records.")
    p.add_argument("--method", required=True, help="method name (see `gcl methods`)")
    p.add_argument("--dataset", required=True, help="dataset name (see `gcl datasets`)")
    p.add_argument("--seeds", type=int, default=3, help="number of training seeds")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file layered over the shipped configuration (recorded in the row)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--data-root", default=None, metavar="DIR", help=_ROOT_HELP)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key (repeatable); recorded in the row")
    p.add_argument("--label", default=None,
                   help="row label in the table (default: the method name in capitals, "
                        "with +POT when POT is on)")
    _add_pot_args(p)
    p.add_argument("--protocol", default="",
                   help="protocol tag: rows with different tags go to separate tables "
                        f"(default with --set task=link: {LINK_PROTOCOL!r})")
    p.add_argument("--results-dir", default="results", help="where result records are kept")
    p.add_argument("--docs", default="docs/reproduction.md", help="the page to regenerate")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: only on a terminal)")
    _add_checkpoint_args(p)

    p = sub.add_parser("merge", formatter_class=_Formatter,
                       help="merge result records of the same run with different seeds",
                       description="Merge records of one configuration whose seeds ran as "
                                   "separate processes or on separate machines into the record "
                                   "one command with all the seeds would have written "
                                   "(gcl.results.merge_records); optionally regenerate the "
                                   "reproduction page.")
    p.add_argument("records", nargs="+", metavar="RESULT.json", help="records to merge (2+)")
    p.add_argument("--out", required=True, metavar="RESULT.json", help="merged record path")
    p.add_argument("--label", default=None,
                   help="row label of the merged record (default: the records' own)")
    p.add_argument("--note", default=None,
                   help="a line the reproduction page prints under the table for this row "
                        "(e.g. the records ran under an earlier default)")
    p.add_argument("--fill", action="append", default=[], metavar="KEY=VALUE",
                   help="a configuration key that older records lack, with the value their "
                        "code used (repeatable; recorded in merged_from)")
    p.add_argument("--docs", default=None, metavar="PAGE.md",
                   help="regenerate this reproduction page from --results-dir afterwards")
    p.add_argument("--results-dir", default="results",
                   help="records folder the page is generated from (with --docs)")

    p = sub.add_parser("compare", formatter_class=_Formatter,
                       help="paired per-seed comparison of two result records",
                       description="Compare two records seed by seed (gcl.results."
                                   "compare_records): each metric's per-seed differences "
                                   "OTHER - BASE, their mean, standard deviation and paired t "
                                   "statistic, in percentage points.")
    p.add_argument("base", metavar="BASE.json", help="the reference record")
    p.add_argument("other", metavar="OTHER.json", help="the record compared with it")
    p.add_argument("--metrics", nargs="+", default=None,
                   help="metrics to compare (default: all that both records have)")

    sub.add_parser("methods", formatter_class=_Formatter, help="list the registered methods",
                   description="List the registered methods and their configured datasets.")

    p = sub.add_parser("demo", formatter_class=_Formatter,
                       help="GRACE on Cora (synthetic graph when Cora is missing)",
                       description="Train GRACE on Cora with its paper configuration when the "
                                   "data root has Cora, otherwise on the synthetic graph, and "
                                   "print a short table.")
    p.add_argument("--runs", type=int, default=1, help="independent runs")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--data-root", default=None, metavar="DIR", help=_ROOT_HELP)
    p.add_argument("--out", default=None, metavar="RESULT.json",
                   help="result record path (default: runs/grace-<dataset>-<time>.json)")
    return parser


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
                 + f", peak memory {t['peak_mem_mb']:.0f} MiB")
    return "\n".join(lines)


def _default_out(method: str, dataset: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{method}-{dataset}-{stamp}.json"


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


def _join_ranks(args):
    """Under torchrun: join the process group; returns the world (``None`` alone) and sets
    ``args.device`` to this rank's device."""
    from .distributed import init_distributed

    world, args.device = init_distributed(args.device)
    return world


def _cmd_train(args) -> int:
    from .methods import run
    from .results import write_json

    if args.nproc < 1:
        raise ValueError(f"--nproc must be a positive number of processes, got {args.nproc}")
    if args.nproc > 1 and "LOCAL_RANK" not in os.environ:
        from .distributed.launch import launch

        return launch(args.nproc, args.argv)
    world = _join_ranks(args)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    save_emb = args.save_emb
    if args.plot and not save_emb:
        save_emb = Path(args.plot) / f"{args.method}-{args.dataset}-embeddings.pt"
    record = run(args.method, args.dataset, config_path=args.config, overrides=_overrides(args),
                 runs=args.runs, seed=args.seed, device=args.device, data_root=args.data_root,
                 progress=args.progress, log=log, save_embeddings=save_emb,
                 checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                 resume=args.resume)
    if world is not None and not world.is_main:
        return 0  # rank 0 writes the record, the embeddings and the figures
    out = Path(args.out) if args.out else _default_out(record["method"], args.dataset)
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

    for path in plot_record(args.result, args.out, embeddings=args.emb, seed=args.seed,
                            max_points=args.tsne_points):
        print(f"figure: {path}")
    return 0


def _cmd_reproduce(args) -> int:
    from .methods import run
    from .reporting import write_reproduction
    from .results import write_json

    world = _join_ranks(args)
    overrides = _overrides(args)
    if args.label is None and overrides.get("pot"):
        args.label = f"{args.method.upper()}+POT"
    record = run(args.method, args.dataset, config_path=args.config, overrides=overrides,
                 runs=args.seeds,
                 seed=args.seed, device=args.device, data_root=args.data_root,
                 progress=args.progress, log=lambda msg: print(msg, file=sys.stderr),
                 checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                 resume=args.resume)
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
    out = Path(args.results_dir) / record["method"] / f"{name}-{args.dataset}-{stamp}.json"
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
        line = f"  {r['name']:<{width}}  {state}"
        if not r["available"] and r.get("missing"):
            missing = r["missing"]
            shown = ", ".join(str(m) for m in missing[:2])
            more = f" (+{len(missing) - 2} more)" if len(missing) > 2 else ""
            line += f"  — missing {shown}{more}"
        print(line)
    return 0


def _cmd_methods(_args) -> int:
    from .methods import available_methods, get_method

    for name in available_methods():
        spec = get_method(name)
        print(f"{name:<10} {spec.description}")
        if spec.datasets:
            print(f"{'':<10} configured for: {', '.join(spec.datasets)}")
    return 0


def _cmd_demo(args) -> int:
    from .data import DatasetNotFoundError, load
    from .methods import run
    from .results import write_json

    dataset = "cora"
    try:
        load("cora", root=args.data_root)
    except DatasetNotFoundError as err:
        print(f"Cora is not available ({str(err).splitlines()[0]}); "
              "running on the synthetic planted-partition graph instead.", file=sys.stderr)
        dataset = "synthetic"
    print(f"gcl demo: GRACE on {dataset}", file=sys.stderr)
    record = run("grace", dataset, runs=args.runs, device=args.device, data_root=args.data_root,
                 log=lambda msg: print(msg, file=sys.stderr))
    out = Path(args.out) if args.out else _default_out("grace", dataset)
    write_json(record, out)
    print(format_metrics_table(record))
    print(f"result record: {out}")
    return 0


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
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("GCL_DEBUG"):
            raise
        print(f"gcl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from .pipeline import NonFiniteLossError

        if not isinstance(err, NonFiniteLossError) or os.environ.get("GCL_DEBUG"):
            raise
        print(f"gcl {args.command}: error: {err}", file=sys.stderr)
        return 1
    finally:
        _leave_ranks()


def _leave_ranks() -> None:
    """Leave the process group that a torchrun rank joined (nothing in a single process)."""
    import torch.distributed as dist

    if "LOCAL_RANK" in os.environ and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

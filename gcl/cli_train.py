"""``gcl train`` beyond a method and a catalog dataset: a graph of the user's own, resume checks,
and what an interruption leaves behind.

* :func:`add_graph_args` / :func:`graph_from_args` — ``--dataset NAME``, or ``--data FILE.pt``
  (a saved PyG ``Data``/``HeteroData``), or ``--edges FILE`` with ``--features`` and
  ``--labels``; ``--directed``; ``--metapath``/``--metapaths`` for heterogeneous input. The
  graph is registered under ``--name`` (default: the file's stem) and trained like a catalog
  dataset.
* :func:`check_resume` — ``--resume`` with a checkpoint folder that does not exist, or holds
  no checkpoint of the requested seeds, is refused instead of silently starting over.
* :class:`RunTracker` and :func:`interrupted_message` — one line on Ctrl-C saying where
  training stopped and how to continue; :func:`run_from_args` puts the checks and the message
  around :func:`gcl.methods.run` for ``gcl train`` and ``gcl reproduce``.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_graph_args(p)
    >>> args = p.parse_args(["--edges", "e.csv", "--features", "x.npy"])
    >>> args.edges, args.dataset, args.directed
    ('e.csv', None, False)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["add_graph_args", "graph_from_args", "check_resume", "RunTracker",
           "interrupted_message", "run_from_args"]


def add_graph_args(p: argparse.ArgumentParser) -> None:
    """The options that choose the graph of ``gcl train``.

    Args:
        p: the ``train`` subparser.

    Example:
        >>> p = argparse.ArgumentParser(); add_graph_args(p)
        >>> p.parse_args(["--dataset", "cora"]).dataset
        'cora'
    """
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", help="a catalog dataset (see `gcl datasets`)")
    which.add_argument("--data", metavar="FILE.pt",
                       help="your own graph: a PyG Data or HeteroData saved with "
                            "torch.save(data, FILE), read with weights_only=True")
    which.add_argument("--edges", metavar="FILE",
                       help="your own graph: an edge list, two integer columns (source, target; "
                            "0-based node ids), CSV, TSV or whitespace, optional header line")
    p.add_argument("--features", metavar="FILE",
                   help="with --edges: node features, one row per node (.npy or a text table; "
                        "default: a one-hot vector per node, with a warning)")
    p.add_argument("--labels", metavar="FILE",
                   help="with --edges: one integer class per node (.npy or text, one per line; "
                        "default: none, and evaluation is skipped)")
    p.add_argument("--directed", action="store_true",
                   help="with --edges/--data: keep the edges as given (default: undirected: "
                        "the reverse of every edge is added, with a warning when the file "
                        "lacks some)")
    p.add_argument("--metapath", action="append", default=[], metavar="T1-T2-T1",
                   help="with a HeteroData: a meta-path as node types joined by '-' or ',' "
                        "(repeatable; the first type is the one embedded)")
    p.add_argument("--metapaths", metavar="FILE.yaml",
                   help="with a HeteroData: a YAML file with 'metapaths' (lists of node types) "
                        "and optionally 'target'")
    p.add_argument("--name", metavar="NAME",
                   help="your graph's name in records and file names (default: the file's stem)")


def _refuse_unused(args) -> None:
    own = args.data is not None or args.edges is not None
    given = [flag for flag, value in (("--features", args.features), ("--labels", args.labels),
                                      ("--name", args.name), ("--metapaths", args.metapaths),
                                      ("--metapath", args.metapath), ("--directed", args.directed))
             if value]
    if not own and given:
        raise ValueError(f"{', '.join(given)} describe a graph of your own: use them with "
                         "--data FILE.pt or --edges FILE, not with --dataset")
    if args.data is not None and (args.features or args.labels):
        raise ValueError("--features and --labels go with --edges; a --data file holds its own "
                         "x and y")
    if args.edges is not None and (args.metapath or args.metapaths):
        raise ValueError("--metapath/--metapaths go with a HeteroData saved in --data FILE.pt")


def graph_from_args(args) -> str:
    """The dataset ``gcl train`` runs on: ``--dataset``, or the user's graph read from its files
    and registered (:func:`gcl.data.register_graph`) under ``--name``.

    Args:
        args: the parsed ``gcl train`` arguments.

    Returns:
        str: a catalog dataset name or the registered graph's name.

    Raises:
        ValueError: options that do not fit together, malformed files or meta-paths.
        FileNotFoundError: a file that does not exist.

    Example:
        >>> args = argparse.Namespace(dataset="cora", data=None, edges=None, features=None,
        ...                           labels=None, name=None, metapath=[], metapaths=None,
        ...                           directed=False)
        >>> graph_from_args(args)
        'cora'
    """
    _refuse_unused(args)
    if args.dataset is not None:
        return args.dataset
    from torch_geometric.data import HeteroData

    from .data.registry import check_graph_name, register_graph
    from .data.user import from_files, prepare_graph
    from .data.user_io import read_graph_file

    path = Path(args.data if args.data is not None else args.edges)
    name = check_graph_name(args.name or path.stem)
    if args.edges is not None:
        graph = from_files(path, args.features, args.labels, directed=args.directed, name=name,
                           split=None)
    else:
        graph = read_graph_file(path)
        if isinstance(graph, HeteroData):
            graph = _metapath_graph(graph, args, name)
        else:
            if args.metapath or args.metapaths:
                raise ValueError(f"{path} holds a homogeneous Data: --metapath/--metapaths only "
                                 "apply to a HeteroData")
            graph = prepare_graph(graph, directed=args.directed, name=name, split=None)
    return register_graph(name, graph)


def _metapath_graph(hetero, args, name: str):
    from .data.hetero import from_hetero_data
    from .data.user_io import parse_metapaths, read_metapaths

    if args.directed:
        raise ValueError("--directed does not apply to a HeteroData: a meta-path follows each "
                         "edge type in either direction")
    spec = read_metapaths(args.metapaths) if args.metapaths else {"metapaths": [],
                                                                  "target": None}
    paths = spec["metapaths"] + parse_metapaths(args.metapath)
    if not paths:
        types = ", ".join(hetero.node_types)
        raise ValueError(f"{args.data} holds a HeteroData (node types: {types}): name the "
                         "meta-paths to follow, e.g. --metapath "
                         f"{hetero.node_types[0]}-<type>-{hetero.node_types[0]} (repeatable) or "
                         "--metapaths FILE.yaml")
    for path in paths:
        unknown = [t for t in path if t not in hetero.node_types]
        if unknown:
            raise ValueError(f"meta-path {'-'.join(path)}: unknown node type(s) {unknown}; "
                             f"{args.data} has {', '.join(hetero.node_types)}")
    return from_hetero_data(hetero, paths, target=spec["target"], name=name)


def check_resume(args, seeds: list[int]) -> list[str]:
    """Refuse ``--resume`` when there is nothing to resume; name the seeds that start over.

    Args:
        args: parsed arguments with ``resume`` and ``checkpoint_dir``.
        seeds: the seeds of the requested runs.

    Returns:
        list[str]: notes for seeds without a checkpoint (they train from scratch).

    Raises:
        ValueError: ``--resume`` whose folder does not exist or has no checkpoint of any
            requested seed; the message names the folder and says how to start fresh.

    Example:
        >>> args = argparse.Namespace(resume=True, checkpoint_dir="/nonexistent/ckpt")
        >>> check_resume(args, [0])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --resume: the checkpoint folder /nonexistent/ckpt does not exist...
    """
    if not getattr(args, "resume", False) or args.checkpoint_dir is None:
        return []
    from .pipeline import CHECKPOINT_FILE

    folder = Path(args.checkpoint_dir)
    fresh = "; to start fresh, run the same command without --resume"
    if not folder.is_dir():
        raise ValueError(f"--resume: the checkpoint folder {folder} does not exist, so there is "
                         f"nothing to resume (check the path{fresh})")
    missing = [s for s in seeds if not (folder / f"seed-{s}" / CHECKPOINT_FILE).is_file()]
    if len(missing) == len(seeds):
        raise ValueError(f"--resume: {folder} holds no checkpoint of seed(s) {seeds} "
                         f"(expected {folder}/seed-<seed>/{CHECKPOINT_FILE}){fresh}")
    return [f"--resume: no checkpoint for seed {s} in {folder}: that run starts from scratch"
            for s in missing]


#: the line :func:`gcl.methods.run` logs when a run has finished (other lines: cost estimates)
_RUN_LINE = re.compile(r"\[[^\]]+\] run \d+/\d+ ")


class RunTracker:
    """Wraps the per-run log of :func:`gcl.methods.run` to know how many runs finished.

    Args:
        log: where to pass the messages on (``None``: nowhere).

    Example:
        >>> t = RunTracker(None); t("[grace/cora] run 1/2 seed=0 train 1.0s: accuracy=0.8")
        >>> t.finished
        1
    """

    def __init__(self, log=None):
        self.log = log
        self.finished = 0

    def __call__(self, message: str) -> None:
        if _RUN_LINE.match(message):  # "[method/dataset] run i/n ...": a finished run
            self.finished += 1
        if self.log is not None:
            self.log(message)


def interrupted_message(args, finished: int, runs: int) -> str:
    """One line for Ctrl-C during ``gcl train`` or ``gcl reproduce``: where it stopped and how
    to continue.

    Args:
        args: the parsed arguments (``seed``, ``checkpoint_dir``, ``checkpoint_every``).
        finished: runs that had finished.
        runs: runs requested.

    Returns:
        str: the message (no result record is written for an interrupted command).

    Example:
        >>> args = argparse.Namespace(seed=0, checkpoint_dir=None, checkpoint_every=10)
        >>> interrupted_message(args, 1, 3)  # doctest: +ELLIPSIS
        'interrupted during run 2 of 3 (seed 1) after 1 finished run(s); no result record ...'
    """
    run = min(finished + 1, runs)
    seed = args.seed + run - 1
    head = (f"interrupted during run {run} of {runs} (seed {seed}) after {finished} "
            "finished run(s); no result record was written")
    if args.checkpoint_dir is None:
        return (f"{head} and no checkpoint was kept: add --checkpoint-dir DIR (a checkpoint "
                f"every --checkpoint-every {args.checkpoint_every} epochs) to make the next run "
                "resumable, then rerun it with --resume after an interruption")
    return (f"{head}; checkpoints are in {Path(args.checkpoint_dir) / f'seed-{seed}'} (every "
            f"{args.checkpoint_every} epochs): rerun the same command with --resume to continue")


def run_from_args(args, dataset: str, runs: int, overrides: dict, log, **kwargs) -> dict:
    """:func:`gcl.methods.run` for ``gcl train`` and ``gcl reproduce``: refuses a ``--resume``
    with nothing to resume, and on Ctrl-C prints one line saying where it stopped (the
    :class:`KeyboardInterrupt` is raised again for the command's exit status).

    Args:
        args: the parsed arguments (``command``, ``method``, ``config``, ``seed``, ``device``,
            ``data_root``, ``progress``, ``checkpoint_dir``, ``checkpoint_every``, ``resume``).
        dataset: the dataset or registered graph name.
        runs: number of runs.
        overrides: the configuration overrides of the command line.
        log: where per-run lines go (``None``: nowhere).
        **kwargs: further arguments of :func:`gcl.methods.run` (``save_embeddings``).

    Returns:
        dict: the result record.

    Example:
        >>> args = argparse.Namespace(command="train", method="grace", config=None, seed=0,
        ...                           device="cpu", data_root=None, progress=False,
        ...                           checkpoint_dir=None, checkpoint_every=10, resume=False)
        >>> record = run_from_args(args, "synthetic", 1, {"epochs": 1, "probe_epochs": 5,
        ...                        "hidden": 4, "proj_hidden": 4, "clustering": False}, None)
        >>> record["dataset"], len(record["runs"])
        ('synthetic', 1)
    """
    from .methods import run

    for note in check_resume(args, list(range(args.seed, args.seed + runs))):
        print(f"gcl {args.command}: {note}", file=sys.stderr)
    tracker = RunTracker(log)
    try:
        return run(args.method, dataset, config_path=args.config, overrides=overrides,
                   runs=runs, seed=args.seed, device=args.device, data_root=args.data_root,
                   progress=args.progress, log=tracker, checkpoint_dir=args.checkpoint_dir,
                   checkpoint_every=args.checkpoint_every, resume=args.resume, **kwargs)
    except KeyboardInterrupt as err:
        print(f"gcl {args.command}: {interrupted_message(args, tracker.finished, runs)}",
              file=sys.stderr)
        err.reported = True  # gcl.cli.main adds nothing
        raise

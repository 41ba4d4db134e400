"""The argument parser of the ``gcl`` command (see :mod:`gcl.cli`).

Every option is parsed into a value of the right kind and range (integers within bounds, a
``--kappa`` in [0, 1]), and a command line argparse refuses becomes one line and status 2, like
every other input error (:class:`_Parser`).
"""

from __future__ import annotations

import argparse

from ._constants import MAX_SEED
from ._files import excerpt
from .cli_train import add_graph_args

__all__ = ["build_parser", "LINK_PROTOCOL"]

_ROOT_HELP = "dataset root (default: $GCL_DATA, else the repository's datasets/)"
#: Protocol tag of ``gcl reproduce`` records trained with ``--set task=link``: their rows go to
#: a table of their own, beside (not over) the same method's node-classification row.
LINK_PROTOCOL = "held-out link prediction"


class _UsageError(ValueError):
    """A command line argparse refuses (reported like every other input error)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``main`` prints them, status 2)."""

    def error(self, message: str):
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {excerpt(text)}") \
                from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in [{lo}, {hi}], got "
                                             f"{excerpt(text)}")
        return value

    parse.__name__ = "integer"
    return parse


def _fraction(text: str) -> float:
    """An argparse type: a number in [0, 1] (not NaN)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {excerpt(text)}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {excerpt(text)}")
    return value


_fraction.__name__ = "number"
#: bounds of the integer options
_RUNS = _int_in(1, 10_000)
_SEED = _int_in(0, MAX_SEED)
_COUNT = _int_in(1, 10**9)
_NPROC = _int_in(1, 4096)


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
    p.add_argument("--kappa", type=_fraction, default=None,
                   help="POT weight: (1 - kappa) * objective + kappa * POT (default: 0.5)")
    p.add_argument("--pot-batch", type=int, default=None,
                   help="POT node-chunk size (default: all nodes)")


def _add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="keep a resumable checkpoint of each run in DIR/seed-<seed>/")
    p.add_argument("--checkpoint-every", type=_COUNT, default=10, metavar="K",
                   help="checkpoint period in epochs")
    p.add_argument("--resume", action="store_true",
                   help="continue the runs from their checkpoints in --checkpoint-dir")


def _add_common_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file layered over the method's shipped per-dataset configuration")
    p.add_argument("--epochs", type=_COUNT, default=None,
                   help="training epochs (default: the configuration's value)")
    p.add_argument("--runs", type=_RUNS, default=1,
                   help="independent runs (seeds seed..seed+runs-1)")
    p.add_argument("--seed", type=_SEED, default=0, help="first seed")
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

    parser = _Parser(
        prog="gcl", formatter_class=_Formatter,
        description="Graph contrastive learning on PyTorch Geometric: train, evaluate, reproduce.",
    )
    parser.add_argument("--version", action="version", version=f"gcl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", formatter_class=_Formatter,
                       help="train and evaluate a method on a dataset or your own graph",
                       description="Train a method with its per-dataset configuration, evaluate "
                                   "it with its paper's protocol, and write a result record. The "
                                   "graph is a catalog dataset (--dataset) or your own (--data "
                                   "FILE.pt, or --edges FILE with --features and --labels).")
    p.add_argument("--method", required=True, help="method name (see `gcl methods`)")
    add_graph_args(p)
    _add_common_run_args(p)
    p.add_argument("--out", default=None, metavar="RESULT.json",
                   help="result record path (default: runs/<method>-<dataset>-<time>.json)")
    p.add_argument("--save-emb", default=None, metavar="FILE",
                   help="save the last run's embeddings, labels and split masks (torch file)")
    p.add_argument("--plot", default=None, metavar="DIR",
                   help="save PNGs of the training loss and a t-SNE of the last run's embeddings "
                        "in DIR (embeddings go to DIR too unless --save-emb is given)")
    p.add_argument("--nproc", type=_NPROC, default=1, metavar="N",
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
    p.add_argument("--seed", type=_SEED, default=0, help="t-SNE random state")
    p.add_argument("--tsne-points", type=_int_in(3, 10**7), default=5000, metavar="N",
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
    p.add_argument("--seeds", type=_RUNS, default=3, help="number of training seeds")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file layered over the shipped configuration (recorded in the row)")
    p.add_argument("--seed", type=_SEED, default=0, help="first seed")
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
                       help="GRACE on Cora, with a short table",
                       description="Train GRACE on Cora with its paper configuration (from the "
                                   "data root, else the copy shipped with gcl), seeded, and "
                                   "print a short table.")
    p.add_argument("--runs", type=_RUNS, default=1, help="independent runs")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--data-root", default=None, metavar="DIR", help=_ROOT_HELP)
    p.add_argument("--out", default=None, metavar="RESULT.json",
                   help="result record path (default: runs/grace-cora-<time>.json)")
    return parser

"""``gcl train --nproc N``: start N ranks on this machine with torchrun's own launcher."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["launch", "strip_nproc"]


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N`` option (what each rank runs).

    Args:
        argv: the command's arguments.

    Returns:
        list: the arguments without ``--nproc``.

    Example:
        >>> strip_nproc(["train", "--nproc", "2", "--method", "grace"])
        ['train', '--method', 'grace']
    """
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m gcl ARGV`` in ``nproc`` processes of one machine, as
    ``torchrun --standalone --nproc-per-node NPROC -m gcl ARGV`` does (torchrun's launcher,
    called in this process: a rendezvous on a free local port, and every rank stopped when one
    fails).

    Args:
        nproc: the number of processes (ranks).
        argv: the ``gcl`` arguments every rank runs (without ``--nproc``).

    Returns:
        int: 0 when every rank succeeded, 1 otherwise.

    Example:
        >>> launch.__name__  # starts processes; see tests/test_distributed.py
        'launch'
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc-per-node={int(nproc)}", "--module", "gcl",
                  *strip_nproc(argv)])
    except ChildFailedError as err:
        print(f"gcl: a rank failed: {err}", file=sys.stderr)
        return 1
    return 0

"""The accuracy effect of the loss's product precision (fp32, TF32, bf16) on GRACE.

For each dataset and precision, ``gcl.methods.run`` trains GRACE with its shipped configuration
(``precision`` set, the epoch count optionally shortened) on the same seeds, and evaluates the
clean-graph embeddings with GRACE's protocol (the torch linear probe on random 10/10/80 splits,
k-means clustering). The table gives the mean and standard deviation over seeds and, per
precision, the mean over seeds of the paired difference to fp32 (same seed, same split).

On the CPU both lowered precisions are emulated (operands and bf16 results rounded, products in
fp32: see ``gcl.objectives.precision``), which reproduces a GPU's numerics, not its speed.

Usage:
    python benchmarks/precision_accuracy.py                          # Cora, Amazon-Photo
    python benchmarks/precision_accuracy.py --datasets cora --seeds 2 --epochs cora=50
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_bench  # noqa: E402

PRECISIONS = ["fp32", "tf32", "bf16"]


def _per_dataset(pairs: list[str], option: str) -> dict[str, int]:
    """``["cora=50", ...]`` as ``{"cora": 50, ...}`` (positive counts)."""
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not value.isdigit() or int(value) < 1:
            raise SystemExit(f"{option} takes DATASET=COUNT with a positive count, got {pair!r}")
        out[name] = int(value)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cora", "amazon-photo"])
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=PRECISIONS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seeds-for", nargs="*", default=[], metavar="DATASET=SEEDS",
                        help="another seed count for a dataset")
    parser.add_argument("--epochs", nargs="*", default=["amazon-photo=100"],
                        metavar="DATASET=EPOCHS",
                        help="shortened epoch counts (others: the shipped configuration's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    shortened = _per_dataset(args.epochs, "--epochs")
    seeds_for = _per_dataset(args.seeds_for, "--seeds-for")

    from gcl.methods import load_config, run

    rows, notes = [], []
    for dataset in args.datasets:
        epochs = shortened.get(dataset, load_config("grace", dataset)["epochs"])
        full = load_config("grace", dataset)["epochs"]
        seeds = seeds_for.get(dataset, args.seeds)
        per_seed = {}
        for precision in args.precisions:
            record = run("grace", dataset, overrides={"precision": precision, "epochs": epochs},
                         runs=seeds, seed=0, device=args.device, data_root=args.data_root,
                         log=print)
            accs = [r["metrics"]["accuracy"] for r in record["runs"]]
            nmis = [r["metrics"].get("nmi") for r in record["runs"]]
            per_seed[precision] = accs
            base = per_seed.get("fp32")
            delta = (statistics.fmean(a - b for a, b in zip(accs, base))
                     if base is not None and precision != "fp32" else None)
            rows.append([dataset, epochs, precision, len(accs),
                         100 * statistics.fmean(accs), 100 * statistics.pstdev(accs),
                         None if delta is None else 100 * delta,
                         100 * statistics.fmean(nmis) if None not in nmis else None,
                         record["timing"]["train_s"]])
            print(f"{dataset} {precision}: accuracy {100 * statistics.fmean(accs):.2f}",
                  flush=True)
        if epochs != full:
            notes.append(f"{dataset}: {epochs} of the configured {full} epochs (a shortened "
                         "protocol, the same for every precision)")
    notes.append("seeds 0, 1, ...; each seed's accuracy is its linear-probe test accuracy (mean "
                 "over its splits); Δ is the mean over seeds of (precision − fp32) on the same "
                 "seed.")
    if args.device == "cpu":
        notes.append("tf32 and bf16 emulated on the CPU (rounded operands, bf16 results "
                     "rounded, fp32 products): a GPU's numerics, not its speed.")
    write_bench(
        "precision_accuracy", title=f"GRACE accuracy by loss precision ({args.device})",
        description="GRACE with the similarity products of its InfoNCE at fp32 (exact), TF32 "
                    "and bf16 (`precision`), same seeds and splits; see "
                    "`benchmarks/precision_accuracy.py`.",
        columns=["dataset", "epochs", "precision", "seeds", "accuracy %", "std",
                 "Δ vs fp32 (paired)", "NMI %", "train s/run"],
        rows=rows, device=args.device, notes=notes, extra={"order": 15},
    )


if __name__ == "__main__":
    main()

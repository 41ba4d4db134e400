"""GRACE, a GCN with PamC's meta-node negatives, or BGRL on ogbn-arxiv, full batch or in
mini-batches of sampled neighbourhoods.

    python examples/ogbn_arxiv.py --data-root /path/to/data --device cuda --runs 3
    python examples/ogbn_arxiv.py --data-root /path/to/data --device cuda --objective pamc
    python examples/ogbn_arxiv.py --data-root /path/to/data --device cuda --objective bgrl
    python examples/ogbn_arxiv.py --data-root /path/to/data --objective bgrl --batch-size 4096
    python examples/ogbn_arxiv.py --data-root /tmp/fake --epochs 2        # a fake OGB folder

The data root holds ``ogb/ogbn_arxiv/`` in OGB's own layout (``raw/``, ``split/time/``); see
``datasets/README.md``. A dense N×N similarity matrix on arxiv (169,343 nodes) would need over
100 GiB; the blockwise loss streams it in row blocks with the same value and gradients, so a
full-batch step fits on one GPU. The frozen embeddings are evaluated with a linear probe on
OGB's ``get_idx_split()`` (model selection on the validation nodes), scored by OGB's own
``Evaluator``. With ``--objective pamc`` the two views are contrasted with PamC's influence
positives and meta-node negatives (O(N·d) memory, no N×N term at all). With ``--objective
bgrl`` the views train BGRL (``gcl.methods.bgrl``: GCN with batch norm, predictor, a target
encoder moved by a cosine-scheduled moving average after every step, no negatives; the layer
sizes, drop rates and learning rate are this script's, not the paper's arxiv settings). With
``--batch-size B`` each step trains on ``B`` seed nodes and their sampled ``--fanout``
neighbourhoods (:class:`gcl.data.NeighborSampler`); the target network embeds the same subgraph.
"""

import argparse
import time

import gcl
from gcl.augment import Compose, DropEdge, MaskFeature
from gcl.data import NeighborSampler
from gcl.encoders import GCNEncoder, ProjectionHead
from gcl.evaluation import ogb_probe, summarize
from gcl.methods import bgrl
from gcl.objectives import InfoNCE, PamCObjective
from gcl.results import make_record, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-root", default=None, help="default: $GCL_DATA or datasets/")
    p.add_argument("--device", default="auto")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--drop-edge", type=float, nargs=2, default=[0.2, 0.3])
    p.add_argument("--drop-feature", type=float, nargs=2, default=[0.2, 0.3])
    p.add_argument("--objective", choices=["infonce", "pamc", "bgrl"], default="infonce")
    p.add_argument("--clusters", type=int, default=None,
                   help="PamC's number of clusters (default: the number of classes)")
    p.add_argument("--block-size", type=int, default=None,
                   help="rows per block of the loss (default: automatic; 0 = dense)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="seed nodes per step (0: full batch)")
    p.add_argument("--fanout", type=int, nargs="+", default=[10, 5],
                   help="neighbours sampled per hop with --batch-size (one per GCN layer)")
    p.add_argument("--probe-epochs", type=int, default=1000)
    p.add_argument("--out", default=None, help="write the result record here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = gcl.resolve_device(args.device)
    results = {"val_acc": [], "test_acc": []}
    train_s, epoch_s, peak = [], [], 0.0
    for run in range(args.runs):
        seed = args.seed + run
        gcl.seed_everything(seed)
        data = gcl.data.load("ogbn-arxiv", root=args.data_root)
        views = tuple(Compose([DropEdge(pe), MaskFeature(pf)])
                      for pe, pf in zip(args.drop_edge, args.drop_feature, strict=True))
        if args.objective == "bgrl":
            pipe = bgrl(data.num_features, encoder_sizes=[2 * args.hidden, args.hidden],
                        predictor_hidden=2 * args.hidden, drop_edge=args.drop_edge,
                        drop_feature=args.drop_feature, lr=args.lr, epochs=args.epochs,
                        warmup_epochs=args.epochs // 10, device=device)
        else:
            if args.objective == "pamc":
                k = args.clusters or int(data.y.max()) + 1
                objective = PamCObjective(k, args.hidden, temperature=args.tau)
            else:
                objective = InfoNCE(tau=args.tau, block_size=args.block_size)
            pipe = gcl.Pipeline(GCNEncoder(data.num_features, args.hidden, activation="prelu"),
                                objective, augment=views,
                                head=ProjectionHead(args.hidden, args.hidden), lr=args.lr,
                                device=device)
        loader = None
        if args.batch_size:
            loader = NeighborSampler(data, args.fanout, batch_size=args.batch_size, seed=seed)
        history = pipe.fit(data, epochs=args.epochs, loader=loader)
        train_s.append(history.meta["train_s"])
        epoch_s.append(history.meta["epoch_s_median"])
        peak = max(peak, history.meta["peak_mem_mb"])
        t0 = time.perf_counter()
        scores = ogb_probe(pipe.embed(data), data, "ogbn-arxiv", epochs=args.probe_epochs,
                           seed=seed)
        for key, value in scores.items():
            results[key].append(value)
        print(f"Run {run + 1:02d} (seed {seed}): loss {history.losses[-1]:.4f}, "
              f"valid acc {scores['val_acc']:.4f}, test acc {scores['test_acc']:.4f} "
              f"(train {train_s[-1]:.1f} s, eval {time.perf_counter() - t0:.1f} s)")
    metrics = {k: summarize(v) for k, v in results.items()}
    for key, s in metrics.items():
        print(f"{key}: {100 * s['mean']:.2f} ± {100 * s['std']:.2f}")
    if args.out:
        record = make_record(
            method={"infonce": "grace", "pamc": "gcn-pamc", "bgrl": "bgrl"}[args.objective],
            dataset="ogbn-arxiv",
            config=vars(args),
            seeds=[args.seed + r for r in range(args.runs)], metrics=metrics,
            timing={"train_s": sum(train_s) / len(train_s),
                    "epoch_s_median": sorted(epoch_s)[len(epoch_s) // 2], "peak_mem_mb": peak},
            device=device, extra={"protocol": "ogb linear probe"})
        print(f"wrote {write_json(record, args.out)}")
    return metrics


if __name__ == "__main__":
    main()

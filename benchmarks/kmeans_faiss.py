"""``torch_kmeans`` against faiss on MEOW's own clustering inputs.

    python benchmarks/kmeans_faiss.py --faiss-python /path/to/venv-with-faiss-cpu/bin/python
        [--datasets acm dblp] [--steps 0 100]

MEOW clusters the projection-head output ``v`` of the fine view twice per training step
(``num_clusters`` of its configuration, seeds 0 and 1, 20 rounds, 5 restarts, inner-product
assignment). For each dataset the inputs are ``v`` of a freshly built MEOW model and of the same
model after ``--steps`` training steps (seed 0). Each is clustered by

* ``faiss``: ``faiss.Clustering`` with ``IndexFlatIP`` and the reference's settings (``niter=20``,
  ``nredo=5``, ``max_points_per_centroid=4000``, ``min_points_per_centroid=5``), in the
  interpreter given by ``--faiss-python`` (faiss-cpu need not be installed beside torch);
* ``torch``: :func:`gcl.objectives.kmeans.torch_kmeans` (faiss's rules: empty clusters split);
* ``torch-reseed``: the same with an empty cluster moved to a random point instead (the rule
  ``torch_kmeans`` followed before it split clusters as faiss does).

The table gives the objective (sum over the points of the inner product with their centroid),
the clusters left non-empty, the mean number of empty clusters refilled per restart, and the NMI
between each clustering and faiss's; ``faiss (seed + 10)`` is faiss again from another start,
the spread one start gives.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

_FAISS_SCRIPT = """
import json, sys
import faiss, numpy as np
x = np.load(sys.argv[1]).astype("float32")
out = []
for k, seed in json.loads(sys.argv[2]):
    clus = faiss.Clustering(x.shape[1], k)
    clus.niter, clus.nredo, clus.seed = 20, 5, seed
    clus.max_points_per_centroid, clus.min_points_per_centroid = 4000, 5
    index = faiss.IndexFlatIP(x.shape[1])
    clus.train(x, index)
    dist, assign = index.search(x, 1)
    stats = clus.iteration_stats
    splits = [stats.at(i).nsplit for i in range(stats.size())]
    out.append({"assign": assign[:, 0].tolist(), "objective": float(dist.sum()),
                "splits_per_restart": float(sum(splits)) / (len(splits) / 20)})
print(json.dumps(out))
"""


def faiss_runs(python: str, x: np.ndarray, jobs: list) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        proc = subprocess.run([python, "-c", _FAISS_SCRIPT, str(path), json.dumps(jobs)],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_run(x: torch.Tensor, k: int, seed: int, rule: str) -> dict:
    import gcl.objectives.kmeans as km

    calls = {"empty": 0}
    split = km._split_empty

    def counted(cent, counts, gen):
        calls["empty"] += int((counts == 0).sum())
        if rule == "split":
            return split(cent, counts, gen)
        empty = counts == 0  # the former rule: each empty centroid takes a random point
        cent[empty] = x[torch.randint(0, x.shape[0], (int(empty.sum()),), generator=gen)]
        return int(empty.sum())

    km._split_empty = counted
    try:
        assign, _, score = km.torch_kmeans(x, k, niter=20, nredo=5, seed=seed)
    finally:
        km._split_empty = split
    return {"assign": assign.tolist(), "objective": float(score.sum()),
            "splits_per_restart": calls["empty"] / 5}


def meow_inputs(dataset: str, steps: list[int]) -> dict:
    from gcl.data import load
    from gcl.methods import get_method, load_config
    from gcl.methods.meow import input_features

    graph = load(dataset)
    config = load_config("meow", dataset)
    m2v = {k[4:]: v for k, v in config.items() if k.startswith("m2v_")}
    graph = input_features(graph, config.get("features", "given"), m2v)
    torch.manual_seed(0)
    model = get_method("meow").build({**config, "device": "cpu", "seed": 0,
                                      "features": "given"}, graph)
    out, done = {}, 0
    for target in sorted(steps):
        if target > done:  # the one loop continues where it stopped
            model.fit(graph, epochs=target - done, progress=False)
            done = target
        with torch.no_grad():
            model.encoder.train()
            v = model.encoder(model.inputs_for(graph))[3].detach()
        out[target] = v
    return out, [int(k) for k in config["num_clusters"]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faiss-python", required=True,
                        help="a Python interpreter with faiss-cpu and numpy installed")
    parser.add_argument("--datasets", nargs="+", default=["acm", "dblp"])
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 100])
    args = parser.parse_args(argv)

    from _common import write_bench
    from sklearn.metrics import normalized_mutual_info_score as nmi

    torch.set_num_threads(1)
    rows = []
    for dataset in args.datasets:
        inputs, ks = meow_inputs(dataset, args.steps)
        for step, v in inputs.items():
            jobs = [[k, seed] for seed, k in enumerate(ks)] + [[k, seed + 10]
                                                                for seed, k in enumerate(ks)]
            fa = faiss_runs(args.faiss_python, v.numpy(), jobs)
            for seed, k in enumerate(ks):
                ref, other = fa[seed], fa[len(ks) + seed]
                results = {"faiss": ref, "faiss (seed + 10)": other,
                           "torch": torch_run(v, k, seed, "split"),
                           "torch-reseed": torch_run(v, k, seed, "reseed")}
                for name, r in results.items():
                    rows.append([dataset, step, k, seed, name, round(r["objective"], 2),
                                 len(set(r["assign"])), round(r["splits_per_restart"], 1),
                                 round(100 * nmi(ref["assign"], r["assign"]), 2)])
                    print(rows[-1], flush=True)
    write_bench(
        "kmeans_faiss", title="k-means: torch_kmeans against faiss on MEOW's inputs",
        description=("MEOW's clustering input (the fine view's projection `v`, L2-normalised, "
                     "N x 64) of a new model and after training steps (seed 0), clustered with "
                     "MEOW's settings (20 rounds, 5 restarts, inner-product assignment, "
                     "`num_clusters` of the configuration, seed = the clustering's index) by "
                     "faiss-cpu, by `torch_kmeans` (faiss's rules) and by `torch_kmeans` with "
                     "the former random-point re-seeding of empty clusters. Objective: the sum "
                     "of each point's inner product with its centroid; refilled: empty clusters "
                     "refilled per restart; NMI: agreement with faiss's clustering of the same "
                     "seed (`faiss (seed + 10)`: faiss from another start)."),
        columns=["dataset", "step", "k", "seed", "clustering", "objective", "non-empty clusters",
                 "refilled per restart", "NMI with faiss %"],
        rows=rows, device="cpu",
        notes=["faiss-cpu ran in a separate interpreter (`--faiss-python`); its random "
               "generator differs from torch's, so the starts differ and the clusterings can "
               "only agree in distribution."])


if __name__ == "__main__":
    main()

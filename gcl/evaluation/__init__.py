"""Evaluation of frozen embeddings: the linear probe, k-means clustering and their scores.

Every evaluator returns a dict of summaries ``{"mean", "std", "values"}`` (over splits or
seeds), the metric shape of a result record. Only torch is imported here; scikit-learn and SciPy
are imported inside the clustering functions.

Example:
    >>> from gcl.evaluation import linear_probe, kmeans_clustering, summarize
    >>> summarize([1.0, 3.0])
    {'mean': 2.0, 'std': 1.0, 'values': [1.0, 3.0]}
"""

from __future__ import annotations

from .clustering import kmeans_clustering
from .evaluate import PROBE_PROTOCOLS, EvaluationSkippedWarning, evaluate_embeddings, ogb_probe
from .grace_protocol import grace_probe
from .heco import heco_classification, heco_evaluate
from .links import link_prediction, reconstruction_auc, split_edges
from .metrics import (
    classification_scores,
    cluster_accuracy,
    cluster_f1,
    clustering_scores,
    summarize,
)
from .probe import LogisticRegression, linear_probe
from .sklearn_probe import sklearn_probe

__all__ = [
    "summarize",
    "LogisticRegression",
    "linear_probe",
    "grace_probe",
    "sklearn_probe",
    "PROBE_PROTOCOLS",
    "classification_scores",
    "kmeans_clustering",
    "cluster_accuracy",
    "cluster_f1",
    "clustering_scores",
    "evaluate_embeddings",
    "EvaluationSkippedWarning",
    "ogb_probe",
    "split_edges",
    "link_prediction",
    "reconstruction_auc",
    "heco_classification",
    "heco_evaluate",
]

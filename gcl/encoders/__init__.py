"""Encoders (graph -> node embeddings) and projection heads.

Example:
    >>> from gcl.encoders import GCNEncoder, ProjectionHead
    >>> encoder, head = GCNEncoder(1433, 128, activation="relu"), ProjectionHead(128, 128)
"""

from .gcn import ACTIVATIONS, MLP, GCNEncoder, ProjectionHead, make_activation, propagation_matrix
from .gnn import GATEncoder, GINEncoder, GNNEncoder, SAGEEncoder
from .heco import HeCoEncoder
from .meow import MEOWEncoder
from .normgcn import GCNNormEncoder

__all__ = ["ACTIVATIONS", "GCNEncoder", "ProjectionHead", "MLP", "make_activation",
           "propagation_matrix", "MEOWEncoder", "GCNNormEncoder", "HeCoEncoder", "GNNEncoder",
           "GATEncoder", "SAGEEncoder", "GINEncoder"]

"""Similarity candidates of the JMTEB v1 evaluators, computed with the same libraries, ops and dtypes.

JMTEB v1.3.3 computes STS, retrieval and reranking similarities with torch and pair-classification scores with
scikit-learn's ``paired_*`` distances plus ``torch.bmm``. Rounding (float32 in practice) decides ties and near-ties
in rankings and thresholds, so these functions use the same ops and shapes rather than float64 re-derivations.
Embeddings are never normalised here (JMTEB's default ``normalize_embeddings=False``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics.pairwise import (
    paired_cosine_distances,
    paired_euclidean_distances,
    paired_manhattan_distances,
)
from torch import Tensor


def to_tensor(embeddings: np.ndarray | Tensor) -> Tensor:
    """JMTEB's ``convert_to_tensor`` / ``to_tensor``: a CPU tensor keeping the dtype, 1-D input made a 1-row matrix."""
    if isinstance(embeddings, Tensor):
        t = embeddings
    else:
        arr = np.ascontiguousarray(embeddings)
        t = torch.from_numpy(arr) if arr.flags.writeable else torch.tensor(arr)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    return t


# ---------------------------------------------------------------------------------------------------------------
# Pairwise (row i against row i): STS
# ---------------------------------------------------------------------------------------------------------------


def pairwise_cosine(e1: Tensor, e2: Tensor) -> Tensor:
    """Row-wise cosine: L2-normalise both sides (``F.normalize``), multiply, sum."""
    a = torch.nn.functional.normalize(e1, p=2, dim=1)
    b = torch.nn.functional.normalize(e2, p=2, dim=1)
    return (a * b).sum(dim=1)


def pairwise_neg_manhattan(e1: Tensor, e2: Tensor) -> Tensor:
    """-sum |e2 - e1| per row."""
    return -torch.abs(e2 - e1).sum(dim=1)


def pairwise_neg_euclidean_official(e1: Tensor, e2: Tensor) -> Tensor:
    """JMTEB v1.3.3's "euclidean_distance" STS candidate: -sum sqrt((e2 - e1)^2), i.e. minus the *Manhattan*
    distance (the square root is taken per coordinate, before the sum). Kept with torch's ops: its float32
    ``sqrt(square(x))`` differs from ``|x|`` in the last bit for a few values, so it is not bit-identical to
    :func:`pairwise_neg_manhattan`."""
    return -torch.sqrt(torch.square(e2 - e1)).sum(dim=1)


def pairwise_neg_euclidean(e1: Tensor, e2: Tensor) -> Tensor:
    """True negative Euclidean distance -sqrt(sum (e2 - e1)^2) (corrected mode)."""
    return -torch.sqrt(torch.square(e2 - e1).sum(dim=1))


def pairwise_dot(e1: Tensor, e2: Tensor) -> Tensor:
    """Row-wise dot product."""
    return (e1 * e2).sum(dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Pair classification scores (numpy, via scikit-learn + torch.bmm)
# ---------------------------------------------------------------------------------------------------------------


def pair_classification_scores(e1: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
    """JMTEB's ``get_similarities``: keys and order as in v1.3.3.

    ``cosine_distances`` is in fact the cosine *similarity* (1 - paired cosine distance); ``manhatten_distances``
    and ``euclidean_distances`` are distances; ``dot_similarities`` is the dot product via ``torch.bmm``.
    """
    a = np.asarray(e1)
    b = np.asarray(e2)
    n, dim = a.shape
    dot = (
        torch.bmm(torch.tensor(a).view(n, 1, dim), torch.tensor(b).view(n, dim, 1)).view(-1).numpy()
        if n
        else np.zeros(0, dtype=a.dtype)
    )
    return {
        "cosine_distances": 1 - paired_cosine_distances(a, b),
        "manhatten_distances": paired_manhattan_distances(a, b),
        "euclidean_distances": paired_euclidean_distances(a, b),
        "dot_similarities": dot,
    }


# ---------------------------------------------------------------------------------------------------------------
# Query x document matrices: retrieval / reranking
# ---------------------------------------------------------------------------------------------------------------


def matrix_cosine(q: Tensor, d: Tensor) -> Tensor:
    """Cosine similarity matrix: normalise rows, ``torch.mm``."""
    a = torch.nn.functional.normalize(q, p=2, dim=1)
    b = torch.nn.functional.normalize(d, p=2, dim=1)
    return torch.mm(a, b.transpose(0, 1))


def matrix_dot(q: Tensor, d: Tensor) -> Tensor:
    """Dot-product matrix (``torch.mm``)."""
    return torch.mm(q, d.transpose(0, 1))


def matrix_euclidean(q: Tensor, d: Tensor) -> Tensor:
    """JMTEB's Euclidean similarity 100 / (``torch.cdist`` + 1e-4) (torch's default cdist compute mode)."""
    return 100 / (torch.cdist(q, d) + 1e-4)


MATRIX_SIMILARITIES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "cosine_similarity": matrix_cosine,
    "dot_score": matrix_dot,
    "euclidean_distance": matrix_euclidean,
}
"""Retrieval and reranking candidates, in JMTEB's order (the first wins a tie on the validation metric)."""

"""JMTEB v1 scorers: one function per category, embeddings in, ``TaskScore`` out (see ``types``).

``mode="official"`` reproduces JMTEB v1.3.3 (quirks included, each documented in its scorer's docstring);
``mode="corrected"`` fixes those quirks and adds ``"mode": "corrected"`` to ``details``.
"""

from .classification import score_classification
from .clustering import score_clustering
from .metrics import (
    accuracy,
    accuracy_at_k,
    best_threshold_accuracy,
    best_threshold_f1,
    binary_f1,
    entropy,
    f1,
    homogeneity_completeness_v_measure,
    macro_f1,
    mrr_at_k,
    mutual_info,
    nan_to_zero,
    ndcg_at_k_binary,
    ndcg_at_k_graded,
    pearson,
    predict_with_threshold,
    rankdata_average,
    spearman,
    v_measure,
)
from .pair_classification import score_pair_classification
from .reranking import score_reranking
from .retrieval import score_retrieval
from .sts import score_sts
from .types import LabelledSplit, Mode, PairSplit, RerankingSplit, RetrievalSplit, TaskScore

__all__ = [
    "LabelledSplit",
    "Mode",
    "PairSplit",
    "RerankingSplit",
    "RetrievalSplit",
    "TaskScore",
    "accuracy",
    "accuracy_at_k",
    "best_threshold_accuracy",
    "best_threshold_f1",
    "binary_f1",
    "entropy",
    "f1",
    "homogeneity_completeness_v_measure",
    "macro_f1",
    "mrr_at_k",
    "mutual_info",
    "nan_to_zero",
    "ndcg_at_k_binary",
    "ndcg_at_k_graded",
    "pearson",
    "predict_with_threshold",
    "rankdata_average",
    "score_classification",
    "score_clustering",
    "score_pair_classification",
    "score_reranking",
    "score_retrieval",
    "score_sts",
    "spearman",
    "v_measure",
]

"""Dataset loading for JMTEB's JSONL schemas: local folders or the hub, strict validation, one ``DataError``."""

from .errors import DataError, EmbeddingError
from .loaders import read_corpus, read_labelled, read_pairs, read_reranking, read_retrieval
from .records import Corpus, Fields, LabelledData, PairData, RerankingData, RetrievalData
from .task_data import TaskData, load_task_data

__all__ = [
    "Corpus",
    "DataError",
    "EmbeddingError",
    "Fields",
    "LabelledData",
    "PairData",
    "RerankingData",
    "RetrievalData",
    "TaskData",
    "load_task_data",
    "read_corpus",
    "read_labelled",
    "read_pairs",
    "read_reranking",
    "read_retrieval",
]

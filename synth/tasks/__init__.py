"""Generation tasks: retrieval (the paper's two-step persona prompting), bitext, STS, classification."""

from synth.tasks.base import Sampling, Step, Task, WorkItem
from synth.tasks.classification import ClassificationTask, load_taxonomies
from synth.tasks.pairs import BitextTask, STSTask
from synth.tasks.retrieval import RetrievalTask

__all__ = [
    "BitextTask",
    "ClassificationTask",
    "RetrievalTask",
    "STSTask",
    "Sampling",
    "Step",
    "Task",
    "WorkItem",
    "load_taxonomies",
]

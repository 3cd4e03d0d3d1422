"""merge/: stream checkpoints into one (slerp, chained slerp, multi-slerp, Karcher, linear, task arithmetic, TIES;
LoRA adapters folded or merged directly), and rank merges on JMTEB through eval/ (``merge.search``).

``merge.run(recipe)`` takes a ``MergeRecipe`` or a plain mapping (the YAML form, see ``merge.recipe``).
"""

from merge.engine import MergeResult, run, validate
from merge.errors import IncompatibleCheckpoints, MergeError, PickleRefused
from merge.methods.base import METHODS, get_method
from merge.recipe import MergeRecipe, ModelEntry

__all__ = [
    "METHODS",
    "IncompatibleCheckpoints",
    "MergeError",
    "MergeRecipe",
    "MergeResult",
    "ModelEntry",
    "PickleRefused",
    "get_method",
    "run",
    "validate",
]

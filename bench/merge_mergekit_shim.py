"""Run ``mergekit-yaml`` with one workaround (used by bench/merge.py, inside mergekit's own venv).

mergekit 0.1.5 crashes on every architecture whose optional weights have aliases (BERT's
``embeddings.position_ids``): ``plan.py`` computes ``[w_in.name] + (w_in.aliases or [])`` with ``aliases`` a
tuple (TypeError). This shim does the same presence check itself — an optional weight that no input has is
skipped, as mergekit intends — and hands present ones on as non-optional, so mergekit's merge code runs unchanged.
"""

import sys

from mergekit import plan
from mergekit.scripts.run_yaml import main

_plan_tensor = plan.MergePlanner.plan_tensor


def _plan_tensor_fixed(self, weight, weights_in, models, cfg_reader):
    if weight.optional:
        present = any(
            name in plan.LoaderCache().get(model).index.tensor_paths
            for model, w_in in zip(models, weights_in)
            for name in (w_in.name, *(w_in.aliases or ()))
        )
        if not present:
            return None
        weight = weight.model_copy(update={"optional": False})
    return _plan_tensor(self, weight, weights_in, models, cfg_reader)


plan.MergePlanner.plan_tensor = _plan_tensor_fixed

if __name__ == "__main__":
    sys.argv[0] = "mergekit-yaml"
    sys.exit(main())

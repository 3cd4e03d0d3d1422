"""synth/: Japanese synthetic training data through vLLM, the Qwen3-Embedding way (recipe.md §7-8).

``python -m synth`` (Hydra, ``conf/synth/config.yaml``) runs generate -> filter -> mine -> export -> stats into
one run folder; ``synth.app.run(cfg)`` does the same from Python. Pieces usable alone:

- ``synth.engines``: ``VLLMEngine`` (offline), ``OpenAIServerEngine`` (any OpenAI-compatible server);
- ``synth.tasks``: ``RetrievalTask`` (persona config step + query step), ``BitextTask``, ``STSTask``,
  ``ClassificationTask``;
- ``synth.generate.generate``: the resumable generation loop (``synth.store.ShardStore``);
- ``synth.filter``, ``synth.mine``, ``synth.export``, ``synth.stats``: post-processing.

``import synth`` is light: nothing heavy (torch, vllm) loads until used.
"""

from __future__ import annotations

__all__ = ["run"]


def run(cfg: dict, engine=None) -> dict:
    """Run the configured stages (see ``synth.app.run``)."""
    from synth.app import run as _run

    return _run(cfg, engine=engine)

"""Reranker training (issue #8): Qwen3-style yes/no rerankers on any causal LM and cross-encoders, pointwise or
listwise, on train/'s data stream, DeepSpeed engine, checkpoints and monitor. Entry: ``python -m train.reranker``."""

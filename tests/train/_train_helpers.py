"""Helpers of the trainer tests: a tiny random BERT with dropout, built in code; small record files; a clean
environment for training subprocesses; /dev/shm cleanup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
_DIST_ENV = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "GROUP_RANK",
)


def write_tiny_bert(folder: Path, dropout: float = 0.0, seed: int = 0, pooler: bool = True) -> Path:
    """A 2-layer random BertModel (hidden 32) with a byte-level tokenizer, as a plain HF folder; ``pooler=False``
    saves no pooler weights (like multilingual-e5)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    BertModel(config, add_pooling_layer=pooler).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_records(path: Path, n: int = 24, seed: int = 0) -> Path:
    """``n`` tsumugi records with 0-3 hard negatives and mixed instructions, as JSONL."""
    import random

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            record = {
                "query": f"質問 {i}: {rng.choice(['東京', '大阪', '京都'])}の天気は?",
                "positive": f"文書 {i}。" + "晴れのち曇り。" * rng.randint(1, 4),
                "negatives": [f"別の文書 {rng.randint(0, 999)}。雨。" for _ in range(rng.randint(0, 3))],
                "instruction": None if i % 2 else "Retrieve the passage that answers the question",
                "task": "qa",
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment minus any process-group variables, offline, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _DIST_ENV}
    env.update(
        WANDB_MODE="offline", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    env.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def shm_files() -> set[str]:
    """DeepSpeed's shared-memory files in /dev/shm."""
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("deepspeed_*")} if shm.is_dir() else set()


def remove_new_shm(before: set[str]) -> None:
    """Delete the DeepSpeed /dev/shm files created since ``before``."""
    for name in shm_files() - before:
        Path("/dev/shm", name).unlink(missing_ok=True)

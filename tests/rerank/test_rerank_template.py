"""The Qwen3-Reranker prompt: exact official strings for both separators, the chat template, truncation."""

from __future__ import annotations

import pytest

from embed.rerank import FIELD_SEPS, RerankTemplate
from embed.rerank.features import CausalEncoder

# Written out by hand from the Qwen3-Reranker README: the transformers example (prefix + format_instruction +
# suffix, "\n" between fields) and the vLLM example / evaluation/qwen3_reranker_model.py ("\n\n").
README_TRANSFORMERS = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
    "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n"
    "<Query>: What is the capital of China?\n"
    "<Document>: The capital of China is Beijing.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
EVALUATION_CODE = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
    "<Instruct>: Retrieval document that can answer user's query\n\n"
    "<Query>: 東京タワーの高さは?\n\n"
    "<Document>: 東京タワーは高さ333メートルの電波塔である。<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)


def test_single_newline_matches_the_readme_transformers_example() -> None:
    got = RerankTemplate("\n").format("What is the capital of China?", "The capital of China is Beijing.")
    assert got == README_TRANSFORMERS


def test_double_newline_matches_the_evaluation_code() -> None:
    got = RerankTemplate("\n\n").format(
        "東京タワーの高さは?",
        "東京タワーは高さ333メートルの電波塔である。",
        "Retrieval document that can answer user's query",
    )
    assert got == EVALUATION_CODE


@pytest.mark.parametrize("sep", FIELD_SEPS)
def test_equals_the_qwen3_chat_template_with_thinking_off(sep, qwen3_tokenizer) -> None:
    """System + user turn through the real Qwen3 chat template, generation prompt with enable_thinking=False."""
    t = RerankTemplate(sep)
    user = f"<Instruct>: 指示{sep}<Query>: 質問{sep}<Document>: 文書"
    messages = [{"role": "system", "content": t.system}, {"role": "user", "content": user}]
    rendered = qwen3_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert t.format("質問", "文書", "指示") == rendered
    # the evaluation code: template without generation prompt + "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    plain = qwen3_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert plain + "<|im_start|>assistant\n<think>\n\n</think>\n\n" == rendered


def test_parts_rebuild_the_body_and_unknown_separator_is_rejected() -> None:
    t = RerankTemplate("\n\n")
    q = t.query_template.replace("{instruction}", "I") + "Q"
    assert (
        t.join(q, t.document_prompt + "D")
        == t.body("Q", "D", "I")
        == "<Instruct>: I\n\n<Query>: Q\n\n<Document>: D"
    )
    assert t.body("Q", "D") == t.body("Q", "D", t.default_instruction)
    with pytest.raises(ValueError, match="field_sep must be one of"):
        RerankTemplate("\r\n")


def test_truncation_cuts_the_document_and_keeps_prefix_and_suffix(qwen3_tokenizer) -> None:
    t = RerankTemplate("\n")
    enc = CausalEncoder(qwen3_tokenizer, t, max_length=80)
    short, long = enc.encode([t.body("q", "d"), t.body("q", "長い文書。" * 200)])
    assert short == qwen3_tokenizer(t.format("q", "d"), add_special_tokens=False)["input_ids"]
    assert len(long) == 80
    assert long[: len(enc.prefix_ids)] == enc.prefix_ids and long[-len(enc.suffix_ids) :] == enc.suffix_ids
    with pytest.raises(ValueError, match="leaves no room"):
        CausalEncoder(qwen3_tokenizer, t, max_length=20)

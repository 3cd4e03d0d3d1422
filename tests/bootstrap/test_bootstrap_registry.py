"""resolve_model: short names, local folders, hub ids and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from embed.bootstrap import cache, registry
from embed.bootstrap.registry import ModelNotBuiltError, UnknownModelError, known_models, resolve_model

SHORT_NAMES = {"me5-small", "qwen3-tokenizer", "qwen3-tiny", "qwen3-tiny-lm", "gemma3-270m"}


def test_known_models_lists_every_short_name_with_a_description():
    models = known_models()
    assert set(models) == SHORT_NAMES
    assert all(isinstance(d, str) and d and "\n" not in d for d in models.values())
    assert "gemma3-270m" not in registry.default_models()


def test_existing_folder_is_returned_as_is(tmp_path):
    folder = tmp_path / "my model"
    folder.mkdir()
    assert resolve_model(str(folder)) == str(folder)


@pytest.mark.parametrize(
    "hub_id", ["intfloat/multilingual-e5-small", "Qwen/Qwen3-Embedding-0.6B", "a/b.c-d_e"]
)
def test_hub_shaped_id_is_returned_unchanged(hub_id):
    assert resolve_model(hub_id) == hub_id


@pytest.mark.parametrize("bad", ["me5-smal", "/definitely/not/here", "runs/a/b", "", "org/"])
def test_unknown_input_raises_naming_it_and_the_known_names(bad):
    with pytest.raises(UnknownModelError) as err:
        resolve_model(bad)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert repr(bad) in message
    assert all(name in message for name in SHORT_NAMES)


def test_build_false_on_a_missing_model_raises_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotBuiltError, match=r"python -m embed\.bootstrap qwen3-tiny"):
        resolve_model("qwen3-tiny", build=False)
    assert not (tmp_path / "empty-cache" / "models" / "qwen3-tiny").exists()


def test_short_name_resolves_to_the_cached_folder(qwen3_tokenizer_path):
    path = resolve_model("qwen3-tokenizer", build=False)
    assert Path(path) == qwen3_tokenizer_path == cache.model_dir("qwen3-tokenizer")
    assert registry.verify("qwen3-tokenizer")["name"] == "qwen3-tokenizer"
    assert registry.verify(path)["source"]["version"] == "3.7.2"


def test_build_false_on_a_stale_model_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path / "cache"))
    folder = cache.model_dir("qwen3-tiny")
    folder.mkdir(parents=True)
    (folder / cache.MANIFEST).write_text('{"name": "qwen3-tiny", "builder_version": "0", "files": {}}')
    assert not registry.is_built("qwen3-tiny")
    with pytest.raises(ModelNotBuiltError, match="older builder"):
        resolve_model("qwen3-tiny", build=False)

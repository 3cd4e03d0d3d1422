"""The sentence-transformers ``Dense`` module (linear + activation after pooling), read and written as ST 6 does."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

# Activations a config may name without trust_remote_code: torch.nn classes only, by their full name.
_ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.GELU": nn.GELU,
    "torch.nn.modules.activation.SiLU": nn.SiLU,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
}


class Dense(nn.Module):
    """``activation(linear(x))`` (plus an optional residual), weights named like ST's ``linear.weight``/``linear.bias``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: str = "torch.nn.modules.activation.Tanh",
        use_residual: bool = False,
    ) -> None:
        super().__init__()
        if activation_function not in _ACTIVATIONS:
            raise ValueError(
                f"unsupported Dense activation {activation_function!r}; supported: {', '.join(sorted(_ACTIVATIONS))}"
            )
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        self.activation_name = activation_function
        self.use_residual = use_residual
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = _ACTIVATIONS[activation_function]()
        if use_residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to pooled embeddings ``(B, in_features)``."""
        out = self.activation(self.linear(x))
        if self.use_residual:
            out = out + (self.residual(x) if hasattr(self, "residual") else x)
        return out

    def config(self) -> dict:
        """The ``config.json`` sentence-transformers 6 writes for this module."""
        cfg = {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation_function": self.activation_name,
            "module_input_name": "sentence_embedding",
            "module_output_name": "sentence_embedding",
        }
        if self.use_residual:
            cfg["use_residual"] = True
        return cfg

    @classmethod
    def load(cls, folder: str | Path) -> Dense:
        """Read ``config.json`` and ``model.safetensors`` from an ST ``N_Dense`` folder."""
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        weights = folder / "model.safetensors"
        if not weights.is_file():
            pickles = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
            what = f"only pickle weights ({', '.join(pickles)})" if pickles else "no weights"
            raise ValueError(f"Dense module {folder} has {what}; expected model.safetensors")
        layer = cls(
            in_features=int(cfg["in_features"]),
            out_features=int(cfg["out_features"]),
            bias=bool(cfg.get("bias", True)),
            activation_function=cfg.get("activation_function", "torch.nn.modules.activation.Tanh"),
            use_residual=bool(cfg.get("use_residual", False)),
        )
        layer.load_state_dict(load_file(str(weights)))
        return layer

    def save(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config(), indent=4), encoding="utf-8")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})

"""Tiny Hugging Face models built from configs (no download), for ``optfn plan``.

From the repository root, with the dev venv (transformers is a dev dependency)::

    PYTHONPATH=. .venv/bin/optfn plan --model examples.zoo_models:llama \\
        --config examples/muon_hidden_matrices.toml
    PYTHONPATH=. .venv/bin/optfn plan --model examples.zoo_models:vit \\
        --config examples/muon_hidden_matrices.toml
"""

from __future__ import annotations

from torch import nn


def llama() -> nn.Module:
    """A 1-layer Llama (RMSNorm gains, tied-free embeddings and LM head)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    return LlamaForCausalLM(config)


def vit() -> nn.Module:
    """A 1-layer ViT classifier (class token, position parameters, patch convolution)."""
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    return ViTForImageClassification(config)

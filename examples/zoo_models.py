"""Tiny Hugging Face models built from configs (no download): for ``optfn plan`` and the
model-zoo tests (``tests/convert/test_zoo_hf.py``, ``benchmarks/zoo_hf.py``).

From the repository root, with the dev venv (transformers is a dev dependency)::

    PYTHONPATH=. .venv/bin/optfn plan --model examples.zoo_models:llama \\
        --config examples/muon_hidden_matrices.toml
    PYTHONPATH=. .venv/bin/optfn plan --model examples.zoo_models:vit \\
        --config examples/muon_hidden_matrices.toml
"""

from __future__ import annotations

from typing import Any

from torch import nn

#: The size every model shares: hidden 16, 2 heads, MLP 32, vocabulary 64.
_SMALL: dict[str, Any] = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32}


def _decoder(name: str, layers: int) -> nn.Module:
    import transformers

    config = getattr(transformers, f"{name}Config")(
        **_SMALL, num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1
    )
    model: nn.Module = getattr(transformers, f"{name}ForCausalLM")(config)
    return model


def llama(layers: int = 1) -> nn.Module:
    """A Llama (RMSNorm gains, embeddings and an LM head)."""
    return _decoder("Llama", layers)


def qwen2(layers: int = 1) -> nn.Module:
    """A Qwen2 (as Llama, with attention biases)."""
    return _decoder("Qwen2", layers)


def bert(layers: int = 1) -> nn.Module:
    """A BERT encoder (``LayerNorm`` modules, position and token-type embeddings)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        **_SMALL, num_hidden_layers=layers, num_attention_heads=2, max_position_embeddings=32
    )
    return BertModel(config)


def gpt2(layers: int = 1) -> nn.Module:
    """A GPT-2 (``Conv1D`` projections, tied embeddings and LM head)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=64, n_embd=16, n_layer=layers, n_head=2, n_positions=32, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def t5(layers: int = 1) -> nn.Module:
    """A T5 (``T5LayerNorm``, relative-attention bias tables, a shared embedding)."""
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=layers, num_heads=2)
    return T5ForConditionalGeneration(config)


def vit(layers: int = 1) -> nn.Module:
    """A ViT classifier (class token, position parameters, patch convolution)."""
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=layers,
        num_attention_heads=2, intermediate_size=32, num_labels=3,
    )  # fmt: skip
    return ViTForImageClassification(config)


#: Every builder by name.
MODELS = {"bert": bert, "gpt2": gpt2, "llama": llama, "qwen2": qwen2, "t5": t5, "vit": vit}

"""Sanity checks of the modded-nanogpt reference against facts of the original train_gpt.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.recipes import ref_modded_nanogpt as ref


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    return ref.reference_param_groups(ref.build_model())


def _by_label(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["label"]: g for g in groups}


def test_parameters_labels_banks_and_dtypes() -> None:
    model = ref.build_model()
    labels = [p.label for p in model.parameters()]  # type: ignore[attr-defined]
    assert labels == [
        "value_embeds", "ve_gate_bank", "qk_bank", "vo_bank", "mlp_bank", "post_lambdas",
        "resid_lambdas", "scalars", "mudd_w1", "mudd_w2", "mudd_b2", "_mudd_gate_scale",
        "mudd_gate_w1", "mudd_gate_w2", "mudd_gate_b2", "lm_head", "embed", "smear_gate",
        "bigram_embed",
    ]  # fmt: skip
    # 10 attention layers x 2 x 3 head pairs = 60 QK matrices padded to 64 (8 GPUs); 20 VO
    # matrices padded to 24; 12 MLP layers x (c_fc, c_proj) = 24.
    assert model.qk_bank.reshape == (64, 16, 48)
    assert model.vo_bank.reshape == (24, 48, 48)
    assert model.mlp_bank.shape == (12, 2, 192, 48)
    assert model.mlp_bank.reshape == (24, 192, 48)
    assert model.lm_head.weight.shape == model.embed.weight.T.shape
    assert torch.equal(model.lm_head.weight, model.embed.weight.T)  # tied at init
    fp32 = {n for n, p in model.named_parameters() if p.dtype == torch.float32}
    assert fp32 == {"post_lambdas", "resid_lambdas", "scalars", "_mudd_gate_scale"}
    assert model.scalars.shape == (24,)


def test_full_size_shapes_on_the_record_config() -> None:
    # The full model is ~0.9 B parameters: check the shape arithmetic, not the tensors.
    from tests.recipes.vendor.modded_nanogpt import train_gpt as orig

    assert orig.next_multiple_of_n(50257, n=128) == 50304
    assert ref._SIZES["full"]["bigram_vocab_size"] == 377280
    assert ref._SIZES["full"]["max_seq_len"] == 262144
    assert 6 * ref._SIZES["full"]["head_dim"] == 768


def test_parameter_table(groups: list[dict[str, Any]]) -> None:
    by = _by_label(groups)
    assert len(groups) == 19
    assert {label for label, g in by.items() if g["optim"] == "normuon"} == {
        "qk_bank",
        "vo_bank",
        "mlp_bank",
    }
    for label in ("qk_bank", "vo_bank", "mlp_bank"):
        g = by[label]
        assert (g["initial_lr"], g["weight_decay"], g["momentum"], g["beta2"]) == (
            0.023,
            1.2,
            0.95,
            0.9,
        )
    # shape factor sqrt(max(1, rows/cols)): MLP matrices are 4:1 -> 2, QK 1:3 and VO 1:1 -> 1.
    assert by["mlp_bank"]["lr_mul"] == 2.0
    assert by["qk_bank"]["lr_mul"] == by["vo_bank"]["lr_mul"] == 1.0
    assert by["mlp_bank"]["per_matrix_lr_mul"] == [1.0, 2.0] * 12
    assert by["qk_bank"]["per_matrix_lr_mul"] is None
    adam = {label: g for label, g in by.items() if g["optim"] == "adam"}
    assert all(g["initial_lr"] == 0.008 and g["eps"] == 1e-10 for g in adam.values())
    assert all(g["weight_decay"] == 0.005 for g in adam.values())
    expected = {
        "scalars": ((0.9, 0.99), 5.0, 0.0),
        "smear_gate": ((0.9, 0.99), 0.01, 0.0),
        "ve_gate_bank": ((0.9, 0.99), 1.0, 1.0),
        "lm_head": ((0.5, 0.95), 1.0, 150.0),
        "embed": ((0.5, 0.95), 1.0, 150.0),
        "bigram_embed": ((0.75, 0.95), 75.0, 5.0),
        "value_embeds": ((0.75, 0.95), 75.0, 5.0),
        "post_lambdas": ((0.9, 0.95), 1.0, 0.0),
        "resid_lambdas": ((0.9, 0.95), 5.0, 0.0),
        "mudd_w1": ((0.9, 0.99), 0.25, 1.0),
        "mudd_b2": ((0.9, 0.99), 0.25, 0.0),
        "mudd_gate_w2": ((0.9, 0.99), 0.1, 1.0),
        "_mudd_gate_scale": ((0.9, 0.99), 0.1, 0.0),
    }
    for label, (betas, lr_mul, wd_mul) in expected.items():
        assert (adam[label]["adam_betas"], adam[label]["lr_mul"], adam[label]["wd_mul"]) == (
            betas,
            lr_mul,
            wd_mul,
        ), label
    assert ref.REFERENCE_OPTIMIZER is None
    assert ref.REFERENCE_DEFAULTS["adam"]["lr"] == by["scalars"]["initial_lr"]
    assert ref.REFERENCE_DEFAULTS["normuon"]["lr"] == by["qk_bank"]["initial_lr"]


def test_lr_schedule_stages_and_cooldown(groups: list[dict[str, Any]]) -> None:
    assert ref.RUN["steps"] == 1285
    assert ref.RUN["stage_boundaries"] == [(0, 423), (423, 847), (847, 1270), (1270, 1285)]
    assert ref.RUN["cooldown_start"] == 508
    assert ref.RUN["split_step"] == 847
    by = _by_label(groups)
    qk, adam = by["qk_bank"], by["scalars"]

    def lr_at(step: int) -> float:
        ref.apply_schedule(groups, step)
        return float(qk["lr"])

    assert lr_at(0) == 0.023
    assert lr_at(422) == 0.023
    assert lr_at(423) == 0.023 * 1.52  # stage 2, before the cool-down
    assert lr_at(507) == 0.023 * 1.52
    t = (700 - 508) / (1270 - 508)
    assert lr_at(700) == 0.023 * (1.52 * (1 - t) + 0.15 * t)
    t = (847 - 508) / 762
    assert lr_at(847) == 0.023 * (1.73 * (1 - t) + 0.15 * t)
    assert lr_at(1270) == 0.023 * 0.15  # extension stage: the floor
    assert lr_at(1284) == 0.023 * 0.15
    ref.apply_schedule(groups, 1284)
    assert adam["lr"] == 0.008 * 0.15
    assert "momentum" in adam and adam["momentum"] is None  # Adam has no scheduled momentum


def test_muon_momentum_warmup_and_cooldown(groups: list[dict[str, Any]]) -> None:
    qk = _by_label(groups)["qk_bank"]

    def mom(step: int) -> float:
        ref.apply_schedule(groups, step)
        return float(qk["momentum"])

    assert mom(0) == 0.85
    assert mom(150) == pytest.approx(0.90, abs=1e-15)
    assert mom(300) == 0.95
    assert mom(1235) == 0.95  # cool-down starts after total_steps - 50
    assert mom(1236) == pytest.approx(0.95 - 0.1 / 50, abs=1e-15)
    assert mom(1284) == pytest.approx(0.852, abs=1e-15)


def test_adam_steps_only_on_odd_steps() -> None:
    assert [ref.is_adam_step(s) for s in range(4)] == [False, True, False, True]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        ref.build_model("huge")
    with pytest.raises(ValueError, match="world_size"):
        ref.build_model(world_size=3)
    with pytest.raises(ValueError, match="step"):
        ref.apply_schedule([], -1)

"""Which optimizer implementation training builds: fused where torch and Lightning allow it,
what the config says where it says anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtagger.train import train
from seqtagger.training.optim import build_optimizer, fused_option
from tests.helpers import compose_train, tiny_ner_overrides

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
GROUPED = {
    "_target_": "seqtagger.training.optim.grouped_optimizer",
    "_partial_": True,
    "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True},
    "lr": 1e-3,
    "groups": [{"prefix": "0.", "lr": 1e-4}],
}


@pytest.mark.parametrize(
    ("config", "mixed", "expected"),
    [
        (ADAM, False, {"fused": True}),
        (GROUPED, False, {"fused": True}),
        (ADAM, True, {}),  # Lightning's mixed precision refuses clipping with a fused optimizer
        ({**ADAM, "foreach": False}, False, {}),
        ({**ADAM, "fused": False}, False, {}),
        ({**GROUPED, "optimizer": {**GROUPED["optimizer"], "foreach": True}}, False, {}),
        ({"_target_": "torch.optim.Adadelta", "_partial_": True}, False, {}),  # no fused kernel
    ],
)
def test_fused_where_the_optimizer_takes_it_and_the_config_leaves_it_open(
    config: dict, mixed: bool, expected: dict
) -> None:
    assert fused_option(config, mixed) == expected
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    optimizer = build_optimizer(config, model.named_parameters(), mixed_precision=mixed)
    assert bool(optimizer.defaults.get("fused")) == bool(expected)


def test_fused_and_per_tensor_adam_take_the_same_steps() -> None:
    """Fused is an implementation, not a different optimizer: the same updates to rounding."""
    torch.manual_seed(0)
    start = torch.nn.Linear(6, 4)
    models = [torch.nn.Linear(6, 4) for _ in range(2)]
    for model in models:
        model.load_state_dict(start.state_dict())
    optimizers = [
        build_optimizer(ADAM, models[0].named_parameters()),
        build_optimizer({**ADAM, "fused": False}, models[1].named_parameters()),
    ]
    inputs = torch.randn(8, 6)
    for _ in range(5):
        for model, optimizer in zip(models, optimizers, strict=True):
            optimizer.zero_grad()
            model(inputs).square().sum().backward()
            optimizer.step()
    for fused, plain in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("precision", "fused"), [("32-true", True), ("bf16-mixed", None)])
def test_training_fuses_in_full_precision_and_clips_under_mixed_precision(
    tiny_ner_dir: Path, tmp_path: Path, precision: str, fused: bool | None
) -> None:
    """The trainer's precision decides; bf16-mixed with clipping trains instead of stopping on
    Lightning's refusal. The checkpoint's optimizer state records the choice."""
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir, "transformer"),  # bf16 LSTMs need oneDNN support
        f"trainer.precision={precision}",
        "trainer.gradient_clip_val=1.0",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "test=false",
    ]
    train(compose_train(overrides, tmp_path))
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    groups = checkpoint["optimizer_states"][0]["param_groups"]
    assert {group["fused"] for group in groups} == {fused}

"""A NaN loss stops the run with one message and keeps the last good checkpoint; running out of
GPU memory names the batch's shape and the way out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning import Trainer

from seqtagger.checkpoint import load_checkpoint
from seqtagger.errors import NonFiniteLossError, OutOfMemoryError
from seqtagger.lightning_module import TaggerModule
from seqtagger.training.faults import FaultGuard, out_of_memory_hint
from tests.helpers import run_hydra_main, tiny_ner_overrides

NAN_STEP = 20  # in the second epoch: the first one's last.ckpt is the last good checkpoint


def test_nan_loss_stops_with_the_step_and_sentences_and_keeps_last_checkpoint(
    tiny_ner_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from seqtagger.train import main

    poisoned: list[list[int]] = []
    model_step = TaggerModule.model_step

    def nan_at_one_step(self: TaggerModule, batch, **options):
        step = model_step(self, batch, **options)
        if self.training and self.global_step == NAN_STEP:
            poisoned.append(batch["index"].tolist())
            step = step._replace(loss=step.loss * float("nan"))
        return step

    monkeypatch.setattr(TaggerModule, "model_step", nan_at_one_step)
    run = tmp_path / "run"
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=cpu", "logger=csv", "seed=1"]
    args += ["trainer.max_epochs=3", "callbacks.early_stopping=null", f"hydra.run.dir={run}"]
    code, err = run_hydra_main(main, ["seqtagger-train", *args], monkeypatch, capsys)

    assert code == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    rows = ", ".join(str(row) for row in poisoned[0])
    assert last.startswith(f"seqtagger-train: error: the training loss is nan at step {NAN_STEP}")
    assert f"the batch holds training sentences {rows} (0-based)" in last
    assert "model.optimizer.lr=" in last and "trainer.precision=32-true" in last
    assert "model.embedding.pretrained=" in last and "Traceback" not in err
    kept = run / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is kept: {kept}" in last
    checkpoint = load_checkpoint(kept)  # loads, and is the end of the first epoch
    assert checkpoint["epoch"] == 0 and checkpoint["global_step"] < NAN_STEP
    assert all(torch.isfinite(w).all() for w in checkpoint["state_dict"].values())


def test_out_of_memory_names_the_batch_shape_and_batch_unit_tokens() -> None:
    guard = FaultGuard()
    batch = {"mask": torch.ones(64, 212, dtype=torch.bool), "index": torch.arange(64)}
    guard.on_validation_batch_start(None, None, batch, 3)
    trainer = Trainer(callbacks=[guard], logger=False, enable_checkpointing=False)

    with pytest.raises(OutOfMemoryError) as raised, out_of_memory_hint(trainer):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    message = str(raised.value)
    assert message.startswith("out of GPU memory on the validation batch of 64 sentences x 212")
    assert "data.batch_unit=tokens data.batch_size=4000" in message
    assert "Tried to allocate 2.00 GiB" in message


def test_infinite_crf_loss_names_the_ill_formed_gold_not_the_learning_rate(
    tiny_checkpoint: Path,
) -> None:
    """A gold path the constrained CRF forbids (a chunk cut by ``data.max_length`` was one)
    gives an infinite loss: the message named a learning rate too high and half precision."""
    checkpoint = load_checkpoint(tiny_checkpoint)
    crf = {"_target_": "seqtagger.models.crf.CRFHead"}
    hparams = {**checkpoint["hyper_parameters"], "head": crf}
    module = TaggerModule(**hparams, data_info=checkpoint["seqtagger"], read_pretrained=False)
    tags = [["O", "B-PER", "E-PER"], ["I-LOC", "E-LOC", "O"], ["S-ORG", "O", "O"]]
    ids = [[module.labels.index(tag) for tag in row] for row in tags]
    batch = {
        "token_ids": torch.full((3, 3), 2),
        "char_ids": torch.full((3, 3, 2), 2),
        "tag_ids": torch.tensor(ids),
        "mask": torch.ones(3, 3, dtype=torch.bool),
        "lengths": torch.tensor([3, 3, 3]),
        "index": torch.tensor([40, 41, 42]),
    }
    loss = module.model_step(batch, decode=False).loss
    assert torch.isinf(loss)

    guard = FaultGuard()
    trainer = Trainer(callbacks=[guard], logger=False, enable_checkpointing=False)
    guard.on_train_batch_start(trainer, module, batch, 0)
    with pytest.raises(NonFiniteLossError) as raised:
        guard.on_before_backward(trainer, module, loss)
    message = str(raised.value)
    assert message.startswith("the training loss is inf at step 0 (epoch 0, batch 0): the gold")
    assert "training sentences 41: 'I-LOC' first (0-based)" in message
    assert "not well formed in data.train_scheme=bioes" in message
    assert "learning rate too high" not in message and "model.head.constrained=false" in message

"""Recipe switches of the accuracy issue: locked dropout and weight averaging (EMA).

Each is off by default and switched on in config; these tests pin what each one does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqtagger.eval import evaluate
from seqtagger.inference.predictor import Predictor
from seqtagger.models.dropout import LockedDropout, sequence_dropout
from seqtagger.train import train
from tests.helpers import compose_config, compose_train, tiny_ner_overrides


def test_locked_dropout_shares_one_mask_across_the_tokens_of_a_sentence():
    dropout = LockedDropout(0.5).train()
    x = torch.ones(3, 7, 40)
    out = dropout(x)
    assert torch.equal(out, out[:, :1, :].expand_as(out))  # the same mask at every token
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept values scaled by 1 / (1 - p)
    assert not torch.equal(out[0], out[1])  # one mask per sentence
    assert torch.equal(dropout.eval()(x), x)


def test_sequence_dropout_picks_the_kind():
    assert isinstance(sequence_dropout(0.3, locked=True), LockedDropout)
    assert isinstance(sequence_dropout(0.3), torch.nn.Dropout)


def test_locked_dropout_is_a_config_switch(tiny_ner_dir, tmp_path):
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "callbacks.rich_progress_bar=null"]
    overrides += ["model.embedding.locked_dropout=true", "model.head.locked_dropout=true"]
    overrides += ["trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    metrics = train(compose_train(overrides, tmp_path / "run"))
    assert "test/f1" in metrics
    model = Predictor.from_checkpoint(next((tmp_path / "run").rglob("epoch_*.ckpt"))).model
    assert isinstance(model.tagger.embedder.dropout, LockedDropout)
    assert isinstance(model.tagger.head.dropout, LockedDropout)


def test_weight_averaging_checkpoints_and_tests_the_average(tiny_ner_dir, tmp_path: Path):
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "callbacks.rich_progress_bar=null"]
    overrides += ["callbacks=[default,weight_averaging]", "callbacks.weight_averaging.decay=0.5"]
    overrides += ["trainer.max_epochs=2", "callbacks.early_stopping=null"]
    metrics = train(compose_train(overrides, tmp_path / "run"))
    assert "test/f1" in metrics
    path = next((tmp_path / "run").rglob("last.ckpt"))
    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged)
    loaded = Predictor.from_checkpoint(path).model.tagger.state_dict()
    assert all(torch.equal(loaded[k], averaged[f"tagger.{k}"]) for k in loaded)
    assert len(loaded) == len(averaged)
    # the test after fit scores the best checkpoint's average, as seqtagger-eval does
    best = sorted((tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt"))[-1]
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path / "eval")
    assert abs(evaluate(cfg)["test"]["f1"] - metrics["test/f1"]) < 1e-6

"""Adding a head is one class plus one config: a head defined only here trains, evaluates and
predicts through the real entry points, with nothing else changed.

``SubsetHead`` scores every label but decodes only over a subset (here: never the last label of
the label map), the kind of constraint a user might add. It is named on the command line by
``_target_``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from seqtagger.constants import IGNORE_INDEX
from seqtagger.eval import evaluate
from seqtagger.lightning_module import TaggerModule
from seqtagger.models.heads import LinearHead
from seqtagger.predict import main as predict_main
from seqtagger.train import train
from tests.helpers import compose_config, compose_train, run_hydra_main, tiny_ner_overrides


class SubsetHead(LinearHead):
    """A linear head whose decoding never emits the last ``forbid_last`` labels."""

    def __init__(self, *args, forbid_last: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        allowed = torch.ones(self.num_labels, dtype=torch.bool)
        allowed[self.num_labels - forbid_last :] = False
        self.register_buffer("allowed", allowed, persistent=False)

    def decode(self, logits: Tensor, mask: Tensor) -> Tensor:
        masked = logits.masked_fill(~self.allowed, float("-inf"))
        return masked.argmax(dim=-1).masked_fill(~mask, IGNORE_INDEX)


def test_a_head_defined_in_a_test_trains_evaluates_and_predicts(
    tiny_ner_dir: Path, tmp_path: Path, capsys
) -> None:
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir),
        "trainer.max_epochs=4",
        "model.optimizer.lr=0.02",
        f"model.head._target_={__name__}.SubsetHead",
        "+model.head.forbid_last=1",
    ]
    run = tmp_path / "run"
    metrics = train(compose_train(overrides, run))
    assert metrics["test/f1"] > 0.9

    checkpoint = sorted((run / "checkpoints").glob("epoch_*.ckpt"))[-1]
    module = TaggerModule.from_checkpoint(checkpoint)
    assert type(module.tagger.head) is SubsetHead
    forbidden = module.labels[-1]  # BIOES labels sort alphabetically: an S- tag

    eval_cfg = compose_config("eval", [f"ckpt_path={checkpoint}", "device=cpu"], tmp_path / "ev")
    results = evaluate(eval_cfg)
    assert abs(results["test"]["f1"] - metrics["test/f1"]) < 1e-6
    predicted = (tmp_path / "ev" / "test" / "predictions.conll").read_text().split()[2::3]
    assert forbidden.startswith("S-") and "B-" + forbidden[2:] in predicted  # test file: IOB2

    source = tmp_path / "in.txt"
    source.write_text("Anna visited the United Nations in Oslo .\nEU met Acme Corp .\n")
    capsys.readouterr()  # drop what training and evaluation printed
    args = ["--ckpt", str(checkpoint), "--format", "jsonl", "--scheme", "bioes", str(source)]
    assert predict_main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2 and all(forbidden not in r["tags"] for r in records)


class BrokenHead(LinearHead):
    """A head with a bug: its forward raises a plain ValueError."""

    def forward(self, features: Tensor) -> Tensor:
        raise ValueError("bug inside the model")


def test_a_bug_keeps_its_traceback_and_a_user_error_does_not(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A ValueError from a model's forward is a bug: traceback, exit 1. A bad corpus file is the
    user's: one message, exit 2."""
    from seqtagger.train import main

    base = [o for o in tiny_ner_overrides(tiny_ner_dir) if o != "callbacks.rich_progress_bar=null"]
    base += [
        "trainer.accelerator=cpu",
        "callbacks.rich_progress_bar=null",
        "extras.print_config=false",
    ]
    bug = [*base, f"model.head._target_={__name__}.BrokenHead", f"hydra.run.dir={tmp_path / 'a'}"]
    code, err = run_hydra_main(main, ["seqtagger-train", *bug], monkeypatch, capsys)
    assert code == 1
    assert "Traceback" in err and "ValueError: bug inside the model" in err
    assert "seqtagger-train: error:" not in err

    bad = tmp_path / "bad.txt"
    bad.write_text("Anna B-PER\nsaw\n\n")
    user = [*base, f"data.files.train={bad}", f"hydra.run.dir={tmp_path / 'b'}"]
    code, err = run_hydra_main(main, ["seqtagger-train", *user], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"seqtagger-train: error: {bad}:2:")

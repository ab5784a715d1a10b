"""A model that predicts one tag on every token (``O`` everywhere: test F1 0.00) is named at the
end of the run, in the console and ``train.log``; counting the tags costs no host read a step."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from seqtagger.metrics.predicted import TagCounts, single_tag_note
from seqtagger.models.heads import LinearHead
from tests.helpers import tiny_ner_overrides
from tests.reliability.test_bad_input import train_cli

LABELS = ["B-PER", "E-PER", "I-PER", "O", "S-LOC"]


def test_tag_counts_count_predicted_and_gold_tokens_but_not_padding(monkeypatch) -> None:
    pred = torch.tensor([[3, 3, 3], [3, 3, -100]])
    gold = torch.tensor([[0, 2, 1], [4, 3, -100]])
    counts = TagCounts(len(LABELS))

    def read(*args, **kwargs):
        raise AssertionError("a tensor value was read back to the host in update()")

    for name in ("__bool__", "item", "tolist", "nonzero"):
        monkeypatch.setattr(Tensor, name, read)
    counts.update(pred, gold)
    counts.update(pred[:1], gold[:1])
    monkeypatch.undo()
    assert counts.compute().tolist() == [[0, 0, 0, 8, 0], [2, 2, 2, 1, 1]]


def test_single_tag_note_names_the_tag_and_the_split() -> None:
    all_o = torch.tensor([[0, 0, 0, 8, 0], [2, 2, 2, 1, 1]])
    note = single_tag_note(all_o, LABELS, "test", has_spans=True)
    assert note.startswith("The final model finds no span on test, so its test/f1 is 0: it ")
    assert "predicts 'O' on every one of the 8 test tokens, where the gold has 7 tokens in" in note
    note = single_tag_note(all_o, LABELS, "val", has_spans=False)
    assert note.startswith("The final model predicts 'O' on every one of the 8 dev tokens, where")
    assert "where the gold has 5 tags" in note and "train longer" in note
    two_tags = torch.tensor([[0, 0, 0, 7, 1], [2, 2, 2, 1, 1]])
    assert single_tag_note(two_tags, LABELS, "test", has_spans=True) is None
    only_o = torch.tensor([[0, 0, 0, 8, 0], [0, 0, 0, 8, 0]])  # the gold is all O too: right
    assert single_tag_note(only_o, LABELS, "test", has_spans=True) is None


def test_all_but_a_handful_of_tokens_count_as_one_tag() -> None:
    """The CoNLL-2003 BiLSTM-CRF stopped after 30 batches: 'O' on 46,434 test tokens and
    'I-MISC' on one (test F1 0.00)."""
    counts = torch.tensor([[0, 0, 1, 46_434, 0], [3_000, 3_000, 1_000, 38_000, 1_435]])
    note = single_tag_note(counts, LABELS, "test", has_spans=True)
    assert note.startswith("The final model finds almost no span on test: it predicts 'O' on ")
    assert "46,434 of the 46,435 test tokens (all but 1), where the gold has 8,435 tokens" in note
    counts[0, 2] = 47  # 1 in 1000 tokens is a model that tags something
    assert single_tag_note(counts, LABELS, "test", has_spans=True) is None


def test_a_run_whose_model_tags_everything_o_says_so(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``experiment=conll2003_bilstm_crf`` stopped after 30 batches ended with test F1 0.00
    and no word about it."""

    def everything_o(self: LinearHead, logits: Tensor, mask: Tensor) -> Tensor:
        return torch.full_like(mask, self.labels.index("O"), dtype=torch.long).masked_fill(
            ~mask, -100
        )

    monkeypatch.setattr(LinearHead, "decode", everything_o)
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0, err[-2000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "The final model finds no span on dev, so its val/f1 is 0: it predicts 'O' on" in log
    assert "The final model finds no span on test, so its test/f1 is 0: it predicts 'O' on" in log
    assert "tokens in spans. It has not learned the task yet: train longer" in log

"""``checkpoints/MODEL_CARD.md`` (docs/models.md): written at the end of a training run from what
the run knew, its licence from the corpus table or ``data.licence``, and test metrics read by
name, so several tasks get their per-type rows too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import hydra

from seqtagger.data.corpora import CORPORA
from seqtagger.training.model_card import (
    CARD_FILE,
    corpus_and_licence,
    describe_tagset,
    score_lines,
    task_records,
)
from tests.helpers import compose_train, tiny_ner_overrides


def curve_rows(card: str) -> list[str]:
    """The dev curve's table rows (``| epoch | step | ...``)."""
    curve = card.split("## Dev curve", 1)[1].split("##", 1)[0]
    return re.findall(r"^\| \d+ \| \d+ \|.*$", curve, flags=re.MULTILINE)


def test_a_training_run_writes_its_model_card(tiny_run: Path) -> None:
    card = (tiny_run / "checkpoints" / CARD_FILE).read_text(encoding="utf-8")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert card.startswith(f"# Model card: {tiny_run.name}\n")
    assert "- Corpus: `train.txt`" in card and "- Licence: unknown" in card
    assert "- Task `tags`: 3 entity types (LOC, ORG, PER), trained in BIOES (files in IOB2)" in card
    assert "```\nseqtagger-train data=files model=bilstm " in card
    assert " trainer.max_epochs=3 " in card
    encoder = "`seqtagger.models.encoders.BiLSTMEncoder` | hidden_size 32, num_layers 1 |"
    assert f"| encoder | {encoder}" in card
    assert f"| test/f1 | {metrics['test/f1']:.4f} |" in card
    assert f"| test/acc | {metrics['test/acc']:.4f} |" in card
    assert "| type | f1 | precision | recall |" in card
    for kind in ("LOC", "ORG", "PER"):
        values = [metrics[f"test/{name}/{kind}"] for name in ("f1", "precision", "recall")]
        assert f"| {kind} | {' | '.join(f'{v:.4f}' for v in values)} |" in card
    rows = curve_rows(card)
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2", "3"]
    assert sum("**" in row for row in rows) == 1  # the best epoch's headline value
    best = r"Best: epoch \d \(val/f1 [\d.]+\), the checkpoint `best.ckpt` -> `epoch_00\d.ckpt`"
    assert re.search(best, card)
    assert re.search(r"- Wall time: \d+ (s|min)", card) and "- Devices: 1 x CPU" in card
    assert "## Intended use and limits" in card
    assert "the licence of the training data is unknown" in card


def test_test_metrics_of_several_tasks_are_read_by_name(tmp_path: Path) -> None:
    """``test/ner/f1/LOC`` is a per-type value of task ner; ``test/upos/acc`` an overall one."""
    metrics = {
        "test/acc": 0.9,
        "test/ner/f1": 0.8,
        "test/ner/f1/LOC": 0.5,
        "test/ner/recall/LOC": 0.25,
        "test/upos/acc": 0.95,
        "val/acc": 0.1,
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    tasks = [
        {"name": "ner", "labels": ["O", "B-LOC", "I-LOC"], "train_scheme": "iob2"},
        {"name": "upos", "labels": ["NOUN", "VERB"], "train_scheme": "plain"},
    ]
    lines = score_lines(tmp_path / "metrics.json", tasks)
    assert [line for line in lines if line.startswith("| test/")] == [
        "| test/acc | 0.9000 |",
        "| test/ner/f1 | 0.8000 |",
        "| test/upos/acc | 0.9500 |",
    ]
    assert "| type | f1 | recall |" in lines and "| ner/LOC | 0.5000 | 0.2500 |" in lines
    (tmp_path / "metrics.json").write_text(json.dumps({"val/acc": 0.1}))
    assert score_lines(tmp_path / "metrics.json", tasks)[0].startswith("No test scores")


def test_the_licence_comes_from_data_licence_else_the_named_corpus(tiny_ner_dir, tmp_path) -> None:
    """A corpus of one's own files has an unknown licence until ``data.licence`` gives it."""

    def data(**given: object) -> SimpleNamespace:
        return SimpleNamespace(**{"corpus": None, "files": None, "licence": None, **given})

    own = {"train": "mine/train.conll"}
    assert corpus_and_licence(data(files=own)) == ("mine/train.conll", "unknown")
    assert corpus_and_licence(data(files=own, licence="CC0")) == ("mine/train.conll", "CC0")
    named = corpus_and_licence(data(corpus="conll2003"))
    assert named == ("conll2003", CORPORA["conll2003"].license)
    cfg = compose_train([*tiny_ner_overrides(tiny_ner_dir), "data.licence='CC BY 4.0'"], tmp_path)
    assert hydra.utils.instantiate(cfg.data).licence == "CC BY 4.0"


def test_the_tasks_come_from_the_data_record_of_either_format() -> None:
    """Several tasks (labels as vocabulary records, one headline), one task of a record written
    before tasks (labels among the vocabularies), and a module of one's own without a record."""
    tasks = task_records(
        {
            "vocabs": {"words": {"itos": ["<pad>", "a"]}},
            "tasks": [
                {"name": "upos", "labels": {"itos": ["NOUN", "VERB"]}, "train_scheme": "plain"}
                | {"file_scheme": "plain", "headline": False},
                {"name": "ner", "labels": {"itos": ["O", "B-PER", "I-PER"]}, "headline": True}
                | {"file_scheme": "iob1", "train_scheme": "iob2"},
            ],
        }
    )
    assert [(task["name"], task["headline"]) for task in tasks] == [("upos", False), ("ner", True)]
    assert describe_tagset(tasks[0]) == "2 tags (NOUN, VERB), trained in PLAIN"
    assert describe_tagset(tasks[1]) == "1 entity type (PER), trained in IOB2 (files in IOB1)"
    before = {"vocabs": {"labels": {"itos": ["NOUN"]}}, "train_scheme": "plain"}
    assert [(task["name"], task["labels"]) for task in task_records(before)] == [("tags", ["NOUN"])]
    assert task_records({}) == []

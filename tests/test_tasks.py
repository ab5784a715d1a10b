"""Several tag layers in one model: the task config, per-task columns, padding, loss weights,
metric names, per-task errors and schemes, and a task added by config alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.datamodule import TaggingDataModule
from seqtagger.data.tasks import DEFAULT_TASK, Task, tasks_from_config
from seqtagger.errors import ConfigError, CorpusFormatError, SchemeError
from seqtagger.models.tagger import build_tagger
from seqtagger.train import train
from tests.helpers import compose_train, make_ner_sentence, write_pos_ner

LAYERS = {"pos": (1, "plain"), "ner": (2, "iob2")}


@pytest.fixture(scope="module")
def layers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("layers")
    rng = random.Random(7)
    for name, count in (("train.txt", 200), ("dev.txt", 40), ("test.txt", 40)):
        write_pos_ner(folder / name, [make_ner_sentence(rng) for _ in range(count)])
    return folder


def layer_overrides(folder: Path) -> list[str]:
    return [
        "data=files",
        f"paths.data_dir={folder}",
        "data.files.train=train.txt",
        "data.files.validation=dev.txt",
        "data.files.test=test.txt",
        "data.train_scheme=bioes",
        "data.headline=f1",
        "+data.tasks={pos: {column: 1}, ner: {column: 2, file_scheme: iob2, headline: true}}",
        "data.batch_size=16",
        "model.embedding.word_dim=16",
        "model.embedding.char_dim=8",
        "model.embedding.char_filters=8",
        "model.encoder.hidden_size=32",
        "model/head=crf",
        "+model.heads.pos={_target_: seqtagger.models.heads.LinearHead}",
        "trainer.max_epochs=6",
        "model.optimizer.lr=0.01",
        "callbacks.early_stopping=null",
        "callbacks.rich_progress_bar=null",
        "logger=csv",
    ]


def make_datamodule(folder: Path, **options) -> TaggingDataModule:
    ner = {"column": 2, "file_scheme": "iob2", "headline": True}
    tasks = options.pop("tasks", {"pos": {"column": 1}, "ner": ner})
    return TaggingDataModule(
        files={"train": "train.txt", "validation": "dev.txt", "test": "test.txt"},
        data_dir=str(folder),
        file_scheme="iob2",
        train_scheme="bioes",
        tasks=tasks,
        batch_size=8,
        **options,
    )


# ----- the task config -----
def test_a_config_without_tasks_is_one_task_with_todays_names() -> None:
    (task,) = tasks_from_config(None, file_scheme="iob1", train_scheme="bioes")
    assert task == Task(DEFAULT_TASK, None, "iob1", "bioes", True, 1.0, "error")
    assert (task.tags_key, task.ids_key) == ("tags", "tag_ids")


def test_tasks_take_their_columns_and_schemes_from_the_corpus_layers() -> None:
    tasks = tasks_from_config(["pos", "ner"], layers=LAYERS, train_scheme="bioes")
    pos, ner = tasks
    assert pos.headline and not ner.headline  # the first listed leads unless one is marked
    assert (pos.column, pos.file_scheme, pos.train_scheme) == (1, "plain", "plain")
    assert (ner.column, ner.file_scheme, ner.train_scheme) == (2, "iob2", "bioes")
    assert (pos.unknown_labels, ner.unknown_labels) == ("score_as_error", "error")
    assert (pos.ids_key, ner.ids_key) == ("pos_ids", "ner_ids")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"a": {"headline": True}, "b": {"headline": True}}, "are all headline tasks"),
        ({"pos": {"colum": 1}}, "data.tasks.pos.colum: not a task option"),
        ({"pos": {"loss_weight": -1}}, "data.tasks.pos.loss_weight=-1: expected a number >= 0"),
        ({"tokens": None}, "'tokens' cannot name a task"),
        ({"ner": {"unknown_labels": "score_as_error"}}, "a span layer takes error or map_to_o"),
        ({"pos": {"unknown_labels": "drop"}}, "expected one of error, map_to_o"),
        ([], "data.tasks is empty"),
    ],
)
def test_a_bad_task_config_is_one_message_naming_the_key(config, message) -> None:
    with pytest.raises(ConfigError, match=message):
        tasks_from_config(config, layers=LAYERS, train_scheme="bioes")


# ----- data: columns, padding, errors per task -----
def test_every_task_column_is_padded_with_the_ignore_index(layers_dir: Path) -> None:
    datamodule = make_datamodule(layers_dir)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert set(datamodule.task_labels) == {"pos", "ner"}
    assert "S-PER" in datamodule.task_labels["ner"].itos  # converted to BIOES
    assert {"NNP", "DT", "."} <= set(datamodule.task_labels["pos"].itos)
    for key in ("pos_ids", "ner_ids"):
        ids = batch[key]
        assert ids.shape == batch["mask"].shape
        assert (ids[~batch["mask"]] == IGNORE_INDEX).all() and (ids[batch["mask"]] >= 0).all()


def test_a_task_whose_column_is_missing_names_file_line_and_task(tmp_path: Path) -> None:
    rng = random.Random(1)
    write_pos_ner(tmp_path / "train.txt", [make_ner_sentence(rng) for _ in range(5)])
    (tmp_path / "dev.txt").write_text("EU NNP\nrejects VBZ\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text((tmp_path / "train.txt").read_text(), encoding="utf-8")
    datamodule = make_datamodule(tmp_path)
    with pytest.raises(CorpusFormatError) as error:
        datamodule.setup("fit")
    message = str(error.value)
    assert "dev.txt:1" in message and "task 'ner'" in message and "column 2" in message


def test_each_task_is_checked_against_its_own_file_scheme(tmp_path: Path) -> None:
    rng = random.Random(2)
    sentences = [make_ner_sentence(rng) for _ in range(5)]
    write_pos_ner(tmp_path / "train.txt", sentences, extra="Oslo NNP E-LOC\n")
    for name in ("dev.txt", "test.txt"):
        write_pos_ner(tmp_path / name, sentences)
    datamodule = make_datamodule(tmp_path)
    with pytest.raises(SchemeError, match=r"task ner.*train\.txt:\d+|train\.txt:\d+.*task ner"):
        datamodule.setup("fit")
    # the same tags under a task whose scheme is plain are labels like any other
    plain = make_datamodule(
        tmp_path, tasks={"pos": {"column": 1}, "ner": {"column": 2, "file_scheme": "plain"}}
    )
    plain.setup("fit")
    assert "E-LOC" in plain.task_labels["ner"].itos


# ----- the model: heads and loss weights -----
def small_tagger(tasks: list[Task], labels: dict[str, list[str]]) -> torch.nn.Module:
    """A word-only BiLSTM with a linear head per task (no characters: batches of word ids)."""
    embedding = {
        "_target_": "seqtagger.models.embeddings.TokenEmbedder",
        "word_dim": 8,
        "char_dim": 0,
    }
    encoder = {"_target_": "seqtagger.models.encoders.BiLSTMEncoder", "hidden_size": 8}
    head = {"_target_": "seqtagger.models.heads.LinearHead"}
    return build_tagger(
        embedding, encoder, head, num_words=10, num_chars=5, task_labels=labels, tasks=tasks
    )


def test_loss_weights_change_the_summed_loss_as_stated() -> None:
    torch.manual_seed(0)
    tasks = [Task("pos", 1, headline=True, loss_weight=2.0), Task("ner", 2, loss_weight=0.5)]
    tagger = small_tagger(tasks, {"pos": ["A", "B", "C"], "ner": ["O", "X"]})
    assert set(tagger.heads) == {"pos", "ner"} and tagger.heads["ner"].num_labels == 2
    lengths = torch.tensor([4, 2])
    mask = torch.arange(4) < lengths[:, None]
    batch = {
        "token_ids": torch.randint(2, 10, (2, 4)),
        "lengths": lengths,
        "mask": mask,
        "pos_ids": torch.randint(0, 3, (2, 4)).masked_fill(~mask, IGNORE_INDEX),
        "ner_ids": torch.randint(0, 2, (2, 4)).masked_fill(~mask, IGNORE_INDEX),
    }
    logits = tagger(batch)
    losses = tagger.losses(logits, batch)
    total = tagger.total_loss(losses)
    torch.testing.assert_close(total, 2.0 * losses["pos"] + 0.5 * losses["ner"])
    decoded = tagger.decode(batch, logits)
    assert decoded["pos"].shape == decoded["ner"].shape == (2, 4)
    assert (decoded["ner"][~mask] == IGNORE_INDEX).all()


def test_a_task_of_weight_zero_trains_no_head() -> None:
    tasks = [Task("pos", 1, headline=True), Task("ner", 2, loss_weight=0.0)]
    tagger = small_tagger(tasks, {"pos": ["A", "B"], "ner": ["O", "X"]})
    mask = torch.ones(1, 3, dtype=torch.bool)
    batch = {
        "token_ids": torch.tensor([[2, 3, 4]]),
        "lengths": torch.tensor([3]),
        "mask": mask,
        "pos_ids": torch.tensor([[0, 1, 0]]),
        "ner_ids": torch.tensor([[1, 0, 1]]),
    }
    tagger.total_loss(tagger.losses(tagger(batch), batch)).backward()
    assert tagger.heads["pos"].linear.weight.grad.abs().sum() > 0
    assert tagger.heads["ner"].linear.weight.grad.abs().sum() == 0


# ----- a two-task run -----
def test_a_two_task_model_trains_and_logs_each_task(layers_dir: Path, tmp_path: Path) -> None:
    cfg = compose_train(layer_overrides(layers_dir), tmp_path)
    metrics = train(cfg)
    for name in ("pos/acc", "pos/loss", "ner/f1", "ner/acc", "ner/f1/PER", "acc", "f1", "loss"):
        assert f"test/{name}" in metrics, name
    assert "test/pos/f1" not in metrics  # a tag set without spans is scored by accuracy
    assert metrics["test/f1"] == metrics["test/ner/f1"]  # the headline task's, under its name
    assert metrics["test/pos/acc"] > 0.9 and metrics["test/ner/f1"] > 0.5
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_a_new_task_on_an_existing_corpus_is_a_config_change(tmp_path: Path) -> None:
    """A layer the corpus table does not name (CoNLL-U DEPREL) added by the task config only."""
    words = [("The", "DET", "det"), ("cat", "NOUN", "nsubj"), ("sleeps", "VERB", "root")]
    lines = []
    for _n in range(60):
        for i, (form, upos, deprel) in enumerate(words, 1):
            lines.append(f"{i}\t{form}\t_\t{upos}\t_\t_\t{i}\t{deprel}\t_\t_")
        lines.append("")
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.conllu").write_text("\n".join(lines) + "\n", encoding="utf-8")
    datamodule = TaggingDataModule(
        files={"train": "train.conllu", "validation": "dev.conllu", "test": "test.conllu"},
        data_dir=str(tmp_path),
        tasks={"upos": {"column": "upos"}, "deprel": {"column": "deprel"}},
    )
    datamodule.setup("fit")
    assert datamodule.task_labels["deprel"].itos == ["det", "nsubj", "root"]
    info = datamodule.data_info()
    assert [task["name"] for task in info["tasks"]] == ["upos", "deprel"]

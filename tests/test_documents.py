"""Documents as batches of whole documents hold them (``data/documents.py``): marked documents
whole within a bound, text without marks in pieces; the same units in training's batches,
``seqtagger-eval`` and ``seqtagger-predict``; an epoch of few batches reported at start-up."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import pytest

from seqtagger.data.datamodule import TaggingDataModule
from seqtagger.data.documents import (
    MAX_DOCUMENT_SENTENCES,
    PIECE_SENTENCES,
    document_units,
    unit_ids,
)
from seqtagger.data.sampler import BucketBatchSampler
from seqtagger.data.tagged_dataset import TaggedDataset
from seqtagger.inference.inputs import Stats, iter_input
from seqtagger.inference.streaming import document_batches
from tests.documents import (
    eval_reproduces_training,
    predicted_by_cli,
    read_documents,
    write_ner_documents,
)
from tests.helpers import (
    compose_train,
    file_backed_dataset,
    make_ner_sentence,
    tiny_ner_overrides,
    write_conll,
)
from tests.test_datamodule import make_datamodule as conll_datamodule
from tools import unmarked_batches

MAX, PIECE = MAX_DOCUMENT_SENTENCES, PIECE_SENTENCES


def test_marked_documents_within_the_bound_stay_whole() -> None:
    assert unit_ids([1] * 3 + [2] * MAX + [3]) == [0] * 3 + [1] * MAX + [2]
    assert unit_ids([4, 4, 9]) == [0, 0, 1]  # ids are renumbered in order


def test_text_without_marks_is_cut_into_pieces() -> None:
    assert unit_ids([0] * 40) == [0] * PIECE + [1] * PIECE + [2] * 8
    # before the first mark, then a marked document; the prediction CLI's -k for input k
    assert unit_ids([0] * 3 + [1] * 2 + [-1] * 17) == [0] * 3 + [1] * 2 + [2] * 16 + [3]


def test_a_marked_document_past_the_bound_is_cut_into_pieces() -> None:
    ids = unit_ids([1] * (MAX + 1) + [2] * 2)
    pieces = math.ceil((MAX + 1) / PIECE)
    assert ids[: MAX + 1] == [i // PIECE for i in range(MAX + 1)]
    assert ids[MAX + 1 :] == [pieces, pieces]


def test_units_are_read_in_step() -> None:
    """The pairs are read lazily: a piece is given out as its sentences come, a marked
    document once it ends (the prediction CLI hands documents over as it reads sentences)."""
    read: list[int] = []

    def pairs(documents: list[int]):
        for position, document in enumerate(documents):
            read.append(position)
            yield position, document

    units = document_units(pairs([0] * 1000))
    assert [next(units) for _ in range(3)] == [(0, 0), (1, 0), (2, 0)]
    assert len(read) == 3
    read.clear()
    units = document_units(pairs([1] * 5 + [2] * 1000))
    assert [next(units) for _ in range(5)] == [(i, 0) for i in range(5)]
    assert len(read) == 6  # the document ended at the sixth sentence
    next(units)
    assert len(read) == 6 + MAX  # the next one is held until the bound is passed


def train_batches(documents: list[int], tmp_path: Path, batch_size: int = 2) -> int:
    """Training batches of ``batch_size`` documents of rows with these document ids."""
    columns = {"token_ids": [[2, 3]] * len(documents), "length": [2] * len(documents)}
    dataset = TaggedDataset(file_backed_dataset(tmp_path, {**columns, "document": documents}))
    sampler = BucketBatchSampler(
        dataset.lengths, batch_size, unit="documents", documents=dataset.documents
    )
    return len(sampler)


@pytest.mark.parametrize("document", [0, 1], ids=["no marks", "one mark on top"])
def test_a_one_document_file_of_5000_sentences_is_never_one_batch(
    document: int, tmp_path: Path
) -> None:
    assert train_batches([document] * 5000, tmp_path) == math.ceil(5000 / PIECE / 2)


def make_datamodule(folder: Path, **options) -> TaggingDataModule:
    """The data module of the CoNLL files in ``folder``, set up, on batches of 2 documents."""
    batches = {"batch_unit": "documents", "batch_size": 2, "eval_batch_size": 2}
    datamodule = conll_datamodule(folder, **{**batches, **options})
    datamodule.setup("fit")
    return datamodule


def write_unmarked(folder: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """CoNLL files ``{name: sentences}`` without any ``-DOCSTART-`` line."""
    rng = random.Random(seed)
    for name, count in sizes.items():
        write_conll(folder / name, [make_ner_sentence(rng) for _ in range(count)], docstart=False)
    return folder


def test_a_file_without_marks_is_batched_in_pieces(tmp_path: Path) -> None:
    write_unmarked(tmp_path, {"train.txt": 100, "dev.txt": 40, "test.txt": 5})
    datamodule = make_datamodule(tmp_path)
    batches = list(datamodule.train_dataloader())
    assert len(batches) == math.ceil(math.ceil(100 / PIECE) / 2) == 4
    for batch in batches:
        documents = batch["document_ids"].tolist()
        assert len(set(documents)) <= 2
        assert max(documents.count(d) for d in documents) <= PIECE
    dev = [b["document_ids"].tolist() for b in datamodule.val_dataloader()]
    assert dev == [[0] * PIECE + [1] * PIECE, [2] * 8]


def test_marked_documents_are_batched_whole(tmp_path: Path) -> None:
    write_ner_documents(tmp_path, 1, {"train.txt": 9, "dev.txt": 3, "test.txt": 3})
    datamodule = make_datamodule(tmp_path)
    _, documents = read_documents(tmp_path / "train.txt")
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 5
    for batch in batches:
        rows = batch["index"].tolist()
        for document in {documents[i] for i in rows}:
            assert sorted(i for i in rows if documents[i] == document) == [
                i for i, d in enumerate(documents) if d == document
            ]


def test_an_epoch_of_few_batches_is_reported_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_unmarked(tmp_path, {"train.txt": 40, "dev.txt": 5, "test.txt": 5})
    datamodule = make_datamodule(tmp_path)
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.datamodule"):
        datamodule.train_dataloader()
    [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "An epoch is 2 training batch(es)" in message
    assert "data.batch_unit=documents data.batch_size=2" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.datamodule"):
        make_datamodule(tmp_path, batch_unit="sentences", batch_size=2).train_dataloader()
    assert not caplog.records  # 20 batches


def test_prediction_cuts_input_without_marks_into_the_same_pieces() -> None:
    items = [f"s{i}" for i in range(40)]
    [batch] = document_batches(items, None, batch_size=100)
    assert [unit for _, _, unit in batch] == unit_ids([0] * 40)
    [batch] = document_batches(items, [1] * 40, batch_size=100)
    assert {unit for _, _, unit in batch} == {0}


def test_predict_inputs_number_marked_documents_and_text_apart(tmp_path: Path) -> None:
    """Marked documents >= 1 over all inputs, text without marks ``-k`` in input ``k``: two
    inputs without marks stay two runs, and each is text without marks."""
    plain = tmp_path / "plain.txt"
    plain.write_text("a b\nc d\n", encoding="utf-8")
    write_ner_documents(tmp_path, 2, {"marked.conll": 2})
    marked = tmp_path / "marked.conll"
    sources = [str(plain), str(marked), str(plain)]
    documents = [document for _, document in iter_input(sources, "auto", Stats())]
    _, in_file = read_documents(marked)
    assert documents == [0, 0, *in_file, -2, -2]
    assert set(in_file) == {1, 2}


@pytest.fixture(scope="module")
def unmarked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(run folder, corpus folder)`` of a tiny NER tagger trained with a document memory on
    files without marks, batches of 2 pieces (a test file of 3 pieces)."""
    from seqtagger.train import train

    folder = write_unmarked(
        tmp_path_factory.mktemp("unmarked_corpus"),
        {"train.txt": 96, "dev.txt": 20, "test.txt": 2 * PIECE + 7},
    )
    run_dir = tmp_path_factory.mktemp("unmarked_run")
    overrides = [
        *tiny_ner_overrides(folder),
        "model/memory=document",
        "data.batch_unit=documents",
        "data.batch_size=2",
        "data.eval_batch_size=2",
        "trainer.max_epochs=2",
    ]
    train(compose_train(overrides, run_dir))
    return run_dir, folder


def test_eval_and_predict_cut_a_file_without_marks_as_training_did(
    unmarked_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqtagger.inference import Predictor

    run_dir, corpus = unmarked_run
    best = eval_reproduces_training(run_dir, tmp_path)
    tokens, documents = read_documents(corpus / "test.txt")
    assert set(documents) == {0}
    predictor = Predictor.from_checkpoint(best, device="cpu")
    expected = predictor.predict(tokens, documents)
    assert predictor.predict(tokens) == expected  # no documents: text without marks
    assert Predictor.from_checkpoint(best, device="cpu", batch_size=1).predict(tokens) == expected
    assert predicted_by_cli(capsys, best, corpus / "test.txt") == expected


def test_conll2003_documents_are_within_the_bound(real_data_dir: Path) -> None:
    """No CoNLL-2003 document is cut: its recipes batch the documents the files mark."""
    sizes = unmarked_batches.document_sizes(real_data_dir / "conll2003")
    assert {split: size["documents"] for split, size in sizes.items()} == {
        "train": 946,
        "validation": 216,
        "test": 231,
    }
    for size in sizes.values():
        assert size["largest_document_sentences"] <= MAX
        assert size["units"] == size["documents"] and size["documents_cut"] == 0


@pytest.mark.slow
def test_the_recipes_train_conll2003_without_marks_on_many_batches(
    real_data_dir: Path, tmp_path: Path
) -> None:
    """CoNLL-2003 without its -DOCSTART- lines (one run of 14,041 sentences, once one batch):
    the recipe's batches of 2 documents are at least half as many as sentence batches of 32."""
    script = unmarked_batches
    data_dir = script.derive_unmarked(real_data_dir / "conll2003", tmp_path / "data")
    _, documents = read_documents(data_dir / "conll2003" / "train.txt")
    assert set(documents) == {0} and len(documents) == 14_041
    paths = [f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path / 'cache'}"]
    by_documents = script.train_batches("conll2003_bilstm_crf", paths)
    by_sentences = script.train_batches("conll2003_bilstm_crf", [*paths, *script.SENTENCE_BATCHES])
    assert by_sentences == math.ceil(14_041 / 32)
    assert by_documents >= by_sentences / 2

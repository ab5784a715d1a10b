"""Document memory (``model/memory=document``): form keys, pooling, whole-document batches, and
a trained model whose eval and predict read what its training run's test loop read."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from seqtagger.data.collate import collate_columns
from seqtagger.data.featurizers import WordCharFeaturizer
from seqtagger.data.sampler import BucketBatchSampler
from seqtagger.data.vocab import build_vocabs
from seqtagger.errors import ConfigError
from seqtagger.inference.streaming import document_batches
from seqtagger.models.memory import DocumentMemory, form_keys
from tests.documents import (
    eval_reproduces_training,
    predicted_by_cli,
    read_documents,
    write_ner_documents,
)
from tests.helpers import compose_train, tiny_ner_overrides
from tests.pipes import ANSWER_S, piped

TRAINING = {"tokens": [["London", "Paris", "."]], "tags": [["B-LOC", "B-LOC", "O"]]}
"""A training split whose characters are Latin letters and a full stop."""


def char_batch(words: list[list[list[int]]], documents: list[int]) -> dict[str, torch.Tensor]:
    """A batch of character ids ``(N, L, W)`` with its mask and document ids."""
    width = max(len(chars) for row in words for chars in row)
    length = max(len(row) for row in words)
    char_ids = torch.zeros(len(words), length, width, dtype=torch.int64)
    for n, row in enumerate(words):
        for i, chars in enumerate(row):
            char_ids[n, i, : len(chars)] = torch.tensor(chars)
    lengths = torch.tensor([len(row) for row in words])
    return {
        "char_ids": char_ids,
        "mask": torch.arange(length) < lengths[:, None],
        "document_ids": torch.tensor(documents),
    }


def test_form_keys_are_equal_exactly_for_equal_character_sequences() -> None:
    batch = char_batch([[[3, 4], [4, 3], [3, 4]], [[3, 4, 5], [3]]], [0, 0])
    keys = form_keys(batch)
    assert keys[0, 0] == keys[0, 2]
    assert len({int(keys[0, 0]), int(keys[0, 1]), int(keys[1, 0]), int(keys[1, 1])}) == 4


def test_without_characters_unknown_words_keep_keys_of_their_own() -> None:
    token_ids = torch.tensor([[5, 1, 5, 1]])
    keys = form_keys({"token_ids": token_ids, "mask": torch.ones(1, 4, dtype=torch.bool)})
    assert keys[0, 0] == keys[0, 2] == 5
    assert keys[0, 1] != keys[0, 3] and keys[0, 1] < 0


def test_words_with_characters_the_training_data_lacked_keep_keys_of_their_own() -> None:
    """Unseen characters are all ``<unk>``: Москва, Берлин and Лондон are six of them, 東京 and
    北京 two, and were one form each; words of known characters still share their key."""
    featurizer = WordCharFeaturizer.from_vocabs(build_vocabs(Dataset.from_dict(TRAINING)))
    words = ["Москва", "Берлин", "Лондон", "東京", "北京", "London", "London", "Москва"]
    batch = collate_columns({**featurizer.encode([words]), "document": [0]})
    keys = form_keys(batch)[0].tolist()
    assert len(set(keys[:5])) == 5 and keys[7] not in keys[:5]
    assert keys[5] == keys[6]
    states = torch.randn(1, len(words), 2, dtype=torch.float64)
    pooled = DocumentMemory(2)(states, batch)[0, :, 2:]
    torch.testing.assert_close(pooled[:5], states[0, :5])  # each alone
    torch.testing.assert_close(pooled[5], states[0, 5:7].mean(0))


def test_a_batch_without_word_forms_is_a_config_error_naming_the_fix() -> None:
    batch = {"subword_ids": torch.ones(1, 3, dtype=torch.int64), "mask": torch.ones(1, 2).bool()}
    with pytest.raises(ConfigError, match="model/embedding=hf_char"):
        form_keys(batch)


def test_the_pool_is_the_mean_over_one_form_in_one_document() -> None:
    a, b = [3, 4], [5]
    batch = char_batch([[a, b, a], [a, b], [a]], documents=[7, 7, 8])
    states = torch.randn(3, 3, 4, dtype=torch.float64, requires_grad=True)
    out = DocumentMemory(4)(states, batch)
    assert out.shape == (3, 3, 8)
    assert torch.equal(out[..., :4], states)
    same_form = (states[0, 0] + states[0, 2] + states[1, 0]) / 3
    for n, i in ((0, 0), (0, 2), (1, 0)):
        torch.testing.assert_close(out[n, i, 4:], same_form)
    torch.testing.assert_close(out[0, 1, 4:], (states[0, 1] + states[1, 1]) / 2)
    torch.testing.assert_close(out[2, 0, 4:], states[2, 0])  # another document: alone
    assert torch.equal(out[1, 2, 4:], torch.zeros(4, dtype=torch.float64))  # padding
    out[0, 0, 4:].sum().backward()
    assert states.grad[0, 2].abs().sum() > 0 and states.grad[2, 0].abs().sum() == 0


@pytest.mark.parametrize("seed", range(5))
def test_the_pool_equals_a_brute_force_grouping_on_random_batches(seed: int) -> None:
    rng = random.Random(seed)
    words = [
        [[rng.randint(2, 4) for _ in range(rng.randint(1, 2))] for _ in range(rng.randint(1, 6))]
        for _ in range(7)
    ]
    documents = sorted(rng.randint(0, 2) for _ in words)
    batch = char_batch(words, documents)
    states = torch.randn(len(words), batch["mask"].shape[1], 3, dtype=torch.float64)
    pooled = DocumentMemory(3)(states, batch)[..., 3:]
    members: dict[tuple[int, tuple[int, ...]], list[torch.Tensor]] = {}
    for n, row in enumerate(words):
        for i, chars in enumerate(row):
            members.setdefault((documents[n], tuple(chars)), []).append(states[n, i])
    for n, row in enumerate(words):
        for i, chars in enumerate(row):
            expected = torch.stack(members[documents[n], tuple(chars)]).mean(0)
            torch.testing.assert_close(pooled[n, i], expected)


def test_a_batch_without_document_ids_pools_within_each_sentence() -> None:
    batch = char_batch([[[3], [3]], [[3], [4]]], documents=[0, 0])
    del batch["document_ids"]
    states = torch.arange(8.0).view(2, 2, 2)
    pooled = DocumentMemory(2)(states, batch)[..., 2:]
    torch.testing.assert_close(pooled[0], torch.tensor([[1.0, 2.0], [1.0, 2.0]]))
    torch.testing.assert_close(pooled[1], states[1])


DOCUMENTS = [0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 4, 5]


def runs(batch: list[int]) -> list[list[int]]:
    """The documents of a batch as lists of row indices."""
    out: list[list[int]] = []
    for row in batch:
        if out and DOCUMENTS[out[-1][-1]] == DOCUMENTS[row] and out[-1][-1] == row - 1:
            out[-1].append(row)
        else:
            out.append([row])
    return out


@pytest.mark.parametrize("shuffle", [True, False])
def test_document_batches_hold_whole_documents(shuffle: bool) -> None:
    lengths = [5] * len(DOCUMENTS)
    sampler = BucketBatchSampler(
        lengths, 2, unit="documents", shuffle=shuffle, documents=DOCUMENTS, seed=1
    )
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    assert sorted(row for batch in batches for row in batch) == list(range(len(DOCUMENTS)))
    for batch in batches:
        documents = runs(batch)
        assert len(documents) == 2
        for rows in documents:
            assert rows == [i for i, d in enumerate(DOCUMENTS) if d == DOCUMENTS[rows[0]]]
    if not shuffle:
        assert [row for batch in batches for row in batch] == list(range(len(DOCUMENTS)))
    else:
        sampler.set_epoch(1)
        assert list(sampler) != batches  # a new document order each epoch


def test_document_batches_need_document_ids() -> None:
    with pytest.raises(ConfigError, match="batch_unit=documents"):
        BucketBatchSampler([3, 3], 2, unit="documents")


def test_prediction_batches_whole_documents_in_input_order() -> None:
    items = [f"s{i}" for i in range(len(DOCUMENTS))]
    batches = list(document_batches(items, DOCUMENTS, batch_size=3))
    assert [[position for position, _, _ in batch] for batch in batches] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8, 9, 10],
        [11],
    ]
    assert batches[1][2] == (5, "s5", 2)
    whole = list(document_batches(items, None, batch_size=2, window=5))
    assert [len(batch) for batch in whole] == [5, 5, 2]


def test_collated_columns_carry_document_ids() -> None:
    columns = {"token_ids": [[2, 3], [4]], "length": [2, 1], "document": [9, 9]}
    batch = collate_columns(columns)
    assert batch["document_ids"].tolist() == [9, 9]
    assert "document" not in batch


@pytest.fixture(scope="module", params=[0, 3], ids=["memory", "memory+context"])
def memory_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """``(run folder, corpus folder)`` of a tiny NER tagger trained with a document memory on
    whole-document batches, documents of 3-5 sentences; with and without 3 words of document
    context (prediction then reads the documents twice, in step)."""
    from seqtagger.train import train

    folder = tmp_path_factory.mktemp("memory_corpus")
    write_ner_documents(folder, 5, {"train.txt": 24, "dev.txt": 5, "test.txt": 7})
    run_dir = tmp_path_factory.mktemp("memory_run")
    overrides = [
        *tiny_ner_overrides(folder),
        "model/memory=document",
        "data.batch_unit=documents",
        "data.batch_size=3",
        "data.eval_batch_size=2",
        f"data.context={request.param}",
        "trainer.max_epochs=2",
    ]
    train(compose_train(overrides, run_dir))
    return run_dir, folder


def test_eval_and_predict_read_the_documents_training_read(
    memory_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqtagger.inference import Predictor

    run_dir, corpus = memory_run
    best = eval_reproduces_training(run_dir, tmp_path)
    predictor = Predictor.from_checkpoint(best, device="cpu")
    assert predictor.reads_documents
    assert "memory" in predictor.model.hparams and predictor.model.tagger.memory is not None
    tokens, documents = read_documents(corpus / "test.txt")
    expected = predictor.predict(tokens, documents)
    one_by_one = Predictor.from_checkpoint(best, device="cpu", batch_size=1)
    assert one_by_one.predict(tokens, documents) == expected
    assert predicted_by_cli(capsys, best, corpus / "test.txt") == expected


def test_a_stream_gets_each_document_when_its_blank_line_comes(
    memory_run: tuple[Path, Path],
) -> None:
    """On a pipe, a document memory's sentences are written once their document has ended,
    before the input closes, tagged as the whole documents are by ``Predictor``."""
    from seqtagger.inference import Predictor

    run_dir, corpus = memory_run
    best = run_dir / "checkpoints" / "best.ckpt"
    tokens, documents = read_documents(corpus / "test.txt")
    first = [t for t, d in zip(tokens, documents, strict=True) if d == min(documents)]
    second = [t for t, d in zip(tokens, documents, strict=True) if d == max(documents)]
    expected = Predictor.from_checkpoint(best, device="cpu").predict(
        first + second, [1] * len(first) + [2] * len(second)
    )
    command = [sys.executable, "-m", "seqtagger.predict", "--ckpt", str(best)]
    command += ["--input-format", "tokens", "--format", "jsonl"]
    with piped(command) as (process, lines):
        for document in (first, second):
            process.stdin.write("".join(" ".join(s) + "\n" for s in document) + "\n")
            process.stdin.flush()
            answers = [json.loads(lines.get(timeout=ANSWER_S)) for _ in document]
            assert [a["tokens"] for a in answers] == document  # before the input closes
            assert [a["tags"] for a in answers] == expected[: len(document)]
            expected = expected[len(document) :]
        process.stdin.close()
        assert process.wait(timeout=ANSWER_S) == 0

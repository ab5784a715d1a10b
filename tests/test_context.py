"""Document context (``data.context``): documents in the readers, the context rule, its stream
form, windows through featurize -> collate -> Tagger, and train == eval == predict with it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import pytest
import torch

from seqtagger.data.collate import collate_batch, collate_columns
from seqtagger.data.context import (
    add_context,
    check_context,
    context_of,
    encode_in_context,
    stream_contexts,
)
from seqtagger.data.featurizers import WordCharFeaturizer
from seqtagger.data.readers import ConllReader, ConlluReader, JsonReader
from seqtagger.data.tagged_dataset import TaggedDataset
from seqtagger.data.vocab import build_vocabs
from seqtagger.errors import ConfigError
from seqtagger.models.tagger import build_tagger
from tests.documents import (
    eval_reproduces_training,
    predicted_by_cli,
    read_documents,
    write_ner_documents,
)
from tests.helpers import compose_train, file_backed_dataset, tiny_ner_overrides
from tests.reader_files import write

DOCS = [["a b", "c"], ["d e f"], ["g", "h i", "j"]]
"""Three documents of sentences (words joined by spaces)."""


def flat(docs: list[list[str]]) -> tuple[list[list[str]], list[int]]:
    sentences = [s.split() for doc in docs for s in doc]
    documents = [d for d, doc in enumerate(docs) for _ in doc]
    return sentences, documents


def test_readers_number_documents(tmp_path: Path) -> None:
    conll = "-DOCSTART- -X- O O\n\na O\n\nb O\n-DOCSTART- -X- O O\nc O\n\n-DOCSTART- -X- O O\n"
    rows = list(ConllReader().iter_sentences(write(tmp_path, "a.txt", conll + "d O\n")))
    assert [(r["tokens"], r["document"]) for r in rows] == [
        (["a"], 1),
        (["b"], 1),
        (["c"], 2),
        (["d"], 3),
    ]
    word = "1\tx\tx\tX\t_\t_\t0\troot\t_\t_\n"
    conllu = f"# newdoc id = d1\n# sent_id = 1\n{word}\n# sent_id = 2\n{word}\n# newdoc\n{word}"
    rows = list(ConlluReader().iter_sentences(write(tmp_path, "a.conllu", conllu)))
    assert [r["document"] for r in rows] == [1, 1, 2]
    no_documents = ConllReader().read(write(tmp_path, "b.txt", "a O\n\nb O\n"), str(tmp_path))
    assert no_documents["document"] == [0, 0]


def test_records_of_the_one_token_docstart_start_documents(tmp_path: Path) -> None:
    """JSON Lines and Parquet records converted from CoNLL files keep ``-DOCSTART-`` as a record:
    it starts a document and is not read as a sentence."""
    start = {"tokens": ["-DOCSTART-"], "tags": ["O"]}
    records = [start, {"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b"], "tags": ["O"]}]
    records += [start, {"tokens": ["-DOCSTART-", "c"], "tags": ["O", "O"]}]
    path = write(tmp_path, "a.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    rows = list(JsonReader().iter_sentences(path))
    expected = [(["a"], 1), (["b"], 1), (["-DOCSTART-", "c"], 2)]
    assert [(r["tokens"], r["document"]) for r in rows] == expected
    datasets.Dataset.from_list(records).to_parquet(tmp_path / "a.parquet")
    rows = list(JsonReader().iter_sentences(tmp_path / "a.parquet"))
    assert [(r["tokens"], r["document"]) for r in rows] == expected
    no_documents = JsonReader().read(write(tmp_path, "b.jsonl", json.dumps(records[1]) + "\n"))
    assert no_documents["document"] == [0]


def test_context_is_the_nearest_words_of_the_same_document() -> None:
    sentences, documents = flat(DOCS)
    assert context_of(0, sentences, documents, 5) == ([], ["c"])
    assert context_of(1, sentences, documents, 5) == (["a", "b"], [])
    assert context_of(2, sentences, documents, 5) == ([], [])  # a document of one sentence
    assert context_of(4, sentences, documents, 2) == (["g"], ["j"])
    assert context_of(5, sentences, documents, 2) == (["h", "i"], [])
    assert context_of(5, sentences, documents, 1) == (["i"], [])  # the farthest words are cut
    assert context_of(3, sentences, documents, 1) == ([], ["h"])
    assert context_of(4, sentences, documents, 0) == ([], [])
    with pytest.raises(ConfigError, match=r"data\.context"):
        check_context(-1)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7])
def test_the_stream_gives_the_rule_on_random_documents(size: int) -> None:
    rng = random.Random(size)
    sentences = [["w"] * rng.randint(1, 4) for _ in range(60)]
    sentences = [[f"{word}{i}.{j}" for j, word in enumerate(s)] for i, s in enumerate(sentences)]
    documents = sorted(rng.randint(0, 12) for _ in sentences)
    streamed = list(stream_contexts(iter(sentences), iter(documents), size))
    expected = [context_of(i, sentences, documents, size) for i in range(len(sentences))]
    assert [(left, right) for _, left, right in streamed] == expected
    assert [s for s, _, _ in streamed] == sentences
    one_document = list(stream_contexts(iter(sentences), None, size))
    assert [item[1:] for item in one_document] == [
        context_of(i, sentences, [0] * len(sentences), size) for i in range(len(sentences))
    ]


def test_the_stream_reads_only_as_far_as_the_right_context_needs() -> None:
    """An endless input streams: a sentence comes out once K words follow it in its document
    (or its document ends), and the sentences kept stay bounded."""
    read = 0

    def endless():
        nonlocal read
        while True:
            read += 1
            yield [f"w{read}", "x"]

    stream = stream_contexts(endless(), None, 3)
    first = next(stream)
    assert first == (["w1", "x"], [], ["w2", "x", "w3"]) and read == 3
    for _ in range(1000):
        next(stream)
    assert read == 1003


def test_dataset_step_equals_the_rule(tmp_path: Path) -> None:
    sentences, documents = flat(DOCS)
    dataset = file_backed_dataset(tmp_path, {"tokens": sentences, "document": documents})
    with_context = add_context(dataset, 2, "train")
    expected = [context_of(i, sentences, documents, 2) for i in range(len(sentences))]
    pairs = zip(with_context["context_left"], with_context["context_right"], strict=True)
    assert list(pairs) == expected


def tiny_vocabs(tmp_path: Path):
    sentences, _ = flat(DOCS)
    tags = [["O"] * len(s) for s in sentences]
    return build_vocabs(file_backed_dataset(tmp_path, {"tokens": sentences, "tags": tags}))


def test_windows_are_encoded_and_collated_with_their_offsets(tmp_path: Path) -> None:
    featurizer = WordCharFeaturizer.from_vocabs(tiny_vocabs(tmp_path))
    columns = encode_in_context(featurizer, [["c"], ["h", "i"]], [["a", "b"], ["g"]], [[], ["j"]])
    assert columns["length"] == [1, 2]
    assert columns["window_length"] == [3, 4]
    assert columns["context_offset"] == [2, 1]
    assert columns["token_ids"][0] == featurizer.encode([["a", "b", "c"]])["token_ids"][0]
    batch = collate_columns(columns)
    assert batch["mask"].shape == (2, 2) and batch["token_ids"].shape == (2, 4)
    assert batch["window_mask"].tolist() == [[True] * 3 + [False], [True] * 4]
    assert batch["window_lengths_cpu"].tolist() == [3, 4]
    assert batch["context_offset"].tolist() == [2, 1]
    stored = TaggedDataset(file_backed_dataset(tmp_path / "stored", columns))
    assert stored.lengths == [3, 4]  # the sampler buckets by what the encoder reads
    from_rows = collate_batch([stored[0], stored[1]])
    for key in ("token_ids", "char_ids", "window_mask", "context_offset", "mask"):
        assert torch.equal(from_rows[key], batch[key]), key


def test_the_head_scores_the_sentence_positions_of_each_window(tmp_path: Path) -> None:
    vocabs = tiny_vocabs(tmp_path)
    featurizer = WordCharFeaturizer.from_vocabs(vocabs)
    tagger = build_tagger(
        {
            "_target_": "seqtagger.models.embeddings.TokenEmbedder",
            "word_dim": 8,
            "char_dim": 4,
            "char_filters": 4,
        },
        {"_target_": "seqtagger.models.encoders.BiLSTMEncoder", "hidden_size": 8},
        {"_target_": "seqtagger.models.heads.LinearHead"},
        num_words=len(vocabs["words"]),
        num_chars=len(vocabs["chars"]),
        num_labels=3,
    ).eval()
    sentences = [["c"], ["h", "i"]]
    plain = tagger(collate_columns(featurizer.encode(sentences)))["tags"]
    no_words = encode_in_context(featurizer, sentences, [[], []], [[], []])
    same = tagger(collate_columns(no_words))["tags"]
    assert torch.allclose(same, plain)  # context 0: same logits
    windows = encode_in_context(featurizer, sentences, [["a", "b"], ["g"]], [[], ["j"]])
    logits = tagger(collate_columns(windows))["tags"]
    assert logits.shape == plain.shape  # (N, L, C): the sentences' words only
    assert not torch.allclose(logits, plain)  # the BiLSTM read the context
    # the sentence's vectors are those of its window's positions
    alone = tagger(collate_columns(featurizer.encode([["a", "b", "c"]])))["tags"]
    assert torch.allclose(logits[0, :1], alone[0, 2:3], atol=1e-6)


@pytest.fixture(scope="module")
def context_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(run folder, corpus folder)`` of a tiny NER tagger trained with 4 words of document
    context on documents of 3-5 sentences."""
    from seqtagger.train import train

    folder = tmp_path_factory.mktemp("context_corpus")
    write_ner_documents(folder, 3, {"train.txt": 30, "dev.txt": 6, "test.txt": 6})
    run_dir = tmp_path_factory.mktemp("context_run")
    overrides = [*tiny_ner_overrides(folder), "data.context=4", "trainer.max_epochs=2"]
    train(compose_train(overrides, run_dir))
    return run_dir, folder


def test_eval_and_predict_read_the_same_windows_as_training(
    context_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqtagger.inference import Predictor

    run_dir, corpus = context_run
    best = eval_reproduces_training(run_dir, tmp_path)
    predictor = Predictor.from_checkpoint(best, device="cpu")
    assert predictor.context == 4
    tokens, documents = read_documents(corpus / "test.txt")
    expected = predictor.predict(tokens, documents)
    batched = Predictor.from_checkpoint(best, device="cpu", batch_size=3, window=5)
    assert batched.predict(tokens, documents) == expected
    assert predicted_by_cli(capsys, best, corpus / "test.txt") == expected


def test_a_pretrained_transformer_reads_windows_longer_than_its_positions(
    context_run: tuple[Path, Path], tiny_bert: Path, tmp_path: Path
) -> None:
    """The subword featurizer encodes each window as a sentence: 6 words of context on each
    side outgrow the tiny BERT's 16 positions, so the strided windows of the transformer issue
    meet document context, and eval still equals training."""
    from seqtagger.eval import evaluate
    from seqtagger.train import train
    from tests.helpers import compose_config, tiny_hf_overrides

    corpus = context_run[1]
    overrides = [*tiny_hf_overrides(corpus, tiny_bert, head="crf"), "data.context=6"]
    run_dir = tmp_path / "run"
    train(compose_train([*overrides, "trainer.max_epochs=1"], run_dir))
    trained = json.loads((run_dir / "metrics.json").read_text())
    best = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))[-1]
    results = evaluate(compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path))
    assert results["test"]["f1"] == pytest.approx(trained["test/f1"], abs=1e-6)


@pytest.mark.slow
def test_the_real_corpora_documents_are_found(real_data_dir: Path) -> None:
    """CoNLL-2003's -DOCSTART- lines (946 / 216 / 231, SOURCES.md) and EWT's ``# newdoc``
    comments each start one document."""
    for name, expected in (("train.txt", 946), ("dev.txt", 216), ("test.txt", 231)):
        rows = ConllReader().iter_sentences(real_data_dir / "conll2003" / name)
        assert len({row["document"] for row in rows}) == expected, name
    for split in ("train", "dev", "test"):
        path = real_data_dir / "ud_en_ewt" / f"en_ewt-ud-{split}.conllu"
        newdocs = sum(line.startswith("# newdoc") for line in path.open(encoding="utf-8"))
        documents = {row["document"] for row in ConlluReader().iter_sentences(path)}
        assert len(documents) == newdocs, split

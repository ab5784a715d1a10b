"""TaggingDataModule on a tiny generated corpus: files -> vocab -> batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seqtagger.data.datamodule import TaggingDataModule
from seqtagger.data.readers import ConllReader, CorpusNotFoundError, JsonReader
from seqtagger.data.schemes import SchemeError, get_spans
from seqtagger.errors import UnknownLabelError
from tests.helpers import write_conll


def make_datamodule(folder: Path, **options) -> TaggingDataModule:
    defaults = dict(
        reader=ConllReader(),
        files={"train": "train.txt", "validation": "dev.txt", "test": "test.txt"},
        data_dir=str(folder),
        file_scheme="iob2",
        train_scheme="bioes",
        headline="f1",
        batch_size=8,
    )
    return TaggingDataModule(**{**defaults, **options})


def test_setup_sizes_the_labels_from_the_data(tiny_ner_dir: Path) -> None:
    datamodule = make_datamodule(tiny_ner_dir)
    datamodule.prepare_data()
    datamodule.setup("fit")
    labels = datamodule.labels
    assert "S-LOC" in labels and "E-PER" in labels and "O" in labels  # converted to BIOES
    info = datamodule.data_info()
    (task,) = info["tasks"]
    assert task["name"] == "tags" and task["headline"]
    assert task["train_scheme"] == "bioes" and task["file_scheme"] == "iob2"
    assert task["labels"]["itos"] == labels and set(info["vocabs"]) == {"words", "chars"}
    assert len(datamodule.datasets["train"]) == 240


def test_loaders_yield_padded_batches(tiny_ner_dir: Path) -> None:
    datamodule = make_datamodule(tiny_ner_dir)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    n, length = batch["token_ids"].shape
    assert n <= 8 and batch["char_ids"].shape[:2] == (n, length)
    assert torch.equal(batch["mask"].sum(1), batch["lengths"])
    assert (batch["tag_ids"][~batch["mask"]] == -100).all()
    seen = [i for b in datamodule.val_dataloader() for i in b["index"].tolist()]
    assert sorted(seen) == list(range(40))


def test_loader_options_pin_memory_on_cuda_and_workers(tiny_ner_dir: Path) -> None:
    """pin_memory null: pinned only when the trainer runs on a CUDA device (none here)."""
    datamodule = make_datamodule(tiny_ner_dir)
    datamodule.setup("fit")
    assert datamodule.pin_memory is None and not datamodule.train_dataloader().pin_memory
    pinned = make_datamodule(tiny_ner_dir, pin_memory=True, num_workers=1)
    pinned.setup("fit")
    loader = pinned.train_dataloader()
    assert loader.pin_memory and loader.num_workers == 1 and loader.persistent_workers
    single = make_datamodule(tiny_ner_dir, persistent_workers=False, num_workers=1)
    single.setup("fit")
    assert not single.train_dataloader().persistent_workers


def test_data_is_encoded_with_the_embedders_featurizer(tiny_ner_dir: Path) -> None:
    """An embedder without characters gets batches without char ids, and says so in data_info
    (the checkpoint rebuilds the same featurizer for prediction)."""
    datamodule = make_datamodule(tiny_ner_dir)
    datamodule.set_embedding(
        {"_target_": "seqtagger.models.embeddings.TokenEmbedder", "char_dim": 0}
    )
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert "char_ids" not in batch and batch["token_ids"].shape == batch["mask"].shape
    assert datamodule.data_info()["featurizer"] == {
        "kind": "word_char",
        "use_chars": False,
        "max_word_length": 20,
    }


def test_missing_train_file_names_the_config_key(tmp_path: Path) -> None:
    datamodule = make_datamodule(tmp_path)
    with pytest.raises(CorpusNotFoundError, match=r"data\.files\.train"):
        datamodule.setup("fit")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"corpus": "nope", "files": None}, "data.corpus='nope'"),
        ({"headline": "bleu"}, "data.headline='bleu'"),
        ({"batch_unit": "chars"}, "data.batch_unit='chars'"),
        ({"files": None}, "data.files"),
        # wrong key, silent fallback, silent training, key not named
        ({"eval_batch_size": -1}, "data.eval_batch_size=-1"),
        ({"eval_batch_size": 0}, "data.eval_batch_size=0"),
        ({"batch_size": 0}, "data.batch_size=0"),
        ({"file_scheme": "iob3"}, "data.file_scheme=iob3"),
        ({"train_scheme": "BIOES2"}, "data.train_scheme=BIOES2"),
        ({"seed": -5}, "data.seed=-5"),
    ],
)
def test_bad_options_name_the_config_key(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        make_datamodule(tmp_path, **options)


def _tagged_files(folder: Path, train: str, dev: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "train.txt").write_text(train, encoding="utf-8")
    (folder / "dev.txt").write_text(dev, encoding="utf-8")
    return folder


TRAIN = "Anna B-PER\nBerg I-PER\nran O\n\nOslo B-LOC\n"


@pytest.mark.parametrize(
    ("train", "dev", "train_scheme", "message"),
    [
        # tag 'E-LOC' in an IOB2 file: was "label 1 'E-LOC' is not valid in scheme iob2"
        (TRAIN + "\nin O\nNew B-LOC\nYork E-LOC\n", TRAIN, "iob2",
         r"data\.files\.train: \S*train\.txt:7: position 2: tag 'E-LOC' is not valid"),
        # a zero for an O while converting: was "position 8: malformed tag '0'"
        (TRAIN, "Anna B-PER\nran O\n\nin O\n. 0\n", "bioes",
         r"data\.files\.validation: \S*dev\.txt:4: position 1: malformed tag '0'"),
    ],
)  # fmt: skip
def test_tag_errors_name_file_line_and_split(
    tmp_path: Path, train: str, dev: str, train_scheme: str, message: str
) -> None:
    """Tags that do not fit data.file_scheme say where they are."""
    folder = _tagged_files(tmp_path / "data", train, dev)
    files = {"train": "train.txt", "validation": "dev.txt"}
    datamodule = make_datamodule(folder, files=files, train_scheme=train_scheme)
    with pytest.raises(SchemeError, match=message) as info:
        datamodule.setup("fit")
    assert "data.file_scheme" in str(info.value)


def test_tag_errors_in_record_files_name_the_record(tmp_path: Path) -> None:
    """Non-line formats name the record instead of a line."""
    rows = [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["Anna"], "tags": ["PER"]}]
    (tmp_path / "train.json").write_text(json.dumps(rows), encoding="utf-8")
    datamodule = make_datamodule(tmp_path, reader=JsonReader(), files={"train": "train.json"})
    with pytest.raises(SchemeError, match=r"train\.json: record 1: position 0: malformed tag"):
        datamodule.setup("fit")


def test_hub_reader_sources_are_split_names(tmp_path: Path) -> None:
    """The hub path, exercised offline on a local folder laid out like a hub dataset."""
    import datasets

    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    rows = {"tokens": [["Anna", "Berg", "ran"], ["ok"]], "ner_tags": [[1, 2, 0], [0]]}
    (tmp_path / "data").mkdir()
    for split in ("train", "validation"):
        table = datasets.Dataset.from_dict(rows, features=features)
        table.to_parquet(str(tmp_path / "data" / f"{split}-00000-of-00001.parquet"))
    from seqtagger.data.readers import HubReader

    datamodule = make_datamodule(
        tmp_path,
        reader=HubReader(str(tmp_path)),
        files={"train": "train", "validation": "validation"},
        cache_dir=str(tmp_path / "cache"),
    )
    datamodule.setup("fit")
    assert datamodule.labels == ["B-PER", "E-PER", "I-PER", "O", "S-PER"]


def write_two_token_loc_corpus(folder: Path) -> Path:
    """Train has LOC only in 2-token spans; dev has a 3-token LOC and an unseen type (IOB2)."""
    train = [(["New", "York", "is", "big"], ["B-LOC", "I-LOC", "O", "O"])] * 4
    train += [(["Anna", "ran"], ["B-PER", "O"])]
    dev = [(["New", "York", "City", "and", "Euro"], ["B-LOC", "I-LOC", "I-LOC", "O", "B-MISC"])]
    for name, sentences in (("train.txt", train), ("dev.txt", dev), ("test.txt", dev)):
        write_conll(folder / name, sentences)
    return folder


def test_bioes_labels_cover_every_prefix_of_each_seen_type(tmp_path: Path) -> None:
    """Dev gold ``New York City`` became ``B-LOC O E-LOC`` (no I-LOC)."""
    folder = write_two_token_loc_corpus(tmp_path)
    datamodule = make_datamodule(folder, unknown_labels="map_to_o")
    datamodule.setup("fit")
    assert datamodule.labels == sorted(["O", *(f"{p}-{t}" for p in "BIES" for t in ("LOC", "PER"))])
    dev = datamodule.encoded["validation"][0]
    gold = [datamodule.labels[i] for i in dev["tag_ids"]]
    assert gold == ["B-LOC", "I-LOC", "E-LOC", "O", "O"]  # unseen MISC mapped to O
    assert [(s.type, s.start, s.end) for s in get_spans(gold, "bioes")] == [("LOC", 0, 3)]


def test_unknown_labels_are_reported_in_the_files_scheme(tmp_path: Path) -> None:
    folder = write_two_token_loc_corpus(tmp_path)
    with pytest.raises(UnknownLabelError) as error:
        make_datamodule(folder).setup("fit")
    message = str(error.value)
    assert "split 'validation' has 1 tag(s) not seen in training: 'B-MISC' x1" in message
    assert "S-MISC" not in message and "LOC" not in message


def test_training_tags_are_rewritten_well_formed(tmp_path: Path) -> None:
    """`O I-PER` in an IOB2 file (allowed in up to 1% of the sentences) trains as `O B-PER`, the
    chunk conlleval reads, so any head, a constrained CRF too, learns a sequence it can emit."""
    ill_formed = (["Anna", "saw", "Berg"], ["B-PER", "O", "I-PER"])
    fine = (["Anna", "Berg", "left"], ["B-PER", "I-PER", "O"])
    for name in ("train.txt", "dev.txt", "test.txt"):
        write_conll(tmp_path / name, [ill_formed] + [fine] * 150)
    datamodule = make_datamodule(tmp_path, train_scheme="iob2")
    datamodule.setup("fit")
    assert datamodule.encoded["train"][0]["tags"] == ["B-PER", "O", "B-PER"]
    assert datamodule.encoded["train"][1]["tags"] == ["B-PER", "I-PER", "O"]

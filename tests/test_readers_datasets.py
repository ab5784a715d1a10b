"""Tests for the dataset-backed readers of seqtagger.data.readers (JSON, Parquet,
``save_to_disk`` folders, hub-like folders), ``read()`` with its cache, and one count check on
the real shared corpora (skipped when they are absent)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

import datasets
import pytest

from seqtagger.data.readers import (
    FEATURES,
    ConllReader,
    ConlluReader,
    CorpusFormatError,
    CorpusNotFoundError,
    DiskReader,
    HubReader,
    JsonReader,
    reader_for_path,
)
from seqtagger.errors import ConfigError
from tests.reader_files import CONLL, _private_hf_cache, sentences, write  # noqa: F401 (autouse fixture)

# --------------------------------------------------------------------------- JSON / parquet


def test_file_format_reads_records_whatever_the_suffix(tmp_path):
    """``file_format`` (what --input-format jsonl/json/parquet give) beats the suffix, which
    chose the parser alone: a Parquet file without its suffix was read as JSON Lines."""
    rows = [{"tokens": ["a", "b"], "tags": ["X", "Y"]}, {"tokens": ["c"], "tags": ["Z"]}]
    parquet = tmp_path / "rows.data"
    datasets.Dataset.from_list(rows).to_parquet(parquet)
    files = {
        "parquet": parquet,
        "json": write(tmp_path, "rows.txt", json.dumps(rows)),
        "jsonl": write(tmp_path, "rows.json", "\n".join(json.dumps(r) for r in rows)),
    }
    for file_format, path in files.items():
        assert sentences(JsonReader(file_format=file_format), path) == rows
    assert reader_for_path(tmp_path / "x.json").options["file_format"] == "json"
    assert reader_for_path(tmp_path / "x.ndjson").options["file_format"] == "jsonl"
    with pytest.raises(ConfigError, match="file_format='csv': expected one of jsonl, json"):
        JsonReader(file_format="csv")


def test_jsonl_json_and_data_key(tmp_path):
    rows = [{"words": ["a", "b"], "labels": ["X", "Y"]}, {"words": ["c"], "labels": ["Z"]}]
    jsonl = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    as_list = write(tmp_path, "b.json", json.dumps(rows))
    as_data = write(tmp_path, "c.json", json.dumps({"data": rows}))
    reader = JsonReader(tokens_key="words", tags_key="labels")
    expected = [{"tokens": ["a", "b"], "tags": ["X", "Y"]}, {"tokens": ["c"], "tags": ["Z"]}]
    for path in (jsonl, as_list, as_data):
        assert sentences(reader, path) == expected


def test_jsonl_length_mismatch_names_line(tmp_path):
    text = '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n'
    with pytest.raises(CorpusFormatError, match=r"a\.jsonl:2: 2 tokens but 1 tags"):
        sentences(JsonReader(), write(tmp_path, "a.jsonl", text))


def test_json_length_mismatch_names_record(tmp_path):
    rows = [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["a"], "tags": ["O", "O"]}]
    with pytest.raises(CorpusFormatError, match=r"a\.json: record 1: 1 tokens but 2 tags"):
        sentences(JsonReader(), write(tmp_path, "a.json", json.dumps(rows)))


def test_jsonl_invalid_json_and_missing_key(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"a\.jsonl:2: invalid JSON"):
        sentences(JsonReader(), write(tmp_path, "a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{'))
    with pytest.raises(CorpusFormatError, match=r"b\.jsonl:1: no 'tags' key"):
        sentences(JsonReader(), write(tmp_path, "b.jsonl", '{"tokens": ["a"]}\n'))


def test_jsonl_integer_tags_need_label_names(tmp_path):
    with pytest.raises(CorpusFormatError, match=r"a\.jsonl:1: integer tags without label names"):
        sentences(JsonReader(), write(tmp_path, "a.jsonl", '{"tokens": ["a"], "tags": [0]}\n'))


def test_json_empty_records_are_reported(tmp_path, caplog):
    empty = '{"tokens": [], "tags": []}\n'
    text = empty + '{"tokens": ["a"], "tags": ["O"]}\n' + empty
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.readers"):
        out = sentences(JsonReader(), write(tmp_path, "a.jsonl", text))
    assert out == [{"tokens": ["a"], "tags": ["O"]}]
    assert "skipped 2 sentences with no tokens" in caplog.text
    assert "a.jsonl:1" in caplog.text


def tagged_dataset() -> datasets.Dataset:
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    rows = {
        "id": ["0", "1"],
        "tokens": [["Ann", "Lee", "ran"], ["ok"]],
        "ner_tags": [[1, 2, 0], [0]],
    }
    return datasets.Dataset.from_dict(rows, features=features)


EXPECTED = [
    {"tokens": ["Ann", "Lee", "ran"], "tags": ["B-PER", "I-PER", "O"]},
    {"tokens": ["ok"], "tags": ["O"]},
]


def test_parquet_with_classlabel(tmp_path):
    path = tmp_path / "a.parquet"
    tagged_dataset().to_parquet(str(path))
    assert sentences(JsonReader(tags_key="ner_tags"), path) == EXPECTED
    with pytest.raises(CorpusFormatError, match=r"a\.parquet: no column 'tags'"):
        sentences(JsonReader(), path)


# --------------------------------------------------------------------------- disk / hub


def test_disk_dataset_and_dataset_dict(tmp_path):
    tagged_dataset().save_to_disk(str(tmp_path / "single"))
    datasets.DatasetDict({"train": tagged_dataset()}).save_to_disk(str(tmp_path / "dict"))
    assert sentences(DiskReader(tags_key="ner_tags"), tmp_path / "single") == EXPECTED
    reader = DiskReader(tags_key="ner_tags", split="train")
    assert sentences(reader, tmp_path / "dict") == EXPECTED
    ds = reader.read(tmp_path / "dict", cache_dir=str(tmp_path / "cache"))
    assert ds.features == FEATURES
    assert list(ds) == [{**row, "document": 0} for row in EXPECTED]  # records: one document


def test_disk_missing_split_lists_available(tmp_path):
    datasets.DatasetDict({"train": tagged_dataset()}).save_to_disk(str(tmp_path / "dict"))
    available = r"no split 'test' \(available splits: \['train'\]"
    with pytest.raises(CorpusNotFoundError, match=available):
        sentences(DiskReader(split="test"), tmp_path / "dict")
    with pytest.raises(CorpusNotFoundError, match=r"name one: its folder .*, or split="):
        sentences(DiskReader(), tmp_path / "dict")
    with pytest.raises(CorpusNotFoundError, match="not found"):
        sentences(DiskReader(), tmp_path / "nope")


def hub_like_folder(tmp_path: Path) -> Path:
    """A local folder laid out like a hub dataset repo: data/<split>-*.parquet with ClassLabel."""
    root = tmp_path / "hub_ds"
    (root / "data").mkdir(parents=True)
    tagged_dataset().to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    tagged_dataset().select([1]).to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    return root


def test_hub_reader_on_hub_like_folder(tmp_path):
    root = hub_like_folder(tmp_path)
    cache = str(tmp_path / "cache")
    reader = HubReader(str(root))
    assert sentences(reader, "train") == EXPECTED
    ds = reader.read("test", cache_dir=cache)
    assert ds.features == FEATURES
    assert ds[0] == {**EXPECTED[1], "document": 0}
    with pytest.raises(CorpusNotFoundError, match="validation"):
        reader.read("validation", cache_dir=cache)


def test_hub_reader_with_builder_and_data_files(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"words": ["a"], "ner_tags": ["O"]}\n')
    reader = HubReader("json", data_files={"train": str(path)}, tokens_key="words")
    assert sentences(reader, "train") == [{"tokens": ["a"], "tags": ["O"]}]


# --------------------------------------------------------------------------- read() / cache


def test_read_returns_features_and_is_cached(tmp_path):
    path = write(tmp_path, "a.txt", CONLL)
    cache = str(tmp_path / "cache")
    ds = ConllReader().read(path, cache_dir=cache)
    assert ds.features == FEATURES
    assert len(ds) == 3
    assert ds[0]["tags"] == ["I-ORG", "O", "I-MISC"]
    again = ConllReader().read(path, cache_dir=cache)
    assert again.cache_files == ds.cache_files
    other = ConllReader(tag_column=1).read(path, cache_dir=cache)
    assert other[0]["tags"] == ["NNP", "VBZ", "JJ"]


def test_read_sees_a_changed_file(tmp_path):
    path = write(tmp_path, "a.txt", "a O\n")
    cache = str(tmp_path / "cache")
    assert ConllReader().read(path, cache_dir=cache)[0]["tags"] == ["O"]
    stat = path.stat()
    path.write_text("a X\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    assert ConllReader().read(path, cache_dir=cache)[0]["tags"] == ["X"]
    path.write_text("a XY\n", encoding="utf-8")
    assert ConllReader().read(path, cache_dir=cache)[0]["tags"] == ["XY"]


def test_read_unwraps_format_errors_and_retries_after_fix(tmp_path):
    path = write(tmp_path, "bad.conllu", "1\tHi\thi\n")
    cache = str(tmp_path / "cache")
    with pytest.raises(CorpusFormatError, match=r"bad\.conllu:1: found 3 tab-separated"):
        ConlluReader().read(path, cache_dir=cache)
    path.write_text("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n", encoding="utf-8")
    row = ConlluReader().read(path, cache_dir=cache)[0]
    assert row == {"tokens": ["Hi"], "tags": ["INTJ"], "document": 0}


def test_read_without_tags_drops_the_column(tmp_path):
    path = write(tmp_path, "raw.txt", "a\nb\n\nc\n")
    ds = ConllReader().read(path, cache_dir=str(tmp_path / "cache"), require_tags=False)
    assert ds.column_names == ["tokens", "document"]
    assert ds["tokens"] == [["a", "b"], ["c"]]


def test_read_jsonl(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n')
    ds = JsonReader().read(path, cache_dir=str(tmp_path / "cache"))
    assert ds[0] == {"tokens": ["a"], "tags": ["O"], "document": 0}


def test_reader_for_path(tmp_path):
    (tmp_path / "saved").mkdir()
    assert isinstance(reader_for_path(tmp_path / "x.conllu"), ConlluReader)
    assert isinstance(reader_for_path(tmp_path / "x.jsonl"), JsonReader)
    assert isinstance(reader_for_path(tmp_path / "x.parquet"), JsonReader)
    assert isinstance(reader_for_path(tmp_path / "saved", split="train"), DiskReader)
    reader = reader_for_path(tmp_path / "x.txt", separator="\t")
    assert isinstance(reader, ConllReader)
    assert reader.separator == "\t"


# --------------------------------------------------------------------------- real corpora


def shared_data_dir() -> Path:
    env = os.environ.get("SEQTAGGER_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


# (reader, file) -> (sentences, tokens), as published in the shared data SOURCES.md.
REAL_COUNTS = {
    ("ud_en_ewt", "en_ewt-ud-train.conllu"): (12_544, 204_577),
    ("ud_en_ewt", "en_ewt-ud-dev.conllu"): (2_001, 25_147),
    ("ud_en_ewt", "en_ewt-ud-test.conllu"): (2_077, 25_094),
    ("conll2003", "train.txt"): (14_041, 203_621),
    ("conll2003", "dev.txt"): (3_250, 51_362),
    ("conll2003", "test.txt"): (3_453, 46_435),
}


def test_real_corpora_counts_match_sources_md():
    root = shared_data_dir()
    if not (root / "ud_en_ewt").is_dir() or not (root / "conll2003").is_dir():
        pytest.skip(f"real corpora not found under {root} (set SEQTAGGER_DATA_DIR)")
    tagsets = {"ud_en_ewt": Counter(), "conll2003": Counter()}
    for (folder, file), expected in REAL_COUNTS.items():
        path = root / folder / file
        n_sentences = n_tokens = 0
        for sentence in reader_for_path(path).iter_sentences(path):
            n_sentences += 1
            n_tokens += len(sentence["tokens"])
            tagsets[folder].update(sentence["tags"])
        assert (n_sentences, n_tokens) == expected, path
    assert len(tagsets["ud_en_ewt"]) == 17
    assert sorted(tagsets["conll2003"]) == [
        "B-LOC", "B-MISC", "B-ORG", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O",
    ]  # fmt: skip

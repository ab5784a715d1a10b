"""Tests for seqtagger.data.collate."""

from __future__ import annotations

import pickle

import datasets
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqtagger.data.collate import collate_batch, collate_columns
from seqtagger.data.tagged_dataset import TaggedDataset

ROWS = {
    "tokens": [["a", "b", "c"], ["d"], ["e", "f"]],
    "token_ids": [[2, 3, 4], [5], [6, 7]],
    "char_ids": [[[2], [3, 4], [5]], [[6, 7, 8, 9]], [[10], [11, 12]]],
    "tag_ids": [[0, 1, 2], [1], [2, 0]],
    "length": [3, 1, 2],
}
ID_FEATURES = datasets.Features(
    {
        "length": datasets.Value("int64"),
        "token_ids": datasets.Sequence(datasets.Value("int64")),
        "char_ids": datasets.Sequence(datasets.Sequence(datasets.Value("int64"))),
    }
)
KEYS = {"token_ids", "char_ids", "tag_ids", "lengths", "mask", "index", "lengths_cpu"}


@pytest.fixture
def ds():
    return TaggedDataset(datasets.Dataset.from_dict(ROWS))


def as_lists(row: dict) -> dict:
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in row.items()}


def test_dataset_rows_and_lengths(ds):
    assert len(ds) == 3 and ds.lengths == [3, 1, 2]
    assert as_lists(ds[1]) == {
        "token_ids": [5],
        "char_ids": [6, 7, 8, 9],
        "char_ids_lengths": [4],
        "tag_ids": [1],
        "length": 1,
        "index": 1,
    }
    assert as_lists(ds[2])["char_ids_lengths"] == [1, 2]
    assert [as_lists(r) for r in ds.__getitems__([2, 0])] == [as_lists(ds[2]), as_lists(ds[0])]


def test_rows_across_record_batches_and_memory_mapped(tmp_path):
    """A cached dataset has many record batches (sliced ones too): every row is found in its
    own, as a read-only view of the memory-mapped file (no copy), and the dataset pickles as
    the file's path, not its ids (what a spawned loader worker receives)."""
    big = {name: values * 400 for name, values in ROWS.items()}  # 1,200 rows
    mapped = datasets.Dataset.from_dict(big).map(
        batched=True, writer_batch_size=100, cache_file_name=str(tmp_path / "encoded.arrow")
    )
    contiguous = mapped.select(range(7, 1200))  # a slice of the file: still memory-mapped
    assert contiguous.cache_files and contiguous._indices is None
    stored = TaggedDataset(contiguous)
    assert len(stored._chunks) == 12
    in_memory = TaggedDataset(datasets.Dataset.from_dict(big).select(range(7, 1200)))
    for i in (0, 1, 492, 493, 999, 1192):
        assert as_lists(stored[i]) == as_lists(in_memory[i])
    row = stored[600]
    assert not row["char_ids"].flags.owndata and not row["char_ids"].flags.writeable
    restored = pickle.loads(pickle.dumps(stored))
    assert len(pickle.dumps(stored)) < 8_000
    assert [as_lists(restored[i]) for i in (0, 1192)] == [as_lists(stored[i]) for i in (0, 1192)]
    with pytest.raises(IndexError, match="1193 rows"):
        stored[1193]


def test_rows_of_a_sliced_dataset_are_its_own():
    """Offsets come from the list lengths, so a selected/sliced Arrow table still lines up."""
    sliced = TaggedDataset(datasets.Dataset.from_dict(ROWS).select([2, 1]))
    assert as_lists(sliced[0])["token_ids"] == [6, 7]
    assert as_lists(sliced[0])["char_ids"] == [10, 11, 12]
    assert as_lists(sliced[1])["tag_ids"] == [1]


def test_featurizer_columns_collate_as_the_dataset_rows():
    """Prediction collates the featurizer's columns directly; the batch equals the one training
    gets from the same columns stored as a dataset."""
    from seqtagger.data.featurizers import WordCharFeaturizer
    from seqtagger.data.vocab import Vocab

    words, chars = Vocab(["the", "cat"]), Vocab(sorted(set("thecat")))
    featurizer = WordCharFeaturizer(words, chars, max_word_length=2)
    columns = featurizer.encode([["the", "dog"]])
    batch = collate_columns(columns, start_index=7)
    assert batch["token_ids"].tolist() == [[words.index("the"), words.unk_index]]
    assert batch["char_ids"].tolist() == [[chars.indices(["t", "h"]), chars.indices(["d", "o"])]]
    assert batch["index"].tolist() == [7] and batch["lengths"].tolist() == [2]
    encoded = TaggedDataset(datasets.Dataset.from_dict(columns))
    expected = collate_batch(encoded.__getitems__([0]))
    for name, value in expected.items():
        assert torch.equal(batch[name], value if name != "index" else value + 7), name


def test_collate_shapes_padding_and_mask(ds):
    batch = collate_batch(ds.__getitems__([0, 1, 2]))
    assert set(batch) == KEYS
    assert batch["token_ids"].shape == (3, 3) and batch["token_ids"].dtype == torch.int64
    assert batch["char_ids"].shape == (3, 3, 4) and batch["char_ids"].dtype == torch.int64
    assert batch["token_ids"].tolist() == [[2, 3, 4], [5, 0, 0], [6, 7, 0]]
    assert batch["tag_ids"].tolist() == [[0, 1, 2], [1, -100, -100], [2, 0, -100]]
    assert batch["char_ids"][0].tolist() == [[2, 0, 0, 0], [3, 4, 0, 0], [5, 0, 0, 0]]
    assert batch["char_ids"][1].tolist() == [[6, 7, 8, 9], [0] * 4, [0] * 4]
    assert batch["lengths"].tolist() == [3, 1, 2]
    assert batch["mask"].dtype == torch.bool
    assert batch["mask"].sum(1).tolist() == batch["lengths"].tolist()
    assert torch.equal(batch["mask"], batch["tag_ids"] != -100)


def test_index_order_preserved(ds):
    batch = collate_batch(ds.__getitems__([2, 0]))
    assert batch["index"].tolist() == [2, 0]
    assert batch["lengths"].tolist() == [2, 3]
    assert batch["token_ids"][0].tolist() == [6, 7, 0]


def test_tagless_rows_have_no_tag_ids():
    data = {k: v for k, v in ROWS.items() if k != "tag_ids"}
    ds = TaggedDataset(datasets.Dataset.from_dict(data))
    batch = collate_batch(ds.__getitems__([0, 1]))
    assert set(batch) == KEYS - {"tag_ids"}


def test_works_with_torch_dataloader(ds):
    loader = torch.utils.data.DataLoader(ds, batch_sampler=[[1, 2], [0]], collate_fn=collate_batch)
    batches = list(loader)
    assert [b["index"].tolist() for b in batches] == [[1, 2], [0]]
    assert batches[1]["token_ids"].shape == (1, 3)


def test_requires_encoded_dataset():
    with pytest.raises(ValueError, match="encode_dataset"):
        TaggedDataset(datasets.Dataset.from_dict({"tokens": [["a"]]}))


@given(
    st.lists(
        st.lists(st.lists(st.integers(0, 50), max_size=4), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 7),
)
def test_collate_columns_equals_collate_of_dataset_rows(chars, start):
    """Prediction's one-pass collate gives the batch training collates from the same columns
    stored as a dataset (flat and nested columns, empty words, custom padding)."""
    columns = {
        "length": [len(row) for row in chars],
        "token_ids": [[len(word) + 1 for word in row] for row in chars],
        "char_ids": chars,
    }
    stored = TaggedDataset(datasets.Dataset.from_dict(columns, features=ID_FEATURES))
    rows = stored.__getitems__(range(len(chars)))
    expected = collate_batch(rows, pad_values={"token_ids": 3})
    got = collate_columns(columns, pad_values={"token_ids": 3}, start_index=start)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(got[name], value if name != "index" else value + start), name


def test_collate_columns_keeps_an_empty_sentence_beside_others():
    """An empty row in a nested column, after a full one, pads fully."""
    columns = {"length": [2, 0], "token_ids": [[4, 5], []], "char_ids": [[[1], [2, 3]], []]}
    batch = collate_columns(columns)
    assert batch["char_ids"].tolist() == [[[1, 0], [2, 3]], [[0, 0], [0, 0]]]
    assert batch["mask"].tolist() == [[True, True], [False, False]]


def test_collate_columns_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        collate_columns({"length": [], "token_ids": []})

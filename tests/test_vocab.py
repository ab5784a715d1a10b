"""Tests for seqtagger.data.vocab."""

from __future__ import annotations

import json
import pickle

import datasets
import pytest

from seqtagger.data.vocab import PAD, UNK, Vocab, build_vocabs

SENTS = [["the", "cat", "sat"], ["The", "dog", "sat", "in", "1999"], ["a", "cat"]]


def test_specials_first_and_frequency_order_with_alphabetical_ties():
    v = Vocab.build(SENTS)
    assert v.itos[:2] == [PAD, UNK]
    assert (v.pad_index, v.unk_index) == (0, 1)
    # cat, sat: 2 each (alphabetical tie); then the 1-count tokens alphabetically.
    assert v.itos[2:] == ["cat", "sat", "1999", "The", "a", "dog", "in", "the"]
    assert v.stoi == {t: i for i, t in enumerate(v.itos)}


def test_build_is_deterministic_regardless_of_input_order():
    assert Vocab.build(SENTS) == Vocab.build(list(reversed(SENTS)))


def test_min_freq_and_max_size_exclude_specials():
    assert Vocab.build(SENTS, min_freq=2).itos == [PAD, UNK, "cat", "sat"]
    v = Vocab.build(SENTS, max_size=3)
    assert len(v) == 5 and v.itos[2:] == ["cat", "sat", "1999"]


def test_normalisation_lowercase_and_digits():
    v = Vocab.build(SENTS, lowercase=True, normalize_digits=True)
    assert v.normalize("The 42x") == "the 00x"
    assert "the" in v and "THE" in v and "0000" in v and "1999" in v
    assert v.index("THE") == v.index("the") == v.stoi["the"]
    assert v.index("2024") == v.stoi["0000"]


def test_unknown_fallback_and_keyerror_without_unk():
    v = Vocab.build(SENTS)
    assert v.index("zebra") == v.unk_index
    assert v.indices(["cat", "zebra"]) == [v.stoi["cat"], 1]
    labels = Vocab(["B-PER", "O"], pad=None, unk=None)
    assert labels.itos == ["B-PER", "O"] and labels.pad_index is None and labels.unk_index is None
    with pytest.raises(KeyError, match="I-LOC"):
        labels.index("I-LOC")


def test_specials_moved_to_front_and_duplicates_rejected():
    assert Vocab(["a", UNK, "b", PAD]).itos == [PAD, UNK, "a", "b"]
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["a", "a"])


def test_build_chars_uses_raw_words():
    v = Vocab.build_chars([["Ab1", "b"]])
    assert v.itos == [PAD, UNK, "b", "1", "A"]


def test_label_vocab_alpha_sort():
    v = Vocab.build([["O", "B-PER", "O", "I-PER"]], pad=None, unk=None, sort="alpha")
    assert v.itos == ["B-PER", "I-PER", "O"]


def test_dict_json_roundtrip(tmp_path):
    v = Vocab.build(SENTS, lowercase=True, normalize_digits=True)
    data = v.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert Vocab.from_dict(data) == v
    path = tmp_path / "sub" / "words.json"
    v.save(path)
    loaded = Vocab.load(path)
    assert loaded == v and loaded.lowercase and loaded.normalize_digits
    assert loaded.index("THE") == v.index("the")


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  oops", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json:2"):
        Vocab.load(bad)
    missing = tmp_path / "missing_key.json"
    missing.write_text('{"itos": []}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing_key\.json.*missing key"):
        Vocab.load(missing)


def test_pickle_is_canonical():
    a, b = Vocab.build(SENTS), Vocab.build(list(reversed(SENTS)))
    assert pickle.dumps(a) == pickle.dumps(b)
    assert pickle.loads(pickle.dumps(a)) == a


def test_build_vocabs_from_dataset():
    train = datasets.Dataset.from_dict(
        {"tokens": [["John", "lives", "in", "Paris"]], "tags": [["B-PER", "O", "O", "B-LOC"]]}
    )
    vocabs = build_vocabs(train, lowercase=True)
    assert set(vocabs) == {"words", "chars", "labels"}
    assert "john" in vocabs["words"].itos and "J" in vocabs["chars"]
    assert vocabs["labels"].itos == ["B-LOC", "B-PER", "O"]
    assert vocabs["labels"].pad_index is None and vocabs["labels"].unk_index is None


def test_min_freq_that_leaves_no_words_warns(caplog: pytest.LogCaptureFixture) -> None:
    """A min_freq so high that the vocabulary held only <pad> and <unk>."""
    train = datasets.Dataset.from_dict({"tokens": [["a", "b", "a"]], "tags": [["O", "X", "O"]]})
    with caplog.at_level("WARNING", logger="seqtagger.data.vocab"):
        vocabs = build_vocabs(train, min_freq=100)
    assert len(vocabs["words"]) == 2
    assert "data.vocab.min_freq=100" in caplog.text and "keeps 0 words" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="seqtagger.data.vocab"):
        build_vocabs(train, min_freq=2)  # "a" covers 2 of 3 tokens: fine
    assert caplog.text == ""


def test_training_split_with_a_single_tag_warns(caplog: pytest.LogCaptureFixture) -> None:
    """A corpus whose only tag is O trained without a word."""
    train = datasets.Dataset.from_dict({"tokens": [["Anna", "ran"]], "tags": [["O", "O"]]})
    with caplog.at_level("WARNING", logger="seqtagger.data.vocab"):
        vocabs = build_vocabs(train, scheme="iob2")
    assert vocabs["labels"].itos == ["O"]
    assert "single tag, 'O'" in caplog.text

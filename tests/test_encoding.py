"""Tests for seqtagger.data.encoding."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import datasets
import pytest

from seqtagger.data.encoding import UnknownLabelError, encode_dataset, find_unknown_labels
from seqtagger.data.schemes import validate_tags
from seqtagger.data.vocab import Vocab, build_vocabs
from tests.helpers import file_backed_dataset

TRAIN = {
    "tokens": [["John", "lives", "in", "Paris"], ["Mary", "left", "2019"]],
    "tags": [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "O"]],
}


@pytest.fixture
def vocabs():
    return build_vocabs(datasets.Dataset.from_dict(TRAIN), normalize_digits=True)


def test_encode_columns(vocabs):
    enc = encode_dataset(datasets.Dataset.from_dict(TRAIN), vocabs, split="train")
    assert set(enc.column_names) == {"tokens", "tags", "token_ids", "char_ids", "tag_ids", "length"}
    row = enc[1]
    words, chars, labels = vocabs["words"], vocabs["chars"], vocabs["labels"]
    assert row["token_ids"] == [words.index("Mary"), words.index("left"), words.index("0000")]
    assert row["char_ids"][0] == [chars.index(c) for c in "Mary"]
    assert row["tag_ids"] == [labels.index("B-PER"), labels.index("O"), labels.index("O")]
    assert row["length"] == 3 and row["tokens"] == TRAIN["tokens"][1]


def test_tagless_dataset_has_no_tag_ids(vocabs):
    enc = encode_dataset(
        datasets.Dataset.from_dict({"tokens": [["hello", "Paris"]]}), vocabs, split="predict"
    )
    assert "tag_ids" not in enc.column_names
    assert enc[0]["token_ids"] == [1, vocabs["words"].index("Paris")]  # unknown word -> unk


def test_max_word_length_truncates_chars_not_words(vocabs):
    ds = datasets.Dataset.from_dict({"tokens": [["a" * 50, "b"]], "tags": [["O", "O"]]})
    enc = encode_dataset(ds, vocabs, split="dev", max_word_length=5)
    assert enc[0]["length"] == 2
    assert [len(c) for c in enc[0]["char_ids"]] == [5, 1]


def test_unknown_labels_error_names_split_tags_counts_and_option(vocabs):
    ds = datasets.Dataset.from_dict(
        {"tokens": [["a", "b", "c"]], "tags": [["B-MISC", "O", "B-MISC"]]}
    )
    assert find_unknown_labels(ds, vocabs["labels"]) == {"B-MISC": 2}
    with pytest.raises(UnknownLabelError) as err:
        encode_dataset(ds, vocabs, split="dev")
    msg = str(err.value)
    assert "'dev'" in msg and "'B-MISC' x2" in msg and "data.unknown_labels=map_to_o" in msg


def test_unknown_labels_map_to_o_warns_once(vocabs, caplog):
    ds = datasets.Dataset.from_dict(
        {"tokens": [["a", "b", "c"], ["d"]], "tags": [["B-MISC", "O", "I-MISC"], ["B-MISC"]]}
    )
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.encoding"):
        enc = encode_dataset(ds, vocabs, split="test", unknown_labels="map_to_o")
    o = vocabs["labels"].index("O")
    assert enc["tag_ids"] == [[o, o, o], [o]]
    assert enc["tags"][0] == ["B-MISC", "O", "I-MISC"]  # gold strings kept
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 tag(s)" in warnings[0].getMessage()


def test_map_to_o_without_o_label_errors():
    labels = Vocab(["NOUN", "VERB"], pad=None, unk=None)
    vocabs = {"words": Vocab([]), "chars": Vocab([]), "labels": labels}
    ds = datasets.Dataset.from_dict({"tokens": [["x"]], "tags": [["ADJ"]]})
    with pytest.raises(UnknownLabelError, match="'O'"):
        encode_dataset(ds, vocabs, split="dev", unknown_labels="map_to_o")


def test_bad_policy_rejected(vocabs):
    with pytest.raises(ValueError, match=r"data\.unknown_labels"):
        encode_dataset(datasets.Dataset.from_dict(TRAIN), vocabs, split="x", unknown_labels="drop")


def test_max_length_splits_without_truncating(vocabs, caplog):
    tokens = [f"w{i}" for i in range(7)]
    tags = ["O"] * 6 + ["B-PER"]
    ds = datasets.Dataset.from_dict(
        {"tokens": [tokens, ["John"]], "tags": [tags, ["B-PER"]], "id": ["s1", "s2"]}
    )
    with caplog.at_level(logging.INFO, logger="seqtagger.data.encoding"):
        enc = encode_dataset(ds, vocabs, split="train", max_length=3)
    assert enc["length"] == [3, 3, 1, 1]
    assert [t for piece in enc["tokens"][:3] for t in piece] == tokens
    assert [t for piece in enc["tags"][:3] for t in piece] == tags
    assert enc["id"] == ["s1", "s1", "s1", "s2"]
    assert enc["tag_ids"][2] == [vocabs["labels"].index("B-PER")]
    assert any("1 sentence(s)" in r.getMessage() for r in caplog.records)


def test_max_length_cuts_between_chunks_and_retags_a_cut_chunk():
    """A cut inside a chunk left ``B-X`` at a piece's end or ``I-X``/``E-X`` at its start, a
    gold path the constrained CRF scores minus infinity."""
    tags = ["O", "B-PER", "I-PER", "E-PER", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "E-ORG"]
    tokens = [f"w{i}" for i in range(len(tags))]
    data = {"tokens": [tokens], "tags": [tags]}
    vocabs = build_vocabs(datasets.Dataset.from_dict(data), scheme="bioes")
    ds = datasets.Dataset.from_dict(data)
    enc = encode_dataset(ds, vocabs, split="train", max_length=4, schemes=("iob2", "bioes"))
    assert enc["length"] == [4, 1, 4, 1]  # cut before ORG, not inside; ORG is longer than 4
    assert [t for piece in enc["tokens"] for t in piece] == tokens
    assert enc["tags"] == [
        ["O", "B-PER", "I-PER", "E-PER"], ["O"], ["B-ORG", "I-ORG", "I-ORG", "E-ORG"], ["S-ORG"]
    ]  # fmt: skip
    assert all(validate_tags(piece, "bioes") == [] for piece in enc["tags"])
    labels = vocabs["labels"]
    assert enc["tag_ids"][3] == [labels.index("S-ORG")]


def test_second_encode_hits_the_cache(tmp_path, vocabs):
    ds = file_backed_dataset(tmp_path, TRAIN)
    first = encode_dataset(ds, vocabs, split="train")
    assert first.cache_files, "file-backed input should give a cached output"
    mtime = os.path.getmtime(first.cache_files[0]["filename"])
    again = build_vocabs(datasets.Dataset.from_dict(TRAIN), normalize_digits=True)  # equal copy
    second = encode_dataset(ds, again, split="train")
    assert second._fingerprint == first._fingerprint
    assert second.cache_files == first.cache_files
    assert os.path.getmtime(second.cache_files[0]["filename"]) == mtime
    other = encode_dataset(ds, vocabs, split="train", max_word_length=3)
    assert other._fingerprint != first._fingerprint


@pytest.mark.slow
def test_fingerprint_is_the_same_in_a_new_process(tmp_path, vocabs):
    ds = file_backed_dataset(tmp_path, TRAIN)
    here = encode_dataset(ds, vocabs, split="train")._fingerprint
    vocabs["words"].save(tmp_path / "w.json")
    vocabs["chars"].save(tmp_path / "c.json")
    vocabs["labels"].save(tmp_path / "l.json")
    # Rebuild the same file-backed dataset in the child from the same generator and cache dir.
    code = textwrap.dedent(
        f"""
        from seqtagger.data.encoding import encode_dataset
        from seqtagger.data.vocab import Vocab
        from tests.helpers import file_backed_dataset
        import pathlib
        TRAIN = {TRAIN!r}
        t = pathlib.Path({str(tmp_path)!r})
        v = {{k: Vocab.load(t / f) for k, f in
             (("words", "w.json"), ("chars", "c.json"), ("labels", "l.json"))}}
        print(encode_dataset(file_backed_dataset(t, TRAIN), v, split="train")._fingerprint)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join([root, os.path.join(root, "src")])  # this checkout, not an install
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=root
    )
    assert out.stdout.strip().splitlines()[-1] == here

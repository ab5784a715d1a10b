"""Tests for readers with ``tag_columns``: one tag list per task (CoNLL, CoNLL-U, JSON Lines,
JSON, Parquet, ``save_to_disk`` folders) on tiny files written in tmp_path, their errors, the
cache, and the task layers of the named corpora on the real files (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Sequence, Value
from omegaconf import OmegaConf

from seqtagger.data.corpora import CORPORA
from seqtagger.data.readers import (
    FEATURES,
    ConllReader,
    ConlluReader,
    CorpusFormatError,
    DiskReader,
    HubReader,
    JsonReader,
)
from seqtagger.data.readers.base import features
from seqtagger.data.schemes import validate_tags
from seqtagger.errors import ConfigError
from tests.reader_files import CONLL, _private_hf_cache, sentences, write  # noqa: F401 (autouse fixture)

CONLL_TASKS = {"pos": 1, "chunk": 2, "ner": 3}

# Sentence 1 has features on some words; sentence 2 ("Hi !") has none: FEATS is "_" throughout.
CONLLU = """# sent_id = 1
1\tI\tI\tPRON\tPRP\tCase=Nom|Number=Sing\t2\tnsubj\t_\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\tVerbForm=Fin\t0\troot\t_\t_
3\tn't\tnot\tPART\tRB\t_\t2\tadvmod\t_\tSpaceAfter=No

# sent_id = 2
1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_
"""

RECORDS = [
    {"words": ["EU", "rejects"], "pos": ["NNP", "VBZ"], "ner_tags": ["B-ORG", "O"]},
    {"words": ["Peter"], "pos": ["NNP"], "ner_tags": ["B-PER"]},
]
RECORD_TASKS = {"pos": "pos", "ner": "ner_tags"}
RECORD_ROWS = [
    {"tokens": ["EU", "rejects"], "pos": ["NNP", "VBZ"], "ner": ["B-ORG", "O"]},
    {"tokens": ["Peter"], "pos": ["NNP"], "ner": ["B-PER"]},
]


def jsonl(tmp_path: Path, name: str, records: list[dict]) -> Path:
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in records))


def class_label_dataset() -> datasets.Dataset:
    """RECORDS with integer tags and a ClassLabel feature per task, as datasets saves them."""
    pos_names, ner_names = ["NNP", "VBZ"], ["O", "B-ORG", "B-PER"]
    feats = datasets.Features(
        {
            "words": Sequence(Value("string")),
            "pos": Sequence(ClassLabel(names=pos_names)),
            "ner_tags": Sequence(ClassLabel(names=ner_names)),
        }
    )
    columns = {
        "words": [r["words"] for r in RECORDS],
        "pos": [[pos_names.index(t) for t in r["pos"]] for r in RECORDS],
        "ner_tags": [[ner_names.index(t) for t in r["ner_tags"]] for r in RECORDS],
    }
    return datasets.Dataset.from_dict(columns, features=feats)


# --------------------------------------------------------------------------- CoNLL


def test_conll_reads_one_column_per_task(tmp_path):
    path = write(tmp_path, "train.txt", CONLL)
    reader = ConllReader(tag_columns=CONLL_TASKS)
    assert reader.tag_keys == ("pos", "chunk", "ner")
    out = list(reader.iter_sentences(path, located=True))
    assert out[0] == {
        "tokens": ["EU", "rejects", "German"],
        "pos": ["NNP", "VBZ", "JJ"],
        "chunk": ["B-NP", "B-VP", "B-NP"],
        "ner": ["I-ORG", "O", "I-MISC"],
        "document": 1,
        "where": f"{path}:3",
    }
    assert [s["document"] for s in out] == [1, 1, 2]
    # Negative columns count from the last, as tag_column does.
    last = ConllReader(tag_columns={"ner": -1, "pos": -3})
    assert sentences(last, path)[1] == {
        "tokens": ["Peter", "Blackburn"],
        "ner": ["I-PER", "I-PER"],
        "pos": ["NNP", "NNP"],
    }


def test_conll_missing_task_column_names_file_line_and_task(tmp_path):
    path = write(tmp_path, "train.txt", "EU B-ORG\nrejects O\n")
    reader = ConllReader(tag_columns={"ner": 1, "chunk": 2})
    with pytest.raises(CorpusFormatError) as err:
        sentences(reader, path)
    assert str(err.value) == (
        f"{path}:1: task 'chunk' reads column 2, but the line has 2 columns ('EU B-ORG') "
        "(expected a token in column 0 and tags in columns 1 (ner), 2 (chunk))"
    )
    assert err.value.line == 1


def test_conll_tasks_keep_the_column_count_check(tmp_path):
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\nNew York NNP B-NP B-LOC\n")
    with pytest.raises(CorpusFormatError, match=r"a\.txt:2: too many columns: found 5"):
        sentences(ConllReader(tag_columns=CONLL_TASKS), path)


def test_conll_empty_tag_and_task_on_the_token_column_name_the_task(tmp_path):
    path = write(tmp_path, "a.tsv", "EU\tNNP\tB-ORG\nrejects\t\tO\n")
    reader = ConllReader(separator="\t", tag_columns={"pos": 1, "ner": 2})
    with pytest.raises(CorpusFormatError, match=r"a\.tsv:2: empty tag in column 1 for task 'pos'"):
        sentences(reader, path)
    # -3 is column 0 of these 3-column lines: the token, not a tag
    reader = ConllReader(separator="\t", tag_columns={"ner": 2, "pos": -3})
    with pytest.raises(CorpusFormatError, match=r"a\.tsv:1: task 'pos' reads column -3, but the "):
        sentences(reader, path)


def test_conll_token_column_may_not_be_a_task_column():
    with pytest.raises(ConfigError, match=r"tag_columns\['pos'\]=0 is the token_column"):
        ConllReader(tag_columns={"ner": 3, "pos": 0})
    with pytest.raises(ConfigError, match=r"tag_columns\['pos'\]='1': expected a 0-based column"):
        ConllReader(tag_columns={"pos": "1"})
    # tag_column is not read with tag_columns: its default (-1) may equal token_column
    assert ConllReader(token_column=-1, tag_columns={"ner": 0}).tag_keys == ("ner",)


def test_conll_absent_task_column_is_none_and_dropped_when_tags_are_optional(tmp_path):
    path = write(tmp_path, "a.txt", "EU NNP\nrejects VBZ\n\nPeter NNP\n")
    reader = ConllReader(tag_columns={"pos": 1, "ner": 3})
    rows = sentences(reader, path, require_tags=False)
    assert rows[0] == {"tokens": ["EU", "rejects"], "pos": ["NNP", "VBZ"], "ner": None}
    ds = reader.read(path, cache_dir=str(tmp_path / "cache"), require_tags=False)
    assert ds.column_names == ["tokens", "pos", "document"]
    assert ds["pos"] == [["NNP", "VBZ"], ["NNP"]]
    with pytest.raises(CorpusFormatError, match=r"a\.txt:1: task 'ner' reads column 3"):
        reader.read(path, cache_dir=str(tmp_path / "cache"))


# --------------------------------------------------------------------------- CoNLL-U


def test_conllu_reads_named_and_numbered_fields_per_task(tmp_path):
    path = write(tmp_path, "a.conllu", CONLLU)
    reader = ConlluReader(tag_columns={"upos": "upos", "xpos": "XPOS", "feats": "feats", "dep": 7})
    out = sentences(reader, path)
    assert out[0] == {
        "tokens": ["I", "ca", "n't"],
        "upos": ["PRON", "AUX", "PART"],
        "xpos": ["PRP", "MD", "RB"],
        "feats": ["Case=Nom|Number=Sing", "VerbForm=Fin", "_"],
        "dep": ["nsubj", "root", "advmod"],
    }
    # "_" in FEATS is a label (no features) when tags are required
    assert out[1]["feats"] == ["_", "_"]
    fields = {"lemma": "lemma", "head": "head", "deps": "deps", "misc": "misc"}
    first = sentences(ConlluReader(tag_columns=fields), path)[0]
    assert first == {
        "tokens": ["I", "ca", "n't"],
        "lemma": ["I", "can", "not"],
        "head": ["2", "0", "2"],
        "deps": ["_", "_", "_"],
        "misc": ["_", "_", "SpaceAfter=No"],
    }
    with pytest.raises(ConfigError, match=r"tag_columns\['x'\]='feat': expected one of"):
        ConlluReader(tag_columns={"x": "feat"})


def test_conllu_unannotated_rule_is_per_task_when_tags_are_optional(tmp_path):
    """All ``_`` = unannotated, per task; FEATS (and MISC) ``_`` means "no features", so a
    sentence with UPOS keeps its all-``_`` FEATS, while raw text loses them."""
    raw = "1\tHello\t_\t_\t_\t_\t_\t_\t_\t_\n2\tthere\t_\t_\t_\t_\t_\t_\t_\t_\n"
    no_xpos = "1\tYes\tyes\tINTJ\t_\t_\t0\troot\t_\t_\n"
    path = write(tmp_path, "a.conllu", f"{CONLLU}\n{raw}\n{no_xpos}")
    reader = ConlluReader(tag_columns={"xpos": "xpos", "feats": "feats"})
    out = sentences(reader, path, require_tags=False)
    assert [(s["xpos"], s["feats"]) for s in out] == [
        (["PRP", "MD", "RB"], ["Case=Nom|Number=Sing", "VerbForm=Fin", "_"]),
        (["UH", "."], ["_", "_"]),
        (None, None),
        (None, ["_"]),
    ]
    ds = reader.read(write(tmp_path, "raw.conllu", raw), require_tags=False)
    assert ds.column_names == ["tokens", "document"]


def test_conllu_empty_field_names_task(tmp_path):
    path = write(tmp_path, "a.conllu", "1\tHi\thi\tINTJ\t\t_\t0\troot\t_\t_\n")
    reader = ConlluReader(tag_columns={"upos": "upos", "xpos": "xpos"})
    with pytest.raises(
        CorpusFormatError, match=r"a\.conllu:1: empty tag in column 5 for task 'xpos'"
    ):
        sentences(reader, path)


# --------------------------------------------------------------------------- records


def test_json_lines_and_json_read_one_key_per_task(tmp_path):
    reader = JsonReader(tokens_key="words", tag_columns=RECORD_TASKS)
    assert reader.tag_keys == ("pos", "ner")
    for path in (
        jsonl(tmp_path, "a.jsonl", RECORDS),
        write(tmp_path, "a.json", json.dumps(RECORDS)),
    ):
        assert sentences(reader, path) == RECORD_ROWS
    where = next(reader.iter_sentences(tmp_path / "a.json", located=True))["where"]
    assert where == f"{tmp_path / 'a.json'}: record 0"


def test_record_errors_name_file_line_and_task(tmp_path):
    bad = [*RECORDS, {"words": ["x"], "ner_tags": ["O"]}]
    path = jsonl(tmp_path, "f.jsonl", bad)
    reader = JsonReader(tokens_key="words", tag_columns=RECORD_TASKS)
    with pytest.raises(CorpusFormatError) as err:
        sentences(reader, path)
    assert (
        str(err.value)
        == f"{path}:3: no 'pos' key for task 'pos' (found keys ['ner_tags', 'words'])"
    )
    short = jsonl(
        tmp_path, "g.jsonl", [{"words": ["a", "b"], "pos": ["X", "Y"], "ner_tags": ["O"]}]
    )
    with pytest.raises(CorpusFormatError, match=r"g\.jsonl:1: task 'ner': 2 tokens but 1 tags"):
        sentences(reader, short)
    empty = jsonl(tmp_path, "h.jsonl", [{"words": ["a"], "pos": [""], "ner_tags": ["O"]}])
    with pytest.raises(CorpusFormatError, match=r"h\.jsonl:1: task 'pos': tags must be non-empty"):
        sentences(reader, empty)
    # optional tags: the task without its key has none, and its column is dropped
    rows = sentences(
        JsonReader(tokens_key="words", tag_columns={"pos": "pos", "chunk": "chunk"}),
        path,
        require_tags=False,
    )
    assert rows[2] == {"tokens": ["x"], "pos": None, "chunk": None}
    ds = JsonReader(tokens_key="words", tag_columns={"pos": "pos", "chunk": "chunk"}).read(
        path, cache_dir=str(tmp_path / "cache"), require_tags=False
    )
    assert ds.column_names == ["tokens", "pos", "document"]
    assert ds["pos"] == [["NNP", "VBZ"], ["NNP"], None]


def test_parquet_and_hub_class_labels_per_task_and_missing_column(tmp_path):
    path = tmp_path / "rows.parquet"
    class_label_dataset().to_parquet(path)
    reader = JsonReader(tokens_key="words", tag_columns=RECORD_TASKS)
    assert sentences(reader, path) == RECORD_ROWS
    chunk = JsonReader(tokens_key="words", tag_columns={"pos": "pos", "chunk": "chunk"})
    with pytest.raises(CorpusFormatError) as err:
        sentences(chunk, path)
    assert str(err.value) == (
        f"{path}: no column 'chunk' for task 'chunk' (found columns ['words', 'pos', 'ner_tags'])"
    )
    hub = {"tokens_key": "words", "data_files": {"train": str(path)}}
    assert sentences(HubReader("parquet", tag_columns=RECORD_TASKS, **hub), "train") == RECORD_ROWS
    with pytest.raises(CorpusFormatError, match=r"^parquet\[train\]: no column 'chunk' for task"):
        sentences(HubReader("parquet", tag_columns={"chunk": "chunk"}, **hub), "train")


def test_disk_folder_class_labels_per_task_and_missing_column(tmp_path):
    folder = tmp_path / "saved"
    class_label_dataset().save_to_disk(str(folder))
    reader = DiskReader(tokens_key="words", tag_columns=RECORD_TASKS)
    ds = reader.read(folder, cache_dir=str(tmp_path / "cache"))
    assert ds.features == features(["pos", "ner"])
    assert ds.to_list() == [{**row, "document": 0} for row in RECORD_ROWS]
    chunk = DiskReader(tokens_key="words", tag_columns={"chunk": "chunk"})
    with pytest.raises(
        CorpusFormatError, match=r"saved: no column 'chunk' for task 'chunk' \(found"
    ):
        chunk.read(folder, cache_dir=str(tmp_path / "cache"))
    assert chunk.read(folder, require_tags=False).column_names == ["tokens", "document"]


# --------------------------------------------------------------------------- options, cache


READERS = [
    lambda columns: ConllReader(tag_columns=columns),
    lambda columns: ConlluReader(tag_columns=columns),
    lambda columns: JsonReader(tag_columns=columns),
    lambda columns: DiskReader(tag_columns=columns),
    lambda columns: HubReader("parquet", tag_columns=columns),
]


@pytest.mark.parametrize("make", READERS)
@pytest.mark.parametrize("name", ["tokens", "document", "where", "length", "index", "tag_ids"])
def test_task_names_of_row_columns_are_refused(make, name):
    with pytest.raises(
        ConfigError, match=f"tag_columns: task '{name}' has the name of a row column"
    ):
        make({"ok": 3, name: 2})


@pytest.mark.parametrize(
    ("make", "columns"),
    [
        (READERS[0], {"ner": 3, "pos": 1}),
        (READERS[1], {"xpos": "xpos", "upos": 3}),
        (READERS[2], {"ner": "ner_tags", "pos": "pos"}),
        (READERS[3], {"ner": "ner_tags"}),
        (READERS[4], {"ner": "ner_tags", "pos": "pos_tags"}),
    ],
)
def test_options_rebuild_the_reader_with_tag_columns_as_a_plain_dict(make, columns):
    reader = make(OmegaConf.create(columns))  # as Hydra gives it
    assert type(reader.options["tag_columns"]) is dict
    assert reader.options["tag_columns"] == columns
    assert reader.tag_keys == tuple(columns)  # task order kept
    rebuilt = type(reader)(**reader.options)
    assert rebuilt.options == reader.options
    assert make(None).tag_keys == ("tags",)
    assert make(None).options["tag_columns"] is None


def test_changed_tag_columns_are_read_again_from_the_same_cache(tmp_path):
    path = write(tmp_path, "train.txt", CONLL)
    cache = str(tmp_path / "cache")
    pos = ConllReader(tag_columns={"pos": 1}).read(path, cache_dir=cache)
    chunk = ConllReader(tag_columns={"chunk": 2, "ner": 3}).read(path, cache_dir=cache)
    single = ConllReader().read(path, cache_dir=cache)
    assert pos.column_names == ["tokens", "pos", "document"]
    assert chunk.column_names == ["tokens", "chunk", "ner", "document"]
    assert pos["pos"][1] == ["NNP", "NNP"]
    assert chunk["chunk"][1] == ["B-NP", "I-NP"]
    assert chunk["ner"][1] == ["I-PER", "I-PER"]
    assert single.features == FEATURES
    assert single["tags"][1] == ["I-PER", "I-PER"]
    folder = tmp_path / "saved"
    class_label_dataset().save_to_disk(str(folder))
    first = DiskReader(tokens_key="words", tag_columns={"pos": "pos"}).read(folder, cache_dir=cache)
    second = DiskReader(tokens_key="words", tag_columns={"pos": "ner_tags"}).read(
        folder, cache_dir=cache
    )
    assert first["pos"][1] == ["NNP"]
    assert second["pos"][1] == ["B-PER"]


def test_features_has_one_tag_column_per_task():
    assert features(None) == FEATURES
    assert list(features(["upos", "feats"])) == ["tokens", "upos", "feats", "document"]
    assert features(["upos"])["upos"] == FEATURES["tags"]


# --------------------------------------------------------------------------- real corpora


def layer_reader(corpus: str):
    spec = CORPORA[corpus]
    return spec.make_reader({name: column for name, (column, _) in spec.layers.items()})


def test_ewt_dev_layers_give_equal_length_columns(real_data_dir):
    path = real_data_dir / "ud_en_ewt" / "en_ewt-ud-dev.conllu"
    reader = layer_reader("ud_ewt")
    assert reader.tag_keys == ("upos", "xpos", "feats")
    n = 0
    for sentence in reader.iter_sentences(path):
        length = len(sentence["tokens"])
        assert [len(sentence[key]) for key in reader.tag_keys] == [length] * 3
        n += 1
    assert n == 2001
    # optional tags lose no FEATS: 66 dev sentences have no features at all, yet are annotated
    optional = list(reader.iter_sentences(path, require_tags=False))
    assert sum(all(f == "_" for f in s["feats"]) for s in optional) == 66


def test_conll2003_dev_layers_follow_their_schemes(real_data_dir):
    spec = CORPORA["conll2003"]
    reader = layer_reader("conll2003")
    assert reader.tag_keys == ("pos", "chunk", "ner")
    rows = list(reader.iter_sentences(real_data_dir / "conll2003" / "dev.txt"))
    assert len(rows) == 3250
    for name, (_, scheme) in spec.layers.items():
        assert all(not validate_tags(row[name], scheme) for row in rows), name
    # IOB1, not IOB2: chunks mostly start with I-
    assert sum(row["chunk"][0].startswith("I-") for row in rows) > len(rows) // 2
    assert spec.make_reader().tag_keys == ("tags",)

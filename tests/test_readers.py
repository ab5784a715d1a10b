"""Tests for the text readers of seqtagger.data.readers (CoNLL, CoNLL-U) on tiny corpora built
in tmp_path; the dataset-backed readers, ``read()`` and the real corpora are in
``test_readers_datasets.py``."""

from __future__ import annotations

import json
import logging

import pytest

from seqtagger.data.readers import (
    ConllReader,
    ConlluReader,
    CorpusFormatError,
    CorpusNotFoundError,
    JsonReader,
)
from tests.reader_files import CONLL, _private_hf_cache, sentences, write  # noqa: F401 (autouse fixture)

CONLLU = """# newdoc id = d1
# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t0\troot\t_\t_
3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t0:root\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\tSpaceAfter=No

# sent_id = 2
1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""

# --------------------------------------------------------------------------- CoNLL


def test_conll_reads_last_column_and_drops_docstart(tmp_path):
    out = sentences(ConllReader(), write(tmp_path, "a.txt", CONLL))
    assert [s["tokens"] for s in out] == [
        ["EU", "rejects", "German"],
        ["Peter", "Blackburn"],
        ["BRUSSELS"],
    ]
    assert out[0]["tags"] == ["I-ORG", "O", "I-MISC"]


def test_conll_other_columns(tmp_path):
    out = sentences(ConllReader(tag_column=1), write(tmp_path, "a.txt", CONLL))
    assert out[1]["tags"] == ["NNP", "NNP"]


def test_conll_tab_separator_and_lone_tab_blank_line(tmp_path):
    # WNUT-style: tab separated, sentences separated by a line holding only a tab.
    text = "New York\tB-location\nrocks\tO\n\t\n@user\tO\n"
    out = sentences(ConllReader(separator="\t"), write(tmp_path, "wnut.conll", text))
    assert out == [
        {"tokens": ["New York", "rocks"], "tags": ["B-location", "O"]},
        {"tokens": ["@user"], "tags": ["O"]},
    ]


def test_conll_whitespace_split_keeps_non_breaking_space_inside_token(tmp_path):
    out = sentences(ConllReader(), write(tmp_path, "a.txt", "10\u00a0000 CD O\n"))
    assert out == [{"tokens": ["10\u00a0000"], "tags": ["O"]}]


def test_conll_crlf_bom_and_no_trailing_blank(tmp_path):
    out = sentences(ConllReader(), write(tmp_path, "a.txt", "\ufeffa X\r\nb Y\r\n\r\nc Z"))
    assert out == [{"tokens": ["a", "b"], "tags": ["X", "Y"]}, {"tokens": ["c"], "tags": ["Z"]}]


def test_conll_comments_only_before_first_token(tmp_path):
    text = "# source: x\na O\n# B-HASH\n\n# only a comment\n\nb O\n"
    reader = ConllReader(comment_prefix="#")
    out = sentences(reader, write(tmp_path, "a.txt", text))
    # "#" inside a sentence is a token (a hashtag), not a comment.
    assert out == [
        {"tokens": ["a", "#"], "tags": ["O", "B-HASH"]},
        {"tokens": ["b"], "tags": ["O"]},
    ]


def test_conll_comment_only_block_is_reported(tmp_path, caplog):
    text = "# header\n\na O\n"
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.readers"):
        out = sentences(ConllReader(comment_prefix="#"), write(tmp_path, "a.txt", text))
    assert len(out) == 1
    assert "skipped 1 sentences" in caplog.text
    assert "line 1" in caplog.text


def test_conll_without_tags_when_not_required(tmp_path):
    path = write(tmp_path, "raw.txt", "a\nb\n\nc\n")
    out = sentences(ConllReader(), path, require_tags=False)
    assert out == [{"tokens": ["a", "b"], "tags": None}, {"tokens": ["c"], "tags": None}]
    with pytest.raises(CorpusFormatError, match=r"raw\.txt:1: too few columns"):
        sentences(ConllReader(), path)


def test_conll_mixed_tag_columns_rejected_when_not_required(tmp_path):
    path = write(tmp_path, "mix.txt", "a O\nb\n")
    with pytest.raises(CorpusFormatError, match=r"mix\.txt:2: .*first token line \(1\)"):
        sentences(ConllReader(), path, require_tags=False)


@pytest.mark.parametrize(
    ("text", "reader", "line", "what"),
    [
        ("a O\nb O\n\nc\n", ConllReader(), 4, "too few columns"),
        ("a\tO\nword\t\n", ConllReader(separator="\t"), 2, "empty tag"),
        ("a\tO\n\tO\n", ConllReader(separator="\t"), 2, "empty token"),
    ],
)
def test_conll_bad_lines_name_file_and_line(tmp_path, text, reader, line, what):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(CorpusFormatError, match=rf"bad\.txt:{line}: {what}") as info:
        sentences(reader, path)
    assert info.value.line == line
    assert info.value.path == str(path)


def test_conll_line_with_more_columns_is_an_error_not_a_truncated_token(tmp_path):
    """A hand-made ``New York B-LOC`` line used to become the token ``New``."""
    path = write(tmp_path, "train.txt", "Anna B-PER\nvisited O\nNew York B-LOC\n")
    with pytest.raises(CorpusFormatError, match=r"train\.txt:3: too many columns") as info:
        sentences(ConllReader(), path)
    message = str(info.value)
    assert "'New York B-LOC'" in message and "first token line (1)" in message
    assert "separator" in message  # says how to keep spaces inside tokens
    with pytest.raises(CorpusFormatError, match=r"train\.txt:3: too many columns"):
        sentences(ConllReader(), path, require_tags=False)


def test_conll_column_count_is_fixed_by_the_first_token_line_of_the_file(tmp_path):
    """Later sentences cannot change the layout either (4 columns, then 2)."""
    path = write(tmp_path, "a.txt", "EU NNP B-NP B-ORG\n\nPeter B-PER\n")
    with pytest.raises(CorpusFormatError, match=r"a\.txt:3: too few columns.*first token line"):
        sentences(ConllReader(), path)


@pytest.mark.parametrize(
    ("name", "text", "reader", "line", "what"),
    [
        ("a.tsv", "a\tO\n \tO\n", ConllReader(separator="\t"), 2, "only whitespace"),
        ("a.txt", "a O\n\u00a0 O\n", ConllReader(), 2, "only whitespace"),
        ("a.tsv", "a\tO\nGer\u2028man\tO\n", ConllReader(separator="\t"), 2, "line break"),
        ("a.conllu", "1\t \t_\tX\t_\t_\t0\troot\t_\t_\n", ConlluReader(), 1, "whitespace"),
        ("a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": [" "], "tags": ["O"]}\n',
         JsonReader(), 2, "token 0: token ' ' is only whitespace"),
        ("a.jsonl", '{"tokens": ["Ger\\nman"], "tags": ["O"]}\n', JsonReader(), 1,
         "contains a line break"),
        ("a.jsonl", '{"tokens": ["a"], "tags": ["O\\r"]}\n', JsonReader(), 1,
         "tag 0: tag 'O\\r' contains a line break"),
    ],
)  # fmt: skip
def test_tokens_that_would_break_a_conll_line_are_rejected(
    tmp_path, name, text, reader, line, what
):
    """Empty, whitespace-only and multi-line tokens name file and line."""
    path = write(tmp_path, name, text)
    with pytest.raises(CorpusFormatError, match=rf"{name.replace('.', '[.]')}:{line}: ") as info:
        sentences(reader, path)
    assert what in str(info.value)


def test_spaces_inside_tokens_are_kept(tmp_path):
    """A CoNLL-U FORM ``1 000`` is a valid token (writers replace the space)."""
    text = "1\t1 000\t_\tNUM\t_\t_\t0\troot\t_\t_\n"
    assert sentences(ConlluReader(), write(tmp_path, "a.conllu", text))[0]["tokens"] == ["1 000"]
    out = sentences(
        JsonReader(), write(tmp_path, "a.jsonl", '{"tokens": ["New York"]}\n'), require_tags=False
    )
    assert out[0]["tokens"] == ["New York"]


def test_jsonl_lone_surrogate_names_file_and_line(tmp_path):
    """Used to end in a DatasetGenerationError traceback from Arrow."""
    text = '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["\\ud800"], "tags": ["O"]}\n'
    path = write(tmp_path, "s.jsonl", text)
    with pytest.raises(CorpusFormatError, match=r"s\.jsonl:2: token 0: .*lone surrogate"):
        JsonReader().read(path, cache_dir=str(tmp_path / "cache"))
    path.write_text('{"tokens": ["a"], "tags": ["\\udfff"]}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"s\.jsonl:1: tag 0: .*lone surrogate"):
        JsonReader().read(path, cache_dir=str(tmp_path / "cache"))


def test_located_sentences_say_where_they_start(tmp_path):
    """The ``where`` that scheme errors quote (line, or record index)."""
    conll = write(tmp_path, "a.txt", CONLL)
    wheres = [s["where"] for s in ConllReader().iter_sentences(conll, located=True)]
    assert wheres == [f"{conll}:3", f"{conll}:7", f"{conll}:12"]
    assert ConllReader().locate(conll, 1) == f"{conll}:7"
    conllu = write(tmp_path, "a.conllu", CONLLU)
    assert [s["where"] for s in ConlluReader().iter_sentences(conllu, located=True)] == [
        f"{conllu}:4",
        f"{conllu}:12",
    ]
    rows = [{"tokens": [], "tags": []}, {"tokens": ["a"], "tags": ["O"]}]
    as_json = write(tmp_path, "a.json", json.dumps(rows))
    assert JsonReader().locate(as_json, 0) == f"{as_json}: record 1"
    assert "where" not in next(JsonReader().iter_sentences(as_json))


def test_empty_file(tmp_path):
    path = write(tmp_path, "empty.txt", "")
    with pytest.raises(CorpusFormatError, match=r"empty\.txt:1: empty file"):
        sentences(ConllReader(), path)


def test_file_with_no_sentences(tmp_path):
    path = write(tmp_path, "docs.txt", "-DOCSTART- -X- O O\n\n\n")
    with pytest.raises(CorpusFormatError, match=r"docs\.txt: no sentences"):
        sentences(ConllReader(), path)


def test_not_utf8_names_line_and_byte(tmp_path):
    path = write(tmp_path, "latin1.txt", b"a O\nb O\n\n" + "café O\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match=r"latin1\.txt:4: not valid UTF-8: byte 0xe9"):
        sentences(ConllReader(), path)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusNotFoundError, match=r"nope\.txt"):
        sentences(ConllReader(), tmp_path / "nope.txt")
    with pytest.raises(CorpusNotFoundError, match=r"nope\.txt"):
        ConllReader().read(tmp_path / "nope.txt", cache_dir=str(tmp_path / "cache"))


def test_same_token_and_tag_column_is_rejected():
    with pytest.raises(ValueError, match="both"):
        ConllReader(token_column=1, tag_column=1)


# --------------------------------------------------------------------------- CoNLL-U


def test_conllu_upos_skips_ranges_and_empty_nodes(tmp_path):
    out = sentences(ConlluReader(), write(tmp_path, "a.conllu", CONLLU))
    assert out == [
        {"tokens": ["I", "do", "n't", "."], "tags": ["PRON", "AUX", "PART", "PUNCT"]},
        {"tokens": ["Hi"], "tags": ["INTJ"]},
    ]


@pytest.mark.parametrize(("column", "first"), [("xpos", "PRP"), (4, "PRP"), (7, "nsubj")])
def test_conllu_other_columns(tmp_path, column, first):
    out = sentences(ConlluReader(tag_column=column), write(tmp_path, "a.conllu", CONLLU))
    assert out[0]["tags"][0] == first


def test_conllu_bad_tag_column():
    with pytest.raises(ValueError, match="tag_column"):
        ConlluReader(tag_column="feats_typo")


def test_conllu_sentence_without_words_is_reported(tmp_path, caplog):
    text = "# sent_id = 1\n1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n" + CONLLU
    with caplog.at_level(logging.WARNING, logger="seqtagger.data.readers"):
        out = sentences(ConlluReader(), write(tmp_path, "a.conllu", text))
    assert len(out) == 2
    assert "skipped 1 sentences with no words (first at line 1)" in caplog.text


def test_conllu_wrong_column_count(tmp_path):
    path = write(tmp_path, "a.conllu", "1 I I PRON PRP _ 0 root _ _\n")
    with pytest.raises(CorpusFormatError, match=r"a\.conllu:1: found 1 tab-separated columns"):
        sentences(ConlluReader(), path)


def test_conllu_unannotated_tags_optional(tmp_path):
    text = "1\tHi\t_\t_\t_\t_\t_\t_\t_\t_\n"
    out = sentences(ConlluReader(), write(tmp_path, "a.conllu", text), require_tags=False)
    assert out == [{"tokens": ["Hi"], "tags": None}]

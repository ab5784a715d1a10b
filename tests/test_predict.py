"""seqtagger-predict (``seqtagger.predict.main``, in process) and the ``Predictor`` Python API."""

from __future__ import annotations

import json
import random
import tracemalloc
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
import torch

from seqtagger.data.readers import FORMATS, ConllReader
from seqtagger.data.schemes import convert_tags, get_spans
from seqtagger.inference.inputs import INPUT_FORMATS, detect_format
from seqtagger.inference.outputs import tag_stream
from seqtagger.inference.predictor import Predictor
from seqtagger.inference.progress import Progress
from seqtagger.inference.records import span_record
from seqtagger.inference.tokenizer import tokenize
from tests.predict_cli import cli, jsonl, set_stdin
from tests.reader_files import write

TEXT_LINES = [
    "Anna Smith visited Paris today.",
    "The United Nations met with Acme Corp in Oslo, said Dana.",
    "Zyxqwv Überraschungsei-Konstruktionsbüro flew to Quito!",
]
IOB2_TAGS = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG")}


@pytest.fixture
def varied_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the (tiny, mostly-O) model predict many entities, so span checks are not vacuous."""

    def fake_ids(
        self: Predictor, sentences: list[list[str]], contexts=None, documents=None
    ) -> list[list[int]]:
        n = len(self.labels)
        return [[(len(tok) * 7 + i) % n for i, tok in enumerate(s)] for s in sentences]

    monkeypatch.setattr(Predictor, "predict_batch_ids", fake_ids)


# --------------------------------------------------------------------------- formats


def test_text_to_jsonl_spans_round_trip(
    tiny_checkpoint: Path, tmp_path: Path, capsys, varied_tags
) -> None:
    text = tmp_path / "in.txt"
    text.write_text("\n".join(TEXT_LINES) + "\n", encoding="utf-8")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, text, "--format", "jsonl")
    assert code == 0, err
    records = jsonl(out)
    assert [r["tokens"] for r in records] == [tokenize(line) for line in TEXT_LINES]
    assert sum(len(r["spans"]) for r in records) > 0
    for record in records:
        tokens, tags = record["tokens"], record["tags"]
        assert len(tags) == len(tokens) and set(tags) <= IOB2_TAGS
        for span in record["spans"]:
            assert span["text"] == " ".join(tokens[span["start"] : span["end"]])
        by_tokens = [
            {k: v for k, v in s.items() if not k.startswith("char_")} for s in record["spans"]
        ]
        assert by_tokens == [span_record(s, tokens) for s in get_spans(tags, "iob2")]


def test_conll_output_has_one_line_per_token_and_blank_lines(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    sentences = [["EU", "rejects", "German", "call"], ["Anna"], ["a", "b", "c", "d", "e", "."]]
    source = tmp_path / "in.tok"
    source.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf-8")
    args = ("--ckpt", tiny_checkpoint, source, "--input-format", "tokens")
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert out.endswith("\n\n") and "\n\n\n" not in out
    blocks = [block.split("\n") for block in out.rstrip("\n").split("\n\n")]
    assert [[line.split("\t")[0] for line in block] for block in blocks] == sentences
    assert all(len(line.split("\t")) == 2 for block in blocks for line in block)


def test_two_word_text_lines_are_tagged_whole(tiny_checkpoint: Path, tmp_path: Path, capsys):
    """Taken for CoNLL, only the first word of each line was tagged."""
    notes = write(tmp_path, "notes.txt", "Meeting notes\nJohn Smith\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, notes)
    assert code == 0, err
    assert "tagged 2 sentences (4 tokens)" in err
    assert [line.split("\t")[0] for line in out.split()[::2]] == [
        "Meeting",
        "notes",
        "John",
        "Smith",
    ]


def test_decomposed_text_gives_the_tokens_and_spans_of_composed_text(
    tiny_checkpoint: Path, tmp_path: Path, capsys, varied_tags
) -> None:
    """NFD accents are combining marks: each stays in its word, never a token or a span's start."""
    line = "José Martínez visited Bogotá ."
    source = write(tmp_path, "nfd.txt", unicodedata.normalize("NFD", line) + "\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "--format", "jsonl")
    assert code == 0, err
    [record] = jsonl(out)
    assert [unicodedata.normalize("NFC", t) for t in record["tokens"]] == line.split()
    assert record["spans"] and all(
        unicodedata.combining(s["text"][0]) == 0 for s in record["spans"]
    )


def test_conll_output_replaces_whitespace_inside_tokens(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """A CoNLL-U FORM ``1 000`` stays one column: ``1_000<TAB>tag``."""
    rows = [
        "1\t1 000\t_\tNUM\t_\t_\t0\troot\t_\t_",
        "2\tNew\u00a0York\t_\tPROPN\t_\t_\t1\tnmod\t_\t_",
    ]
    source = write(tmp_path, "in.conllu", "\n".join(rows) + "\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source)
    assert code == 0, err
    lines = out.rstrip("\n").split("\n")
    assert [line.split("\t")[0] for line in lines] == ["1_000", "New_York"]
    assert all(len(line.split()) == 2 for line in lines)


def test_conll_file_input_gives_every_sentence(
    tiny_checkpoint: Path, tiny_ner_dir: Path, capsys
) -> None:
    test_file = tiny_ner_dir / "test.txt"
    assert detect_format(str(test_file)) == "conll"
    gold = [s["tokens"] for s in ConllReader().iter_sentences(test_file)]
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, test_file, "--format", "jsonl")
    assert code == 0, err
    records = jsonl(out)
    assert len(records) == len(gold) == 40
    assert [r["tokens"] for r in records] == gold
    assert all(set(r["tags"]) <= IOB2_TAGS for r in records)


SENTENCES = [["Anna", "Smith", "visited", "Paris", "."], ["EU"], ["Oslo", "and", "Lima"]]


def _tagged_dataset(tags: bool = True) -> datasets.Dataset:
    """SENTENCES as a Dataset; ``tags`` as ClassLabel ids, as ``save_to_disk`` corpora hold them."""
    columns: dict = {"tokens": SENTENCES}
    features = {"tokens": datasets.Sequence(datasets.Value("string"))}
    if tags:
        columns["tags"] = [[0] * len(s) for s in SENTENCES]
        features["tags"] = datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER"]))
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def test_parquet_file_input_gives_every_sentence(
    tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Predict rejected .parquet, which train and eval read."""
    path = tmp_path / "in.parquet"
    _tagged_dataset().to_parquet(path)
    assert detect_format(str(path)) == "parquet"
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, path, "--format", "jsonl")
    assert code == 0, err
    records = jsonl(out)
    assert [r["tokens"] for r in records] == SENTENCES
    assert all(len(r["tags"]) == len(r["tokens"]) for r in records)
    assert "tagged 3 sentences (9 tokens)" in err

    set_stdin(monkeypatch, path.read_bytes())  # from stdin, the format must be given
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, "--input-format", "parquet")
    assert code == 0, err
    blocks = out.rstrip("\n").split("\n\n")
    assert [[line.split("\t")[0] for line in b.split("\n")] for b in blocks] == SENTENCES


def test_input_format_reads_a_record_file_whatever_its_suffix(
    tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """--input-format parquet read a file without the .parquet suffix as JSON Lines ("not valid
    UTF-8"), and a JSON list could not be given at all (stdin: "expected an object")."""
    parquet = tmp_path / "tagged.data"
    _tagged_dataset().to_parquet(parquet)
    as_list = write(tmp_path, "records.txt", json.dumps([{"tokens": s} for s in SENTENCES]))
    for path, input_format in ((parquet, "parquet"), (as_list, "json")):
        args = (
            "--ckpt",
            tiny_checkpoint,
            path,
            "--input-format",
            input_format,
            "--format",
            "jsonl",
        )
        code, out, err = cli(capsys, *args)
        assert code == 0, err
        assert [r["tokens"] for r in jsonl(out)] == SENTENCES
    set_stdin(monkeypatch, as_list.read_bytes())
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, "--input-format", "json")
    assert code == 0, err
    assert "tagged 3 sentences (9 tokens)" in err


@pytest.mark.parametrize("tags", [True, False])
def test_save_to_disk_folder_input_gives_every_sentence(
    tags: bool, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """Predict rejected save_to_disk folders ("is a folder"), which train and eval read."""
    folder = tmp_path / "saved"
    _tagged_dataset(tags).save_to_disk(str(folder))
    assert detect_format(str(folder)) == "disk"
    for options in ([], ["--input-format", "disk"]):
        code, out, err = cli(
            capsys, "--ckpt", tiny_checkpoint, folder, "--format", "jsonl", *options
        )
        assert code == 0, err
        assert [r["tokens"] for r in jsonl(out)] == SENTENCES
        assert "tagged 3 sentences (9 tokens)" in err


def test_dataset_dict_folder_names_its_split_folders(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """A ``DatasetDict.save_to_disk`` folder holds one folder per split: predict reads a split's
    folder, and the whole folder gets one message that names the splits and such a folder."""
    folder = tmp_path / "saved"
    datasets.DatasetDict({"test": _tagged_dataset(), "train": _tagged_dataset()}).save_to_disk(
        str(folder)
    )
    code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, folder)
    assert code == 2
    splits = "holds a DatasetDict with splits ['test', 'train']; name one: its folder"
    assert f"{splits} ({folder / 'test'})" in err
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, folder / "test", "--format", "jsonl")
    assert code == 0, err
    assert [r["tokens"] for r in jsonl(out)] == SENTENCES


def test_every_reader_format_is_an_input_format(tmp_path: Path, capsys) -> None:
    """One table: every format the readers know is a choice of --input-format, and auto-detection
    maps each of its suffixes to it; a folder is not a valid input of a file format."""
    for name, fmt in FORMATS.items():
        assert name in INPUT_FORMATS
        for suffix in fmt.suffixes:
            path = tmp_path / f"x{suffix}"
            path.touch()
            assert detect_format(str(path)) == name
    code, _, err = cli(capsys, "--ckpt", tmp_path / "x.ckpt", tmp_path, "--input-format", "text")
    assert code == 2 and f"{tmp_path}: is a folder (expected an input file)" in err
    code, _, err = cli(capsys, "--ckpt", tmp_path / "x.ckpt", "--input-format", "disk")
    assert code == 2 and "--input-format disk: cannot read stdin" in err


def test_stdin_text_skips_and_counts_blank_lines(
    tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    set_stdin(monkeypatch, "\n".join([TEXT_LINES[0], "", "  ", TEXT_LINES[1]]).encode())
    output = tmp_path / "out.conll"
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, "-", "--output", output)
    assert code == 0, err
    assert out == ""  # predictions went to --output; stdout stays clean
    assert output.read_text(encoding="utf-8").count("\n\n") == 2
    assert "tagged 2 sentences" in err and "skipped 2 blank lines" in err


def test_stdin_jsonl_and_bioes_output(tiny_checkpoint: Path, capsys, monkeypatch) -> None:
    lines = [json.dumps({"tokens": ["Anna", "Smith"], "tags": ["B-PER", "I-PER"]}), ""]
    set_stdin(monkeypatch, "\n".join([*lines, json.dumps({"tokens": ["Oslo"]})]).encode())
    args = ("--input-format", "jsonl", "--scheme", "bioes", "--format", "jsonl")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, *args)
    assert code == 0, err
    records = jsonl(out)
    assert [r["tokens"] for r in records] == [["Anna", "Smith"], ["Oslo"]]
    bioes = {"O"} | {f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC", "ORG")}
    assert all(set(r["tags"]) <= bioes for r in records)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.conllu", "", "conllu"),
        ("a.jsonl", "", "jsonl"),
        ("a.json", "", "json"),
        ("a.conll", "Hello world\n", "conll"),
        ("a.txt", "-DOCSTART- -X- O O\n\nEU X B-ORG\n", "conll"),
        ("a.txt", "EU B-ORG\nrejects O\n\nb O\n", "conll"),
        ("a.txt", "Hello big world.\nA second sentence here.\n", "text"),
        ("a.txt", "Just one line\n", "text"),
        ("a.tsv", "EU\tx\tB-ORG\nsays\tx\tO\n", "conll"),
        ("a.txt", "Anna NNP\nsaw VBD\n. .\n", "conll"),
        ("a.txt", "New B-location\nYork I-location\n", "conll"),
        # two-word lines of text are not a CoNLL file
        ("a.txt", "Meeting notes\nJohn Smith\n", "text"),
        ("a.txt", "EU B-ORG\nNew York B-LOC\n", "text"),
        ("a.tsv", "EU\tB-ORG\tx\nsays\tO\tx\n", "text"),  # the last column holds no tags
        # a first sentence of one token: the lines after the blank line decide
        ("a.txt", "Peace O\n\nJohn I-PER\nSmith I-PER\n", "conll"),
        ("a.txt", "Hello UH\n\nANNA NNP\nsaw VBD\n", "conll"),
        ("a.txt", "NEW YORK\nLOS ANGELES\nParis is nice\n", "text"),
    ],
)
def test_detect_format(name: str, content: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(str(path)) == expected
    assert detect_format("-") == "text"


def test_lines_that_could_be_text_or_conll_are_refused(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """Upper-case two-word lines are columns of a word and a tag as much as text: predict asks
    for --input-format (it read them as CoNLL and dropped YORK and ANGELES), and tags each line
    whole as text when told so."""
    cities = write(tmp_path, "cities.txt", "NEW YORK\nLOS ANGELES\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, cities)
    assert code == 2 and out == ""
    assert err.startswith(f"seqtagger-predict: error: {cities}: cannot tell text from CoNLL")
    assert "'NEW YORK'" in err and "pass --input-format text or --input-format conll" in err
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, cities, "--input-format", "text")
    assert code == 0, err
    words = [line.split("\t")[0] for line in out.split("\n") if line]
    assert words == ["NEW", "YORK", "LOS", "ANGELES"] and "tagged 2 sentences" in err


def test_conll_whose_first_sentence_is_one_token_is_read_as_conll(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """Its tags were tagged as tokens (the first sentence alone looked like one line of text)."""
    source = write(tmp_path, "in.txt", "Peace O\n\nJohn I-PER\nSmith I-PER\nleft O\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "--format", "jsonl")
    assert code == 0, err
    assert [r["tokens"] for r in jsonl(out)] == [["Peace"], ["John", "Smith", "left"]]


# --------------------------------------------------------------------------- streaming


def test_order_preserved_on_shuffled_lengths(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    rng = random.Random(3)
    sentences = [[f"w{i}x{j}" for j in range(rng.randint(1, 60))] for i in range(300)]
    source = tmp_path / "in.tok"
    source.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf-8")
    args = ("--input-format", "tokens", "--window", "16", "--batch-size", "4", "--format", "jsonl")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source, *args)
    assert code == 0, err
    records = jsonl(out)
    assert [r["tokens"] for r in records] == sentences
    assert [len(r["tags"]) for r in records] == [len(s) for s in sentences]


def _tag_lazily(predictor: Predictor, count: int) -> tuple[int, int]:
    """Tag ``count`` generated sentences; returns (sentences out, most read ahead of output)."""
    read = 0

    def sentences() -> Iterator[tuple[list[str], int]]:
        nonlocal read
        for i in range(count):
            read += 1
            yield ["w"] * (1 + i % 7), 0

    done = ahead = 0
    for tokens, tags, _ in tag_stream(predictor, sentences()):
        assert len(tags) == len(tokens)
        done += 1
        ahead = max(ahead, read - done)
    return done, ahead


def test_stream_reads_at_most_a_window_ahead(tiny_checkpoint: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=16, window=64)
    done, ahead = _tag_lazily(predictor, 20_000)
    assert done == 20_000
    assert ahead <= predictor.window + predictor.batch_size


@pytest.mark.slow
def test_memory_peak_does_not_grow_with_input(tiny_checkpoint: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=16, window=64)
    peaks = []
    for count in (5_000, 50_000):
        tracemalloc.start()
        assert _tag_lazily(predictor, count)[0] == count
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 2 * peaks[0], peaks


def test_summary_counts_one_in_the_singular_and_no_progress_silences_it(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """It said "tagged 1 sentences" and printed under --no-progress too."""
    source = write(tmp_path, "in.txt", "Oslo\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source)
    assert code == 0 and out.startswith("Oslo\t")
    assert "tagged 1 sentence (1 token) in " in err and err.endswith("; skipped 0 blank lines\n")
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "--no-progress")
    assert code == 0 and out.startswith("Oslo\t") and err == ""


def test_progress_goes_to_stderr_only(capsys) -> None:
    progress = Progress(enabled=True, every_s=0.0)
    for _ in range(3):
        progress.advance()
    progress.close()
    out, err = capsys.readouterr()
    assert out == "" and "3 sentences" in err


# --------------------------------------------------------------------------- Python API


def test_python_api_tags_every_token_unknown_words_too(tiny_checkpoint: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    sentences = [["EU", "rejects", "German", "call"], ["Qzxv", "Überraschungsei" * 4, "!"]]
    tags = predictor.predict(sentences)
    assert [len(t) for t in tags] == [4, 3]
    assert all(set(t) <= IOB2_TAGS for t in tags)


@pytest.mark.parametrize("batch_size", [1, 64])
def test_python_api_tags_windows_of_only_empty_sentences(
    tiny_checkpoint: Path, batch_size: int
) -> None:
    """A batch whose sentences are all empty gets empty tag lists (the character encoder cannot
    read a batch without words); the other sentences are tagged as usual."""
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=batch_size)
    assert predictor.predict([[]]) == [[]]
    assert predictor.predict([[], []]) == [[], []]
    tags = predictor.predict([["EU", "rejects"], [], ["Oslo"]])
    assert [len(t) for t in tags] == [2, 0, 1]
    assert tags == [*predictor.predict([["EU", "rejects"]]), [], *predictor.predict([["Oslo"]])]


def test_checkpoint_loads_with_weights_only(tiny_checkpoint: Path) -> None:
    checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert {"state_dict", "hyper_parameters"} <= set(checkpoint)


def test_converted_tags_are_remembered_and_equal_a_fresh_conversion(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output in another scheme than the model's goes through a bounded memo of tag sequences:
    the same tags as converting each sentence afresh, also after the memo is cleared."""
    monkeypatch.setattr("seqtagger.inference.base.TAGS_MEMO_SIZE", 5)
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", scheme="iob1")
    assert predictor.train_scheme != "iob1"
    rng = random.Random(0)
    n = len(predictor.train_labels)
    for _ in range(200):
        tag_ids = [rng.randrange(n) for _ in range(rng.randrange(1, 4))]
        labels = [predictor.train_labels[i] for i in tag_ids]
        tags = predictor._to_tags(tag_ids)
        assert tags == convert_tags(labels, predictor.train_scheme, "iob1")
        tags.append("O")  # the caller's list: the memo keeps its own
    assert 0 < len(predictor._tags_memo) <= 5

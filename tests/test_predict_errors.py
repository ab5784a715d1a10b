"""seqtagger-predict and the ``Predictor`` API on bad input, bad checkpoints and bad options:
one message, exit code 2, nothing lost."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from seqtagger.inference.predictor import Predictor
from tests.predict_cli import cli, set_stdin
from tests.reader_files import write

BAD_INPUTS = {
    # case: (input file name, its bytes (None: not created), extra options, message parts)
    "missing input": ("nope.txt", None, [], ["nope.txt", "no such input file"]),
    "empty file": ("empty.txt", b"", [], ["no sentences in", "empty.txt"]),
    "empty conll": ("empty.conll", b"", [], ["no sentences in", "empty.conll"]),
    "only blank lines": ("blank.txt", b"\n  \n\n", [], ["no sentences in", "blank.txt"]),
    "malformed conll": ("bad.conll", b"EU X B-ORG\nsays\n\n", [], ["bad.conll:2", "columns"]),
    "conll column counts differ": (
        "bad.conll",
        b"EU B-ORG\nsays O\n\nNew York B-LOC\n",
        [],
        ["bad.conll:4: too many columns", "first token line (1)"],
    ),
    "whitespace-only jsonl token": (
        "bad.jsonl",
        b'{"tokens": ["a", " "]}\n',
        [],
        ["bad.jsonl:1: token 1: token ' ' is only whitespace"],
    ),
    "malformed conllu": ("bad.conllu", b"1\tEU\n", [], ["bad.conllu:1", "CoNLL-U columns"]),
    "malformed jsonl": ("bad.jsonl", b'{"tokens": ["a"]}\n{"tokens": [\n', [], ["bad.jsonl:2"]),
    "jsonl without tokens": ("bad.jsonl", b'{"words": ["a"]}\n', [], ["bad.jsonl:1", "tokens"]),
    "invalid utf-8": (
        "bad.tok",
        b"fine\n\xff broken\n",
        ["--input-format", "tokens"],
        ["bad.tok:2"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_message(
    case: str, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    name, content, options, expected = BAD_INPUTS[case]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _out, err = cli(capsys, "--ckpt", tiny_checkpoint, path, *options)
    assert code == 2
    assert "Traceback" not in err and err.startswith("seqtagger-predict: error:")
    for part in expected:
        assert part in err


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_output_that_is_an_input_is_refused(
    spelling: str, tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``-o in.txt`` emptied in.txt before reading it."""
    source = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    monkeypatch.chdir(tmp_path)
    output = {"same": source, "relative": Path("in.txt"), "symlink": tmp_path / "link.txt"}
    if spelling == "symlink":
        output["symlink"].symlink_to(source)
    code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "-o", output[spelling])
    assert code == 2 and out == ""
    assert err.startswith("seqtagger-predict: error: --output") and "is also an input" in err
    assert source.read_text(encoding="utf-8") == "Anna Smith visited Paris.\n"


def test_output_is_replaced_only_when_the_run_succeeds(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    output = write(tmp_path, "out.conll", "old predictions\n")
    output.chmod(0o640)
    bad = write(tmp_path, "bad.conll", "EU X B-ORG\n\nsays\n\n")
    code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, bad, "-o", output)
    assert code == 2 and "bad.conll:3" in err
    assert output.read_text(encoding="utf-8") == "old predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.conll", "out.conll"]

    good = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    code, _, _ = cli(capsys, "--ckpt", tiny_checkpoint, good, "-o", output)
    assert code == 0 and output.read_text(encoding="utf-8").startswith("Anna\t")
    assert output.stat().st_mode & 0o777 == 0o640


def test_output_fifo_is_written_through(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    """A FIFO given to ``-o`` gets the predictions and stays a FIFO (replaced by a file, its
    reader waited forever)."""
    source = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so the writer's open does not block
    try:
        code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "-o", fifo)
        received = os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)
    assert code == 0, err
    assert received.startswith("Anna\t") and received.endswith("\n\n")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.fifo"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
def test_output_link_to_a_pipe_is_written_through(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """``-o stdout`` with ``stdout -> /proc/self/fd/1`` on a pipe: the predictions go down the
    pipe and the link stays (it was replaced by a private file, the pipe got nothing)."""
    source = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    read_end, write_end = os.pipe()
    link = tmp_path / "stdout"
    link.symlink_to(f"/proc/self/fd/{write_end}")
    try:
        code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "-o", link)
        os.close(write_end)
        received = os.read(read_end, 1 << 16).decode()
    finally:
        os.close(read_end)
    assert code == 0, err
    assert received.startswith("Anna\t") and received.endswith("\n\n")
    assert link.is_symlink()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
def test_output_link_to_a_descriptor_appends_to_its_file(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """``-o /dev/stdout >> log.txt``: the predictions go after what the log held, in the same
    file (replacing the file the descriptor names dropped the log)."""
    source = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    log = write(tmp_path, "log.txt", "earlier run\n")
    inode = log.stat().st_ino
    link = tmp_path / "stdout"
    with log.open("a", encoding="utf-8") as appended:
        link.symlink_to(f"/proc/self/fd/{appended.fileno()}")
        code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "-o", link)
    assert code == 0, err
    text = log.read_text(encoding="utf-8")
    assert text.startswith("earlier run\nAnna\t") and text.endswith("\n\n")
    assert log.stat().st_ino == inode and link.is_symlink()


def test_output_link_to_a_file_replaces_the_file_and_keeps_the_link(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    source = write(tmp_path, "in.txt", "Anna Smith visited Paris.\n")
    target = write(tmp_path, "target.txt", "old predictions\n")
    target.chmod(0o640)
    link, dangling = tmp_path / "link", tmp_path / "dangling"
    link.symlink_to(target)
    dangling.symlink_to(tmp_path / "new.txt")
    for output, written in ((link, target), (dangling, tmp_path / "new.txt")):
        code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, source, "-o", output)
        assert code == 0, err
        assert output.is_symlink() and written.read_text(encoding="utf-8").startswith("Anna\t")
    assert target.stat().st_mode & 0o777 == 0o640
    names = ["dangling", "in.txt", "link", "new.txt", "target.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


@pytest.mark.parametrize("case", ["missing", "not a checkpoint", "directory"])
def test_bad_checkpoint_exits_2(case: str, tmp_path: Path, capsys) -> None:
    source = write(tmp_path, "in.txt", "Hello world\n")
    ckpt = {
        "missing": tmp_path / "missing.ckpt",
        "not a checkpoint": write(tmp_path, "notes.ckpt", "not a checkpoint"),
        "directory": tmp_path,
    }[case]
    code, out, err = cli(capsys, "--ckpt", ckpt, source)
    assert code == 2 and out == ""
    assert "Traceback" not in err and str(ckpt) in err


@pytest.mark.parametrize(
    ("case", "message"),
    [("missing", "no such file"), ("not a checkpoint", "not a loadable checkpoint")],
)
def test_a_bad_checkpoint_is_named_by_the_option_that_gave_it(
    case: str, message: str, tmp_path: Path, capsys
) -> None:
    """Not ``ckpt_path=...`` (train's and eval's key), and not torch's advice to load with
    ``weights_only=False``, which would run the file's code."""
    source = write(tmp_path, "in.txt", "Hello world\n")
    ckpt = tmp_path / "nope.ckpt"
    if case == "not a checkpoint":
        write(tmp_path, "nope.ckpt", "not a checkpoint\n")
    code, _, err = cli(capsys, "--ckpt", ckpt, source)
    assert code == 2
    assert err.startswith(f"seqtagger-predict: error: --ckpt {ckpt}: {message}"), err
    assert "ckpt_path" not in err and "weights_only" not in err and len(err.splitlines()) == 1


def test_empty_stdin_is_empty_output_and_bad_options_exit_2(
    tiny_checkpoint: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty stdin tags nothing and succeeds, as a Unix filter does (an empty named file is
    still refused: tests above)."""
    for options in ([], ["--input-format", "conll"], ["--format", "jsonl"]):
        set_stdin(monkeypatch, b"")
        code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, *options)
        assert (code, out) == (0, ""), err
    code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, "--scheme", "plain", "-")
    assert code == 2 and "--scheme plain" in err
    code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, "--window", "0")
    assert code == 2 and "--window" in err


@pytest.mark.parametrize(
    ("sentences", "message"),
    [
        (["EU rejects German call"], "sentence 0 is str 'EU rejects German call', not a list"),
        ([["EU"], [1, 2, 3]], "token 0 of sentence 1 is int 1, not a str"),
        ([[b"EU", b"call"]], "token 0 of sentence 0 is bytes b'EU', not a str"),
        ("EU rejects German call", "got one str 'EU rejects German call'"),
        ([None], "sentence 0 is NoneType None"),
    ],
)
def test_python_api_rejects_input_that_is_not_token_lists(
    sentences: object, message: str, tiny_checkpoint: Path
) -> None:
    """A string was tagged per character, ints failed in collate, bytes
    tokens all became <unk>."""
    from seqtagger.errors import UserError

    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    with pytest.raises(UserError, match=r"list\[list\[str\]\]") as error:
        predictor.predict(sentences)  # type: ignore[arg-type]
    assert message in str(error.value)

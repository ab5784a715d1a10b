"""Bad input that is met while a run is under way: vectors files, a full disk, an
output folder that cannot be written, very long sentences; and input that is odd but valid
(one tag everywhere, Windows line endings and a BOM, whitespace-only separator lines)."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from seqtagger import eval as eval_cli
from seqtagger import train
from seqtagger.models.vectors import load_store
from tests.helpers import run_hydra_main, tiny_ner_overrides, write_vector_store
from tests.reliability.test_bad_input import assert_one_line, predict_cli, train_cli

QUICK = ["trainer.max_epochs=1", "test=false", "data.files.test=null"]


@pytest.fixture(autouse=True)
def _fresh_vector_stores():
    load_store.cache_clear()  # stores are cached per process by path
    yield
    load_store.cache_clear()


def vector_args(tiny_ner_dir: Path, store: Path, word_dim: int = 8) -> list[str]:
    return [
        *tiny_ner_overrides(tiny_ner_dir),
        "model/embedding=glove50",
        f"model.embedding.vectors={store}",
        f"model.embedding.word_dim={word_dim}",
    ]


def test_vectors_of_another_dimension(tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys):
    store = write_vector_store(tmp_path / "vec", ["anna", "paris"], dim=8)
    args = vector_args(tiny_ner_dir, store, word_dim=50)
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "model.embedding.word_dim=50: the vectors",
                    "have 8 dimensions; set model.embedding.word_dim=8")  # fmt: skip


@pytest.mark.parametrize("fault", ["rows", "npy", "parquet", "missing"])
def test_malformed_vectors_file(
    fault: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    store = write_vector_store(tmp_path / "vec", ["anna", "paris", "oslo"], dim=8)
    message = f"model.embedding.vectors={store}"
    if fault == "rows":  # one vector fewer than words
        np.save(store / "tiny_emb.npy", np.zeros((2, 8), dtype=np.float32))
        message += ": 3 words but vectors of shape (2, 8)"
    elif fault == "npy":
        (store / "tiny_emb.npy").write_bytes(b"\x93NUMPY garbage")
        message = str(store / "tiny_emb.npy")
    elif fault == "parquet":
        (store / "tiny_index.parquet").write_text("anna\nparis\n")
        message = str(store / "tiny_index.parquet")
    else:
        (store / "tiny_emb.npy").unlink()
        message += ": expected one *emb.npy"
    code, err = train_cli(vector_args(tiny_ner_dir, store), tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", message)


def test_full_disk_while_writing_a_checkpoint(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    def disk_full(self, file, data, target):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    from seqtagger.training.checkpoint_io import AtomicCheckpointIO

    monkeypatch.setattr(AtomicCheckpointIO, "write_bytes", disk_full)  # the bytes' write
    args = [*tiny_ner_overrides(tiny_ner_dir), *QUICK]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", str(tmp_path / "run" / "checkpoints"),
                    ".ckpt: No space left on device")  # fmt: skip
    assert (tmp_path / "run" / "train.log").is_file()  # what was written before is kept
    assert not list((tmp_path / "run" / "checkpoints").glob("*"))  # no half-written file


def test_output_folder_that_cannot_be_written(
    tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A path below a regular file: chmod does not stop root, who runs the tests in CI."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    run_dir = blocker / "run"
    args = [*tiny_ner_overrides(tiny_ner_dir), f"hydra.run.dir={run_dir}"]
    code, err = run_hydra_main(train.main, ["seqtagger-train", *args], monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", f"{run_dir}: Not a directory")

    gold = tiny_ner_dir / "dev.txt"
    argv = ["seqtagger-eval", f"ckpt_path={tiny_checkpoint}", f"+sets.x={gold}"]
    code, err = run_hydra_main(eval_cli.main, [*argv, f"hydra.run.dir={run_dir}"], monkeypatch,
                               capsys)  # fmt: skip
    assert_one_line(code, err, "seqtagger-eval", f"{run_dir}: Not a directory")

    source = tmp_path / "in.txt"
    source.write_text("Anna visited Paris .\n")
    code, out, err = predict_cli(["--ckpt", tiny_checkpoint, source, "-o", run_dir / "o.conll"],
                                 capsys)  # fmt: skip
    assert out == ""
    assert_one_line(code, err, "seqtagger-predict", f"--output {run_dir / 'o.conll'}: folder")


def test_label_column_with_one_tag_warns_and_trains(
    tmp_path: Path, monkeypatch, capsys, caplog
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text("Anna X O\nsaw X O\nOslo X O\n\nEU X O\n. X O\n\n")
    args = [*tiny_ner_overrides(data), *QUICK, "data.headline=acc"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0, err[-2000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "the training split has a single tag, 'O': the model can only predict it" in log


def test_windows_line_endings_bom_and_whitespace_separator_lines_are_accepted(
    tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Not errors: CRLF, a UTF-8 BOM and a tab-only or spaces-only line between sentences (a
    sentence break) read as the plain file does, in train and in predict."""
    lines = ["Anna X B-PER", "saw X O", "Oslo X B-LOC", "\t", "EU X B-ORG", ". X O", "   ",
             "Chen X B-PER", "left X O", ""]  # fmt: skip
    odd = tmp_path / "odd.conll"
    odd.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    code, out, err = predict_cli(["--ckpt", tiny_checkpoint, odd], capsys)
    assert code == 0, err
    sentences = [block.splitlines() for block in out.strip().split("\n\n")]
    assert [[line.split("\t")[0] for line in s] for s in sentences] == [
        ["Anna", "saw", "Oslo"], ["EU", "."], ["Chen", "left"],
    ]  # fmt: skip
    assert "tagged 3 sentences (7 tokens)" in err

    args = [*tiny_ner_overrides(tiny_ner_dir), *QUICK, f"data.files.train={odd}"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_sentence_longer_than_learned_positions_is_tagged_whole(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Documented behaviour (``TransformerEncoder``): positions past ``max_positions`` reuse the
    last vector, so a longer sentence is tagged whole rather than refused or cut."""
    args = [*tiny_ner_overrides(tiny_ner_dir, model="transformer"), *QUICK]
    args += ["model.encoder.positions=learned", "model.encoder.max_positions=4"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0, err[-2000:]
    source = tmp_path / "long.txt"
    source.write_text(" ".join(["Anna", "visited", "Paris", "and", "Oslo"] * 4) + "\n")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    code, out, err = predict_cli(["--ckpt", ckpt, source], capsys)
    assert code == 0 and "tagged 1 sentence (20 tokens)" in err
    assert len(out.strip().splitlines()) == 20

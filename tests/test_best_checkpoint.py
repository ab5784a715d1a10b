"""``checkpoints/best.ckpt`` (docs/models.md): a relative link to the run's best checkpoint that
follows the best, survives a resume in a moved (copied) run folder, and is a copy where the file
system takes no links; the callback keeps ``ModelCheckpoint``'s state key, so older runs resume."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from seqtagger.training.best_checkpoint import BestCheckpoint, link_best
from seqtagger.training.model_card import CARD_FILE
from tests.helpers import compose_train, tiny_ner_overrides
from tests.test_model_card import curve_rows


def test_best_ckpt_links_the_best_epoch_checkpoint(tiny_run: Path) -> None:
    folder = tiny_run / "checkpoints"
    (best,) = folder.glob("epoch_*.ckpt")
    link = folder / "best.ckpt"
    assert link.is_symlink() and os.readlink(link) == best.name  # relative: the folder can move
    assert link.read_bytes() == best.read_bytes()


def test_a_resumed_run_in_a_copied_folder_links_its_own_best(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """The copy made best.ckpt a file; the resumed run's new best (val/loss falls every epoch
    here) replaces it with a link to its own file, and the card covers both sessions."""
    from seqtagger.train import train

    base = [*tiny_ner_overrides(tiny_ner_dir), "logger=csv", "callbacks.early_stopping=null"]
    base += ["callbacks.model_checkpoint.monitor=val/loss", "callbacks.model_checkpoint.mode=min"]
    first = tmp_path / "first"
    train(compose_train([*base, "trainer.max_epochs=1", "test=false"], first))
    assert "No test scores" in (first / "checkpoints" / CARD_FILE).read_text()
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    assert not (moved / "checkpoints" / "best.ckpt").is_symlink()

    train(compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], moved))
    folder = moved / "checkpoints"
    assert sorted(path.name for path in folder.glob("epoch_*.ckpt")) == ["epoch_001.ckpt"]
    assert os.readlink(folder / "best.ckpt") == "epoch_001.ckpt"
    card = (folder / CARD_FILE).read_text()
    assert len(curve_rows(card)) == 2 and "| test/f1 |" in card
    assert "This command resumed the run (`ckpt_path=auto`)" in card
    assert "this command, the rest the sessions it resumed" in card


def test_the_link_is_replaced_and_is_a_copy_without_links(tmp_path: Path, monkeypatch) -> None:
    first, second = tmp_path / "epoch_000.ckpt", tmp_path / "epoch_003.ckpt"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    link = tmp_path / "best.ckpt"
    link_best(first, link)
    link_best(second, link)
    assert os.readlink(link) == "epoch_003.ckpt"

    def no_links(*args: object) -> None:
        raise OSError("links are not supported here")

    monkeypatch.setattr(os, "symlink", no_links)
    link_best(first, link)
    assert not link.is_symlink() and link.read_bytes() == b"first"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "best.ckpt",
        "epoch_000.ckpt",
        "epoch_003.ckpt",
    ]


@pytest.mark.parametrize("monitor", ["val/f1", "val/acc"])
def test_the_state_key_is_model_checkpoints(monitor: str, tmp_path: Path) -> None:
    options = {"dirpath": tmp_path, "monitor": monitor, "mode": "max"}
    assert BestCheckpoint(**options).state_key == ModelCheckpoint(**options).state_key

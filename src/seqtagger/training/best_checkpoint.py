"""``checkpoints/best.ckpt``: a stable name for a run's best checkpoint.

Lightning names the best checkpoint after its epoch (``epoch_007.ckpt``), and the name changes
whenever a later epoch does better. :class:`BestCheckpoint` is Lightning's ``ModelCheckpoint``
that also keeps ``best.ckpt`` beside it: a relative link to the current best file, replaced in
one rename each time the best changes, so a reader never meets a missing or half-made link and
the run folder can move. Where the file system takes no links it is a copy, written the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from seqtagger.utils.files import file_mode

BEST_NAME = "best.ckpt"


class BestCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that links ``link_name`` in its folder to its best checkpoint.

    Its state key is ``ModelCheckpoint``'s, so checkpoints written before this class existed
    resume with their best score and files, and the other way round.
    """

    def __init__(self, *args, link_name: str = BEST_NAME, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.link_name = link_name

    @property
    def state_key(self) -> str:
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if filepath == self.best_model_path:
            self._update_link(trainer)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A resumed run links the best checkpoint it restored (a folder copied without its
        links, a run written before ``best.ckpt`` existed) before any epoch improves on it."""
        super().on_train_start(trainer, pl_module)
        self._update_link(trainer)

    def _update_link(self, trainer: Trainer) -> None:
        best = Path(self.best_model_path) if self.best_model_path else None
        if not trainer.is_global_zero or self.dirpath is None or best is None:
            return
        if "://" in str(self.dirpath) or not best.is_file():
            return  # remote storage, or a best file that is gone: nothing to point at
        link_best(best, Path(self.dirpath) / self.link_name)


def link_best(best: Path, link: Path) -> None:
    """Make ``link`` a relative link to ``best`` (a copy where links cannot be made), replacing
    what was there in one rename; nothing to do when it already points there, or is ``best``."""
    if os.path.abspath(best) == os.path.abspath(link):
        return
    target = os.path.relpath(best, link.parent)
    if link.is_symlink() and os.readlink(link) == target:
        return
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        temporary.unlink(missing_ok=True)  # left by a killed run of this process id
        try:
            os.symlink(target, temporary)
        except OSError:  # no links here (some Windows and network file systems)
            shutil.copyfile(best, temporary)
            os.chmod(temporary, file_mode(best))
        os.replace(temporary, link)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise

"""Errors caused by the user's input: one type, so the entry points can tell them from bugs.

Every problem with something the user gave — a corpus file, a tag scheme, a vocabulary, a
checkpoint, a config value or an API argument — raises a subclass of :class:`UserError`. The
entry points (``seqtagger.utils.cli.user_errors``) turn exactly these, plus file-system errors on
the user's paths, into one line and exit code 2; anything else is a bug and keeps its traceback.

The subclasses also derive from the built-in type that callers caught before this module
existed (``ValueError``, ``FileNotFoundError``), so ``except ValueError`` in user code still works.
This module imports nothing from seqtagger: every layer may raise these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = [
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "CorpusFormatError",
    "CorpusNotFoundError",
    "InputError",
    "NonFiniteLossError",
    "OutOfMemoryError",
    "SchemeError",
    "SweepConfigError",
    "UnknownLabelError",
    "UserError",
    "VocabularyError",
    "find_in_chain",
]


class UserError(Exception):
    """Base class: the user's input is wrong; the message says where and how to fix it."""


class ConfigError(UserError, ValueError):
    """A config value (``data.batch_size=0``) or API argument that cannot work; names the key."""


class SweepConfigError(ConfigError):
    """A mistake in a hyperparameter search itself (``optimized_metric`` names a metric the run
    never logs): every trial would fail the same way, so it ends the sweep instead of failing
    one trial (``seqtagger.training.sweep``)."""


class CorpusError(UserError):
    """Something wrong with a corpus file, folder or dataset."""


class CorpusFormatError(CorpusError, ValueError):
    """A corpus file is malformed: ``"path:LINE: what is wrong (expected ...)"``."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.line = line

    def __reduce__(self):  # keep path/line across pickling (e.g. worker processes)
        return type(self), self.args, {"path": self.path, "line": self.line}


class CorpusNotFoundError(CorpusError, FileNotFoundError):
    """A corpus file, folder, split or hub dataset does not exist."""


class SchemeError(UserError, ValueError):
    """A tag, tag sequence or scheme name that does not fit the tagging scheme."""


class VocabularyError(UserError, ValueError):
    """A vocabulary file or label set that does not fit the data or the model."""


class UnknownLabelError(VocabularyError):
    """A dev/test/predict split has tags that the training split never showed."""


class CheckpointError(UserError, ValueError):
    """A file that is not a seqtagger checkpoint, or one that does not fit the data."""


class InputError(UserError):
    """An input or option of ``seqtagger-predict`` that cannot work: a missing input file, an
    ``--output`` that is a folder or also an input, ``--device cuda`` without a GPU."""


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or inf: the run's settings or data (learning rate, fp16,
    pretrained vectors), not a bug; the message names the step and the batch's sentences."""


class OutOfMemoryError(UserError, MemoryError):
    """A batch did not fit in the accelerator's memory: the batch size is the user's setting."""


def find_in_chain(
    error: BaseException, wanted: Callable[[BaseException], bool]
) -> BaseException | None:
    """``error`` or the first exception in its ``__cause__``/``__context__`` chain that is
    ``wanted`` (libraries such as Hydra and ``datasets`` wrap the user's error in their own)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if wanted(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None

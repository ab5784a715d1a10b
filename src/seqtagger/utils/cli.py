"""One clear message instead of a traceback for mistakes in the user's input.

Corpora, checkpoints and config values are the user's; an error in them is reported as one line
naming the file and line or the config key, with exit code 2. Set ``SEQTAGGER_TRACEBACK=1`` to
get the full traceback instead (for bug reports).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from seqtagger.data.encoding import UnknownLabelError
from seqtagger.data.readers import CorpusFormatError, CorpusNotFoundError
from seqtagger.data.schemes import SchemeError
from seqtagger.lightning_module import CheckpointError
from seqtagger.models.loss import LossContractError

USER_ERRORS: tuple[type[Exception], ...] = (
    CheckpointError,
    CorpusFormatError,
    CorpusNotFoundError,
    FileNotFoundError,
    LossContractError,
    SchemeError,
    UnknownLabelError,
    ValueError,
)


@contextmanager
def user_errors(program: str) -> Iterator[None]:
    """Turn the errors in ``USER_ERRORS`` into ``<program>: error: <message>`` and exit 2."""
    try:
        yield
    except USER_ERRORS as error:
        if os.environ.get("SEQTAGGER_TRACEBACK"):
            raise
        print(f"{program}: error: {error}", file=sys.stderr)
        sys.exit(2)

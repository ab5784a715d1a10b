"""One clear message instead of a traceback for mistakes in the user's input.

Corpora, checkpoints and config values are the user's; an error in them (a
:class:`~seqtagger.errors.UserError`, or a file-system error on one of their paths) is reported as
one line naming the file and line or the config key, with exit code 2. Anything else is a bug and
keeps its traceback (exit code 1). Hydra wraps errors raised while instantiating a ``_target_``
in its own exception; the user's error is found inside it. Set ``SEQTAGGER_TRACEBACK=1`` to get
the full traceback of a user error too (for bug reports).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from seqtagger.errors import UserError


def find_user_error(error: BaseException) -> BaseException | None:
    """``error`` itself or the first error in its cause/context chain that is the user's:
    a ``UserError`` or an ``OSError`` about a named file (not found, no permission, disk full)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UserError):
            return current
        if isinstance(current, OSError) and current.filename is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe(error: BaseException) -> str:
    """The one-line message for a user error (``OSError``: ``path: reason``)."""
    if isinstance(error, OSError) and not isinstance(error, UserError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def report_user_error(program: str, error: BaseException) -> bool:
    """Print ``<program>: error: <message>`` on stderr and return True when ``error`` is (or
    wraps) a user error; return False for a bug, or when ``SEQTAGGER_TRACEBACK`` is set, so that
    the caller re-raises it. For entry points that return their exit code."""
    found = find_user_error(error)
    if found is None or os.environ.get("SEQTAGGER_TRACEBACK"):
        return False
    print(f"{program}: error: {describe(found)}", file=sys.stderr)
    return True


@contextmanager
def user_errors(program: str) -> Iterator[None]:
    """Turn user errors into ``<program>: error: <message>`` on stderr and exit code 2."""
    try:
        yield
    except Exception as error:
        if not report_user_error(program, error):
            raise
        sys.exit(2)

"""The reader base class and what every reader shares: caching, locations, skips, errors, tasks.

:meth:`Reader.read` turns the lazy :meth:`Reader.iter_sentences` generator into a cached
``datasets.Dataset`` with the columns of :func:`features` (:data:`FEATURES` for one tag
column). ``datasets`` caches ``from_generator`` by its *arguments*, not by file content, so the
generator arguments carry the path, size, mtime and ctime of the file plus the reader options:
an edited file is re-read, never served stale.

Where: ``iter_sentences(..., located=True)`` adds ``"where"`` to each sentence (``path:LINE``
of its first token, or ``path: record N`` / ``... row N`` for non-line formats); checks that run
after reading (tag schemes) use it, or :meth:`Reader.locate`, to say where a sentence is.

Tasks: a reader built with ``tag_columns`` (task name -> column or key) writes one tag list per
task under the task's name instead of ``tags`` (:attr:`Reader.tag_keys`); :func:`task_columns`
checks the names, :func:`tag_getter` and :func:`task_tags` turn a line's columns into one tag per
task and a sentence's tags into one list per task.

Errors: bad input raises :class:`CorpusFormatError` (``"path:LINE: what is wrong (expected ...)"``)
or :class:`CorpusNotFoundError`; :meth:`Reader.read` unwraps the ``DatasetGenerationError`` that
``datasets`` puts around them so users see one message. Sentences that are skipped (no words) are
counted and reported with a logged warning (:class:`SkipCounter`): nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar

import datasets
from datasets import Value
from datasets.exceptions import DatasetGenerationError

from seqtagger.errors import ConfigError, CorpusFormatError, CorpusNotFoundError, find_in_chain

log = logging.getLogger(__name__)


def features(task_names: Sequence[str] | None = None) -> datasets.Features:
    """The columns of :meth:`Reader.read`'s rows: ``tokens``, one tag list per task (``tags``
    when ``task_names`` is None: a reader without ``tag_columns``), ``document``."""
    names = ("tags",) if task_names is None else tuple(task_names)
    return datasets.Features(
        {
            "tokens": datasets.Sequence(Value("string")),
            **{name: datasets.Sequence(Value("string")) for name in names},
            "document": Value("int32"),
        }
    )


FEATURES = features(None)
"""The rows of a reader without ``tag_columns``. ``document``: the sentence's document within
its file (0-based, counted at ``-DOCSTART-`` lines, records of the one token ``-DOCSTART-`` or
CoNLL-U ``# newdoc`` comments; 0 for every sentence of a file without them). Only document
context (``data.context``) reads it: a sentence's context never crosses a document."""

RESERVED_KEYS = ("tokens", "document", "where", "length", "index")
"""Row keys that a task may not be named after (nor anything ending in ``_ids``): the readers'
own columns and those that encoding adds beside the tags."""

# Bump when the meaning of the generated rows changes, so old caches are not reused.
FORMAT_VERSION = 3


def format_error(path: str | Path, line: int | None, what: str) -> CorpusFormatError:
    where = f"{path}:{line}" if line is not None else f"{path}"
    return CorpusFormatError(f"{where}: {what}", path=path, line=line)


def utf8_error(path: Path) -> CorpusFormatError:
    """Locate the first invalid UTF-8 byte (line, column, file offset) for the error message."""
    offset = 0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return format_error(
                    path,
                    lineno,
                    f"not valid UTF-8: byte {raw[err.start]:#04x} at column {err.start + 1} "
                    f"(file offset {offset + err.start}) (expected UTF-8 text; convert the file, "
                    "e.g. `iconv -f latin1 -t utf-8`)",
                )
            offset += len(raw)
    return format_error(path, None, "not valid UTF-8 (expected UTF-8 text)")


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)``; lines end at ``\\n`` only and keep it. BOM is dropped."""
    try:
        with path.open(encoding="utf-8-sig", newline="\n") as f:
            yield from enumerate(f, 1)
    except UnicodeDecodeError as err:
        raise utf8_error(path) from err


def check_file(source: str | Path) -> Path:
    """Return ``source`` as a Path to an existing, non-empty regular file."""
    path = Path(source)
    if not path.exists():
        raise CorpusNotFoundError(f"{path}: corpus file not found")
    if path.is_dir():
        raise format_error(
            path, None, "is a folder (expected a corpus file; DiskReader reads folders)"
        )
    if path.stat().st_size == 0:
        raise format_error(path, 1, "empty file (expected at least one sentence)")
    return path


def file_stamp(path: Path) -> dict[str, Any]:
    """Size and times of a file, or of every file under a folder, for cache invalidation."""
    if path.is_dir():
        files = tuple(
            (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
        return {
            "size": sum(f[1] for f in files),
            "mtime_ns": max((f[2] for f in files), default=0),
            "files": files,
        }
    st = path.stat()
    # ctime too: it changes on every write and cannot be set back (unlike mtime, e.g. `cp -p`).
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


class SkipCounter:
    """Counts skipped sentences and logs one warning at the end of a file."""

    def __init__(self, source: str, what: str):
        self.source, self.what = source, what
        self.count, self.first = 0, None

    def add(self, where: int | str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where

    def report(self) -> None:
        if self.count:
            log.warning(
                "%s: skipped %d sentences with %s (first at %s)",
                self.source,
                self.count,
                self.what,
                self.first if isinstance(self.first, str) else f"line {self.first}",
            )


def token_problem(token: str, what: str = "token") -> str | None:
    """Why ``token`` cannot be a token (or tag), or None: empty, whitespace only, a line break
    (any of ``str.splitlines``'), a lone surrogate (not encodable as UTF-8)."""
    if token and token.isprintable() and not token.isspace():  # fast path: nearly every token
        return None
    if not token:
        return f"empty {what}"
    if token.isspace():
        return f"{what} {token!r} is only whitespace"
    if token.splitlines() != [token]:
        return f"{what} {token!r} contains a line break"
    if any("\ud800" <= c <= "\udfff" for c in token):
        return f"{what} {token!r} contains a lone surrogate (not valid Unicode text)"
    return None


def located_sentence(
    path: Path, line: int, tokens: list[str], tags: dict[str, list[str] | None], document: int = 0
) -> dict:
    """A row located at ``path:line``; ``tags``: tag list (or None) by row key."""
    return {"tokens": tokens, **tags, "document": document, "where": f"{path}:{line}"}


def empty_tag(
    path: Path, lineno: int, keys: Sequence[str], tags: tuple, columns: Sequence[int]
) -> CorpusFormatError:
    """The error for an empty tag on a line; ``tags``: one per task of ``keys`` (then any read
    for the reader's own use), read from ``columns`` (numbered as the format documents them)."""
    i = tags.index("")
    task = f" for task {keys[i]!r}" if i < len(keys) else ""
    return format_error(path, lineno, f"empty tag in column {columns[i]}{task} (expected a tag)")


def task_columns(tag_columns: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``tag_columns`` as a plain dict in task order, its task names checked; None stays None.

    The readers check the columns (a number, a field name, a record key) themselves."""
    if tag_columns is None:
        return None
    if not isinstance(tag_columns, Mapping) or not tag_columns:
        raise ConfigError(
            f"tag_columns={tag_columns!r}: expected a mapping of task names to columns with at "
            "least one task (or none, for the one tag column)"
        )
    for name in tag_columns:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"tag_columns: task name {name!r}: expected a non-empty string")
        if name in RESERVED_KEYS or name.endswith("_ids"):
            raise ConfigError(
                f"tag_columns: task {name!r} has the name of a row column "
                f"({', '.join(RESERVED_KEYS)} and names ending in _ids are taken); "
                "name the task otherwise"
            )
    return dict(tag_columns)


def tag_getter(indices: Sequence[int | None]) -> Callable[[list[str]], tuple]:
    """``columns -> (one tag per task)``: the line's columns at ``indices``; None for a task
    whose column the file lacks (``None`` index)."""
    if len(indices) > 1 and None not in indices:
        return itemgetter(*indices)
    return lambda cols: tuple([None if i is None else cols[i] for i in indices])


def task_tags(
    keys: Sequence[str],
    per_token: list[tuple],
    layer: Callable[[list[str]], list[str] | None],
) -> dict[str, list[str] | None]:
    """A sentence's tags by task: ``per_token`` holds one tuple per token (one tag per task, in
    the order of ``keys``, None where the file lacks the task's column); ``layer`` decides
    whether one task's tags are tags (or None: unannotated)."""
    columns = zip(*per_token, strict=False)  # extra positions past ``keys`` are ignored
    return {
        key: None if column[0] is None else layer(list(column))
        for key, column in zip(keys, columns, strict=False)
    }


def no_sentences(path: Path | str) -> CorpusFormatError:
    return format_error(
        path, None, "no sentences found (expected token lines separated by blank lines)"
    )


class Reader:
    """Base class: subclasses implement :meth:`iter_sentences` and list their ``_OPTIONS``."""

    _OPTIONS: ClassVar[tuple[str, ...]] = ()
    tag_columns: dict[str, Any] | None = None  # task name -> column (see task_columns)

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The row keys that hold tags: ``("tags",)``, or the task names of ``tag_columns``."""
        return ("tags",) if self.tag_columns is None else tuple(self.tag_columns)

    @property
    def options(self) -> dict[str, Any]:
        """Constructor arguments; ``type(self)(**self.options)`` rebuilds an equal reader."""
        return {name: getattr(self, name) for name in self._OPTIONS}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({args})"

    def iter_sentences(
        self, source: str | Path, require_tags: bool = True, *, located: bool = False
    ) -> Iterator[dict]:
        """Yield ``{"tokens": [...], "tags": [...] | None, "document": int}`` per sentence, lazily;
        with ``tag_columns``, one key per task (its tags, or None) instead of ``tags``.

        ``located=True`` adds ``"where"``: ``path:LINE`` of the sentence's first token for line
        formats, ``path: record N`` or ``... row N`` (0-based) for the others.
        """
        sentences = self._sentences(source, require_tags)
        yield from sentences if located else unlocated(sentences)

    def _sentences(self, source: Any, require_tags: bool) -> Iterator[dict]:
        """Sentences with their ``"where"`` (see :meth:`iter_sentences`); for subclasses."""
        raise NotImplementedError

    def locate(self, source: Any, index: int) -> str:
        """Where sentence ``index`` (0-based, in the order of :meth:`read`'s rows) is.

        Re-reads ``source`` up to that sentence: meant for error messages, not for loops.
        """
        for i, sentence in enumerate(self._sentences(source, True)):
            if i == index:
                return sentence["where"]
        return f"{source}: sentence {index}"

    def read(
        self, source: str | Path, cache_dir: str | None = None, *, require_tags: bool = True
    ) -> datasets.Dataset:
        """Read ``source`` into a cached Dataset with the columns of :func:`features`.

        With ``require_tags=False`` files without a tag column are accepted; a tag column
        (``tags``, or a task's) is then dropped when no sentence has tags in it.
        """
        path = check_file(source)
        gen_kwargs = {
            "reader": type(self),
            "options": self.options,
            "path": str(path.resolve()),
            "require_tags": require_tags,
            **file_stamp(path),
        }
        return build_dataset(generate_file, gen_kwargs, cache_dir, require_tags, self.tag_keys)


def unlocated(sentences: Iterable[dict]) -> Iterator[dict]:
    """The sentences without their ``"where"`` (the rows of :func:`features`; ``document`` 0
    where the reader knows no documents)."""
    for sentence in sentences:
        del sentence["where"]
        sentence.setdefault("document", 0)
        yield sentence


def generate_file(
    reader: type[Reader], options: dict, path: str, require_tags: bool, **_stamp: Any
) -> Iterator[dict]:
    """The rows of one file; ``_stamp`` is unused here, it only keys the ``datasets`` cache."""
    yield from reader(**options).iter_sentences(path, require_tags=require_tags)


def build_dataset(
    generator: Any,
    gen_kwargs: dict,
    cache_dir: str | None,
    require_tags: bool,
    tag_keys: tuple[str, ...] = ("tags",),
    fingerprint: str | None = None,
) -> datasets.Dataset:
    """``Dataset.from_generator`` with our errors unwrapped; drops each of ``tag_keys`` that no
    row has tags in (only when tags are optional)."""
    try:
        ds = datasets.Dataset.from_generator(
            generator,
            gen_kwargs=gen_kwargs,
            features=features(tag_keys),
            cache_dir=cache_dir,
            fingerprint=fingerprint,
        )
    except DatasetGenerationError as err:
        ours = find_cause(err)
        if ours is None:
            raise
        raise ours from None
    if not require_tags:
        empty = [key for key in tag_keys if ds.data.column(key).null_count == len(ds)]
        ds = ds.remove_columns(empty) if empty else ds
    return ds


def find_cause(err: BaseException) -> BaseException | None:
    """Our own error inside the ``__cause__``/``__context__`` chain of a datasets error."""
    return find_in_chain(err, lambda exc: isinstance(exc, CorpusFormatError | CorpusNotFoundError))

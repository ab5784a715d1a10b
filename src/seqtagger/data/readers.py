"""Corpus readers: a corpus file (or saved/hub dataset) -> `datasets.Dataset` of tokens and tags.

Every reader yields sentences as ``{"tokens": list[str], "tags": list[str] | None}`` from a lazy,
pure-Python :meth:`Reader.iter_sentences`, and :meth:`Reader.read` turns that generator into a
cached ``datasets.Dataset`` with the columns of :data:`FEATURES`.

Why hand-written parsers although ``datasets`` has loaders: dataset scripts (the hub
``conll2003`` loader) no longer run in ``datasets`` >= 4, its ``text``/``csv`` builders cannot
cut sentences at blank lines, skip ``-DOCSTART-`` or CoNLL-U multiword ranges, and its errors
do not name the line of the corpus that is wrong. Column files are parsed with plain ``str``
operations (no regex per line) so that UD English-EWT train (14 MB) reads in well under a
second.

Caching: ``datasets`` caches ``from_generator`` by its *arguments*, not by file content, so the
generator arguments carry the path, size, mtime and ctime of the file plus the reader options:
an edited file is re-read, never served stale.

Tokens: a token may not be empty, whitespace only, or hold a line break or a lone surrogate
(such tokens cannot be written back as one CoNLL column); spaces *inside* a token (CoNLL-U
``1 000``, ``New\u00a0York``) are kept, and writers of CoNLL output replace them (see
:func:`seqtagger.metrics.conlleval.conll_token`). In a CoNLL file every token line must have as
many columns as the file's first token line, so a stray ``New York B-LOC`` line is an error,
not the token ``New``.

Where: ``iter_sentences(..., located=True)`` adds ``"where"`` to each sentence (``path:LINE``
of its first token, or ``path: record N`` / ``... row N`` for non-line formats); checks that run
after reading (tag schemes) use it, or :meth:`Reader.locate`, to say where a sentence is.

Errors: bad input raises :class:`CorpusFormatError` (``"path:LINE: what is wrong (expected ...)"``)
or :class:`CorpusNotFoundError`; :meth:`Reader.read` unwraps the ``DatasetGenerationError`` that
``datasets`` puts around them so users see one message. Sentences that are skipped (no words) are
counted and reported with a logged warning: nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import datasets
from datasets import ClassLabel, LargeList, Sequence, Value
from datasets.exceptions import DatasetGenerationError
from datasets.fingerprint import Hasher

from seqtagger.errors import ConfigError, CorpusFormatError, CorpusNotFoundError

__all__ = [
    "FEATURES",
    "ConllReader",
    "ConlluReader",
    "CorpusFormatError",
    "CorpusNotFoundError",
    "DiskReader",
    "HubReader",
    "JsonReader",
    "Reader",
    "reader_for_path",
]

log = logging.getLogger(__name__)

FEATURES = datasets.Features(
    {"tokens": Sequence(Value("string")), "tags": Sequence(Value("string"))}
)

# Bump when the meaning of the generated rows changes, so old caches are not reused.
_FORMAT_VERSION = 1
# Runs of ASCII whitespace; used only for non-ASCII lines (str.split() would also split at
# U+00A0 and other Unicode spaces, which occur *inside* tokens of some corpora).
_ASCII_WS = re.compile(r"[ \t\n\r\f\v]+")


def _error(path: str | Path, line: int | None, what: str) -> CorpusFormatError:
    where = f"{path}:{line}" if line is not None else f"{path}"
    return CorpusFormatError(f"{where}: {what}", path=path, line=line)


def _utf8_error(path: Path) -> CorpusFormatError:
    """Locate the first invalid UTF-8 byte (line, column, file offset) for the error message."""
    offset = 0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return _error(
                    path,
                    lineno,
                    f"not valid UTF-8: byte {raw[err.start]:#04x} at column {err.start + 1} "
                    f"(file offset {offset + err.start}) (expected UTF-8 text; convert the file, "
                    "e.g. `iconv -f latin1 -t utf-8`)",
                )
            offset += len(raw)
    return _error(path, None, "not valid UTF-8 (expected UTF-8 text)")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)``; lines end at ``\\n`` only and keep it. BOM is dropped."""
    try:
        with path.open(encoding="utf-8-sig", newline="\n") as f:
            yield from enumerate(f, 1)
    except UnicodeDecodeError as err:
        raise _utf8_error(path) from err


def _check_file(source: str | Path) -> Path:
    """Return ``source`` as a Path to an existing, non-empty regular file."""
    path = Path(source)
    if not path.exists():
        raise CorpusNotFoundError(f"{path}: corpus file not found")
    if path.is_dir():
        raise _error(path, None, "is a folder (expected a corpus file; DiskReader reads folders)")
    if path.stat().st_size == 0:
        raise _error(path, 1, "empty file (expected at least one sentence)")
    return path


def _stamp(path: Path) -> dict[str, Any]:
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


class _SkipCounter:
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


def _token_problem(token: str, what: str = "token") -> str | None:
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


def _located(path: Path, line: int, tokens: list[str], tags: list[str] | None) -> dict:
    return {"tokens": tokens, "tags": tags, "where": f"{path}:{line}"}


def _no_sentences(path: Path | str) -> CorpusFormatError:
    return _error(path, None, "no sentences found (expected token lines separated by blank lines)")


class Reader:
    """Base class: subclasses implement :meth:`iter_sentences` and list their ``_OPTIONS``."""

    _OPTIONS: ClassVar[tuple[str, ...]] = ()

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
        """Yield ``{"tokens": [...], "tags": [...] | None}`` per sentence, lazily.

        ``located=True`` adds ``"where"``: ``path:LINE`` of the sentence's first token for line
        formats, ``path: record N`` or ``... row N`` (0-based) for the others.
        """
        sentences = self._sentences(source, require_tags)
        yield from sentences if located else _unlocated(sentences)

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
        """Read ``source`` into a cached Dataset with the columns of :data:`FEATURES`.

        With ``require_tags=False`` files without a tag column are accepted; the ``tags`` column
        is then dropped when no sentence has tags.
        """
        path = _check_file(source)
        gen_kwargs = {
            "reader": type(self),
            "options": self.options,
            "path": str(path.resolve()),
            "require_tags": require_tags,
            **_stamp(path),
        }
        return _build(_generate_file, gen_kwargs, cache_dir, require_tags)


def _unlocated(sentences: Iterable[dict]) -> Iterator[dict]:
    """The sentences without their ``"where"`` (the rows of :data:`FEATURES`)."""
    for sentence in sentences:
        del sentence["where"]
        yield sentence


def _generate_file(reader: type[Reader], options: dict, path: str, require_tags: bool, **_stamp):
    yield from reader(**options).iter_sentences(path, require_tags=require_tags)


def _generate_dataset(reader: Reader, dataset: datasets.Dataset, where: str, require_tags: bool):
    yield from _unlocated(reader._iter_dataset(dataset, where, require_tags))


def _build(
    generator: Any,
    gen_kwargs: dict,
    cache_dir: str | None,
    require_tags: bool,
    fingerprint: str | None = None,
) -> datasets.Dataset:
    try:
        ds = datasets.Dataset.from_generator(
            generator,
            gen_kwargs=gen_kwargs,
            features=FEATURES,
            cache_dir=cache_dir,
            fingerprint=fingerprint,
        )
    except DatasetGenerationError as err:
        ours = _find_cause(err)
        if ours is None:
            raise
        raise ours from None
    if not require_tags and ds.data.column("tags").null_count == len(ds):
        ds = ds.remove_columns("tags")
    return ds


def _find_cause(err: BaseException) -> BaseException | None:
    """Our own error inside the ``__cause__``/``__context__`` chain of a datasets error."""
    seen: set[int] = set()
    exc: BaseException | None = err
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, CorpusFormatError | CorpusNotFoundError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# --------------------------------------------------------------------------- column files


class ConllReader(Reader):
    """CoNLL column files: one token per line, blank (or whitespace-only) lines end sentences.

    ``token_column``/``tag_column`` are 0-based and may be negative (``-1`` = last column).
    ``separator=None`` splits at runs of ASCII whitespace (space, tab); give ``"\\t"`` for
    files whose tokens may contain spaces. ``-DOCSTART-`` lines are dropped. With
    ``comment_prefix`` set, lines starting with it are comments *before* a sentence's first
    token (so a ``#`` token inside a sentence is still a token).
    """

    _OPTIONS = ("token_column", "tag_column", "separator", "comment_prefix", "docstart")

    def __init__(
        self,
        token_column: int = 0,
        tag_column: int = -1,
        separator: str | None = None,
        comment_prefix: str | None = None,
        docstart: str = "-DOCSTART-",
    ):
        if token_column == tag_column:
            raise ConfigError(f"token_column and tag_column are both {token_column}")
        if separator == "":
            raise ConfigError("separator must be None (whitespace) or a non-empty string")
        self.token_column = token_column
        self.tag_column = tag_column
        self.separator = separator
        self.comment_prefix = comment_prefix or None
        self.docstart = docstart

    def _split(self, line: str) -> list[str]:
        if self.separator is not None:
            return line.split(self.separator)
        if line.isascii():
            return line.split()
        return [c for c in _ASCII_WS.split(line) if c]

    def _sentences(self, source: str | Path, require_tags: bool) -> Iterator[dict]:
        path = _check_file(source)
        docstart, comment = self.docstart, self.comment_prefix
        # Column layout (count, token index, tag index or None) of the first token line.
        layout: tuple[int, int, int | None] | None = None
        check_tokens = self.separator is not None  # split() leaves no whitespace in ASCII lines
        start = 0  # line of the current sentence's first token
        tokens: list[str] = []
        tags: list[str] = []
        comment_line = 0  # first comment line of a block that has no tokens yet
        skipped = _SkipCounter(str(path), "only comment lines")
        n_sentences = 0
        for lineno, raw in _lines(path):
            line = raw.rstrip("\r\n")
            ends_sentence = not line or line.isspace()
            if ends_sentence or (docstart and line.startswith(docstart)):
                # a document boundary without a blank line also ends the sentence
                if tokens:
                    yield _located(path, start, tokens, tags if layout[2] is not None else None)
                    n_sentences += 1
                    tokens, tags = [], []
                elif comment_line and ends_sentence:
                    skipped.add(comment_line)
                comment_line = 0
                continue
            if comment and not tokens and line.startswith(comment):
                comment_line = comment_line or lineno
                continue
            cols = self._split(line)
            if layout is None:
                layout = self._layout(path, lineno, cols, line, require_tags)
                first_token_line = lineno
            n_cols, ti, gi = layout
            if len(cols) != n_cols:
                raise self._columns_error(path, lineno, len(cols), line, first_token_line, n_cols)
            token = cols[ti]
            if not token or ((check_tokens or not line.isascii()) and _token_problem(token)):
                problem = _token_problem(token)
                raise _error(path, lineno, f"{problem} in column {ti} (expected a token)")
            if not tokens:
                start = lineno
            tokens.append(token)
            if gi is not None:
                tag = cols[gi]
                if not tag:
                    raise _error(path, lineno, f"empty tag in column {gi} (expected a tag)")
                tags.append(tag)
        if tokens:
            yield _located(path, start, tokens, tags if layout[2] is not None else None)
            n_sentences += 1
        elif comment_line:
            skipped.add(comment_line)
        skipped.report()
        if not n_sentences:
            raise _no_sentences(path)

    def _layout(
        self, path: Path, lineno: int, cols: list[str], line: str, require_tags: bool
    ) -> tuple[int, int, int | None]:
        """``(columns, token index, tag index or None)`` from the file's first token line."""
        n = len(cols)
        ti = self.token_column if self.token_column >= 0 else n + self.token_column
        gi = self.tag_column if self.tag_column >= 0 else n + self.tag_column
        has_tag = 0 <= gi < n and gi != ti
        if not 0 <= ti < n or (require_tags and not has_tag):
            raise self._columns_error(path, lineno, n, line)
        return n, ti, gi if has_tag else None

    def _columns_error(
        self, path: Path, lineno: int, n: int, line: str, first: int = 0, expected: int = 0
    ) -> CorpusFormatError:
        sep = "whitespace" if self.separator is None else repr(self.separator)
        found = f"found {n} ({sep}-separated) in {line[:80]!r}"
        if not first:
            return _error(
                path,
                lineno,
                f"too few columns: {found} (expected a token in column {self.token_column} "
                f"and a tag in column {self.tag_column})",
            )
        hint = ""
        if n > expected and self.separator is None:
            hint = "; a token that contains spaces needs a tab-separated file and separator='\\t'"
        return _error(
            path,
            lineno,
            f"too {'many' if n > expected else 'few'} columns: {found} (expected {expected} "
            f"like the first token line ({first}): every token line needs the same columns"
            f"{hint})",
        )


class ConlluReader(Reader):
    """CoNLL-U (Universal Dependencies): FORM as token, UPOS (default), XPOS or any column as tag.

    Multiword-token ranges (``3-4``) and empty nodes (``5.1``) are skipped, as are ``#`` comments;
    this is how UD counts words. Sentences without any word are skipped and reported.
    """

    _OPTIONS = ("tag_column",)
    _NAMED: ClassVar[dict[str, int]] = {"upos": 3, "xpos": 4, "deprel": 7, "lemma": 2}

    def __init__(self, tag_column: str | int = "upos"):
        if isinstance(tag_column, str):
            if tag_column.lower() not in self._NAMED:
                raise ConfigError(
                    f"tag_column={tag_column!r}: expected one of {sorted(self._NAMED)} or a "
                    "0-based column number"
                )
            index = self._NAMED[tag_column.lower()]
        else:
            index = int(tag_column)
        if not 0 <= index < 10 or index in (0, 1):
            raise ConfigError(f"tag_column={tag_column!r}: expected a column 2..9 of CoNLL-U")
        self.tag_column = tag_column
        self._index = index

    def _sentences(self, source: str | Path, require_tags: bool) -> Iterator[dict]:
        path = _check_file(source)
        index = self._index
        tokens: list[str] = []
        tags: list[str] = []
        start = 0  # first line of the current sentence block (comments included)
        first_word = 0  # line of the current sentence's first word
        skipped = _SkipCounter(str(path), "no words")
        n_sentences = 0
        for lineno, raw in _lines(path):
            line = raw.rstrip("\r\n")
            if not line or line.isspace():
                if tokens:
                    yield self._sentence(path, first_word, tokens, tags, require_tags)
                    n_sentences += 1
                    tokens, tags = [], []
                elif start:
                    skipped.add(start)
                start = 0
                continue
            if not start:
                start = lineno
            if line[0] == "#":
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise _error(
                    path,
                    lineno,
                    f"found {len(cols)} tab-separated columns in {line[:80]!r} "
                    "(expected 10 CoNLL-U columns)",
                )
            word_id = cols[0]
            if not word_id.isdigit():
                if "-" in word_id or "." in word_id:
                    continue  # multiword-token range or empty node: not a word
                raise _error(
                    path, lineno, f"bad ID {word_id!r} (expected an integer, a range or a decimal)"
                )
            form = cols[1]
            if not form or not form.isprintable() or form.isspace():  # inlined fast path
                problem = _token_problem(form, "FORM")
                if problem:
                    raise _error(path, lineno, f"{problem} (expected a token in column 2)")
            tag = cols[index]
            if not tag:
                raise _error(path, lineno, f"empty tag in column {index + 1} (expected a tag)")
            if not tokens:
                first_word = lineno
            tokens.append(form)
            tags.append(tag)
        if tokens:
            yield self._sentence(path, first_word, tokens, tags, require_tags)
            n_sentences += 1
        elif start:
            skipped.add(start)
        skipped.report()
        if not n_sentences:
            raise _no_sentences(path)

    @staticmethod
    def _sentence(
        path: Path, line: int, tokens: list[str], tags: list[str], require_tags: bool
    ) -> dict:
        # "_" everywhere = unannotated (e.g. text to tag): no tags when they are optional.
        unannotated = not require_tags and all(t == "_" for t in tags)
        return _located(path, line, tokens, None if unannotated else tags)


# --------------------------------------------------------------------------- records


def _tag_names(features: datasets.Features | None, key: str) -> list[str] | None:
    """Names of a ``List(ClassLabel)`` tags feature, else None."""
    feature = features.get(key) if features else None
    if isinstance(feature, Sequence | LargeList) and isinstance(feature.feature, ClassLabel):
        return list(feature.feature.names)
    return None


def _record(
    tokens: Any, tags: Any, tag_names: list[str] | None, require_tags: bool, where: str
) -> dict | None:
    """Validate one record; map integer tags to ClassLabel names. None = no tokens (skip)."""
    if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) for t in tokens):
        raise CorpusFormatError(f"{where}: tokens must be a list of non-empty strings")
    _check_strings(tokens, "token", where)
    if tags is None:
        if require_tags:
            raise CorpusFormatError(f"{where}: no tags (expected a list of tags)")
        return {"tokens": list(tokens), "tags": None} if tokens else None
    if not isinstance(tags, list | tuple):
        raise CorpusFormatError(f"{where}: tags must be a list (found {type(tags).__name__})")
    if len(tokens) != len(tags):
        raise CorpusFormatError(
            f"{where}: {len(tokens)} tokens but {len(tags)} tags (expected one tag per token)"
        )
    if not tokens:
        return None
    if all(isinstance(t, str) and t for t in tags):
        _check_strings(tags, "tag", where)
        return {"tokens": list(tokens), "tags": list(tags)}
    if all(isinstance(t, int) and not isinstance(t, bool) for t in tags):
        if tag_names is None:
            raise CorpusFormatError(
                f"{where}: integer tags without label names (expected tag strings, or a "
                "ClassLabel feature as saved by datasets)"
            )
        bad = [t for t in tags if not 0 <= t < len(tag_names)]
        if bad:
            raise CorpusFormatError(
                f"{where}: tag id {bad[0]} out of range (expected 0..{len(tag_names) - 1})"
            )
        return {"tokens": list(tokens), "tags": [tag_names[t] for t in tags]}
    raise CorpusFormatError(f"{where}: tags must be non-empty strings (or ClassLabel integers)")


def _check_strings(strings: Iterable[str], what: str, where: str) -> None:
    """Raise on the first string that cannot be a token/tag (see :func:`_token_problem`)."""
    for i, string in enumerate(strings):
        problem = _token_problem(string, what)
        if problem:
            raise CorpusFormatError(f"{where}: {what} {i}: {problem} (expected a {what})")


class _RecordReader(Reader):
    """Shared by readers of records: column lookup, ClassLabel mapping, validation."""

    tokens_key: str
    tags_key: str

    def _records(
        self,
        rows: Iterable[tuple[str, dict]],
        tag_names: list[str] | None,
        source: str,
        require_tags: bool,
    ) -> Iterator[dict]:
        skipped = _SkipCounter(source, "no tokens")
        n_sentences = 0
        for where, row in rows:
            if not isinstance(row, dict):
                raise CorpusFormatError(f"{where}: expected an object, found {type(row).__name__}")
            if self.tokens_key not in row:
                raise CorpusFormatError(
                    f"{where}: no {self.tokens_key!r} key (found keys {sorted(row)}; "
                    "set tokens_key)"
                )
            tags = row.get(self.tags_key)
            if tags is None and require_tags:
                raise CorpusFormatError(
                    f"{where}: no {self.tags_key!r} key (found keys {sorted(row)}; set tags_key)"
                )
            sentence = _record(row[self.tokens_key], tags, tag_names, require_tags, where)
            if sentence is None:
                skipped.add(where)
            else:
                n_sentences += 1
                sentence["where"] = where
                yield sentence
        skipped.report()
        if not n_sentences:
            raise CorpusFormatError(f"{source}: no sentences found (expected records with tokens)")

    def _iter_dataset(self, ds: datasets.Dataset, where: str, require_tags: bool) -> Iterator[dict]:
        """Sentences of an Arrow-backed Dataset (disk, hub, parquet)."""
        self._check_columns(ds.column_names, where, require_tags)
        columns = [c for c in (self.tokens_key, self.tags_key) if c in ds.column_names]
        tag_names = _tag_names(ds.features, self.tags_key)

        def rows() -> Iterator[tuple[str, dict]]:
            i = 0
            for batch in ds.select_columns(columns).iter(batch_size=1000):
                keys = list(batch)
                for values in zip(*batch.values(), strict=True):
                    yield f"{where}: row {i}", dict(zip(keys, values, strict=True))
                    i += 1

        yield from self._records(rows(), tag_names, where, require_tags)

    def _check_columns(self, names: list[str], where: str, require_tags: bool) -> None:
        wanted = [self.tokens_key] + ([self.tags_key] if require_tags else [])
        for key in wanted:
            if key not in names:
                raise CorpusFormatError(
                    f"{where}: no column {key!r} (found columns {names}; set tokens_key/tags_key)"
                )


class JsonReader(_RecordReader):
    """JSON Lines (``.jsonl``), JSON (``.json``: a list of records or ``{"data": [...]}``) and
    Parquet (``.parquet``) records with token and tag lists under configurable keys."""

    _OPTIONS = ("tokens_key", "tags_key")

    def __init__(self, tokens_key: str = "tokens", tags_key: str = "tags"):
        self.tokens_key = tokens_key
        self.tags_key = tags_key

    def _sentences(self, source: str | Path, require_tags: bool) -> Iterator[dict]:
        path = _check_file(source)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            yield from self._iter_parquet(path, require_tags)
        elif suffix == ".json":
            yield from self._records(self._json_rows(path), None, str(path), require_tags)
        else:
            yield from self._records(self._jsonl_rows(path), None, str(path), require_tags)

    @staticmethod
    def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise _error(
                    path,
                    lineno,
                    f"invalid JSON at column {err.colno}: {err.msg} "
                    "(expected one JSON object per line)",
                ) from err
            yield f"{path}:{lineno}", row

    @staticmethod
    def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise _utf8_error(path) from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise _error(
                path, err.lineno, f"invalid JSON: {err.msg} (expected a JSON list)"
            ) from err
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise _error(path, 1, 'expected a list of records or {"data": [...]} at the top level')
        for i, row in enumerate(data):
            yield f"{path}: record {i}", row

    def _iter_parquet(self, path: Path, require_tags: bool) -> Iterator[dict]:
        import pyarrow.parquet as pq  # pyarrow comes with datasets

        try:
            pf = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for bad files
            raise _error(path, None, f"not a readable parquet file ({err})") from err
        schema = pf.schema_arrow
        self._check_columns(schema.names, str(path), require_tags)
        features = datasets.Features.from_arrow_schema(schema)
        columns = [c for c in (self.tokens_key, self.tags_key) if c in schema.names]

        def rows() -> Iterator[tuple[str, dict]]:
            i = 0
            for batch in pf.iter_batches(batch_size=1000, columns=columns):
                for row in batch.to_pylist():
                    yield f"{path}: row {i}", row
                    i += 1

        yield from self._records(
            rows(), _tag_names(features, self.tags_key), str(path), require_tags
        )


class _DatasetReader(_RecordReader):
    """Readers whose source is already a ``datasets.Dataset`` (on disk or on the hub)."""

    def _load(self, source: Any, cache_dir: str | None = None) -> datasets.Dataset:
        raise NotImplementedError

    def _where(self, source: Any) -> str:
        return str(source)

    def _cache_stamp(self, source: Any) -> Any:
        return None

    def _sentences(self, source: Any, require_tags: bool) -> Iterator[dict]:
        ds = self._load(source)
        yield from self._iter_dataset(ds, self._where(source), require_tags)

    def read(
        self, source: Any, cache_dir: str | None = None, *, require_tags: bool = True
    ) -> datasets.Dataset:
        ds = self._load(source, cache_dir)
        # The source is already content-fingerprinted by datasets; we add our options.
        fingerprint = Hasher.hash(
            (
                _FORMAT_VERSION,
                type(self).__qualname__,
                self.options,
                self._where(source),
                self._cache_stamp(source),
                ds._fingerprint,
                require_tags,
            )
        )
        gen_kwargs = {
            "reader": self,
            "dataset": ds,
            "where": self._where(source),
            "require_tags": require_tags,
        }
        return _build(_generate_dataset, gen_kwargs, cache_dir, require_tags, fingerprint)


class DiskReader(_DatasetReader):
    """A folder written by ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk`` + ``split``).

    Integer tags with a ``ClassLabel`` feature are mapped to their names.
    """

    _OPTIONS = ("tokens_key", "tags_key", "split")

    def __init__(
        self, tokens_key: str = "tokens", tags_key: str = "tags", split: str | None = None
    ):
        self.tokens_key = tokens_key
        self.tags_key = tags_key
        self.split = split

    def _where(self, source: Any) -> str:
        return f"{source}[{self.split}]" if self.split else str(source)

    def _cache_stamp(self, source: Any) -> Any:
        return _stamp(Path(source))

    def _load(self, source: Any, cache_dir: str | None = None) -> datasets.Dataset:
        path = Path(source)
        if not path.exists():
            raise CorpusNotFoundError(f"{path}: dataset folder not found")
        if not path.is_dir():
            raise _error(path, None, "not a folder (expected a folder written by save_to_disk)")
        try:
            loaded = datasets.load_from_disk(str(path))
        except FileNotFoundError as err:
            raise _error(
                path, None, f"not a dataset folder ({err}) (expected a save_to_disk folder)"
            ) from err
        if isinstance(loaded, datasets.DatasetDict):
            splits = sorted(loaded)
            if self.split is None:
                raise CorpusNotFoundError(
                    f"{path}: holds a DatasetDict with splits {splits} (expected split=...)"
                )
            if self.split not in loaded:
                raise CorpusNotFoundError(
                    f"{path}: no split {self.split!r} (available splits: {splits})"
                )
            return loaded[self.split]
        if self.split is not None:
            raise CorpusNotFoundError(
                f"{path}: holds a single Dataset, not a DatasetDict (expected split=None, "
                f"got split={self.split!r})"
            )
        return loaded


class HubReader(_DatasetReader):
    """A dataset loaded by ``datasets.load_dataset(name, config, split=...)``.

    ``source`` of :meth:`iter_sentences`/:meth:`read` is the split name. ``name`` may also be a
    local folder laid out like a hub dataset, or a builder such as ``"parquet"`` with
    ``data_files``. Integer tags with a ``ClassLabel`` feature are mapped to their names.
    """

    _OPTIONS = ("name", "config", "tokens_key", "tags_key", "revision", "data_files")

    def __init__(
        self,
        name: str,
        config: str | None = None,
        tokens_key: str = "tokens",
        tags_key: str = "ner_tags",
        revision: str | None = None,
        data_files: str | dict | None = None,
    ):
        self.name = name
        self.config = config
        self.tokens_key = tokens_key
        self.tags_key = tags_key
        self.revision = revision
        self.data_files = data_files

    def _where(self, source: Any) -> str:
        config = f"/{self.config}" if self.config else ""
        return f"{self.name}{config}[{source}]"

    def _load(self, source: Any, cache_dir: str | None = None) -> datasets.Dataset:
        try:
            return datasets.load_dataset(
                self.name,
                self.config,
                split=source,
                revision=self.revision,
                data_files=self.data_files,
                cache_dir=cache_dir,
            )
        except FileNotFoundError as err:  # includes datasets' DatasetNotFoundError
            raise CorpusNotFoundError(
                f"{self._where(source)}: dataset not found or hub not reachable ({err})"
            ) from err
        except ValueError as err:
            if "split" in str(err).lower():
                raise CorpusNotFoundError(f"{self._where(source)}: {err}") from err
            raise


def reader_for_path(path: str | Path, **options: Any) -> Reader:
    """Pick a reader by suffix: ``.conllu`` CoNLL-U, ``.jsonl/.json/.parquet`` records,
    a folder a saved Dataset, anything else CoNLL columns. ``options`` go to its constructor."""
    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir():
        return DiskReader(**options)
    if suffix == ".conllu":
        return ConlluReader(**options)
    if suffix in (".jsonl", ".json", ".parquet", ".ndjson"):
        return JsonReader(**options)
    return ConllReader(**options)

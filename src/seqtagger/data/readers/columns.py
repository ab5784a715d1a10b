"""Column files: CoNLL (:class:`ConllReader`) and CoNLL-U (:class:`ConlluReader`).

Both share one sentence loop (:class:`ColumnReader`): blank (or whitespace-only) lines end a
sentence, comment lines and document-start lines are not tokens, a block of comments without any
token is counted as skipped, and each sentence is located at the line of its first token. Each
format brings only its rule for one token line (which column is the token and which the tag,
what is an error) and what its comments and document starts look like. With ``tag_columns`` the
rule reads one tag per task, and :meth:`ColumnReader._tags` splits a sentence's tags by task.

Lines are parsed with plain ``str`` operations (no regex per line) so that UD English-EWT train
(14 MB) reads in well under a second. In a CoNLL file every token line must have as many columns
as the file's first token line, so a stray ``New York B-LOC`` line is an error, not the token
``New``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from seqtagger.constants import DOCSTART
from seqtagger.data.readers.base import (
    Reader,
    SkipCounter,
    check_file,
    empty_tag,
    format_error,
    located_sentence,
    no_sentences,
    numbered_lines,
    tag_getter,
    task_columns,
    task_tags,
    token_problem,
)
from seqtagger.errors import ConfigError, CorpusFormatError

# Runs of ASCII whitespace; used only for non-ASCII lines (str.split() would also split at
# U+00A0 and other Unicode spaces, which occur *inside* tokens of some corpora).
_ASCII_WS = re.compile(r"[ \t\n\r\f\v]+")

LineRule = Callable[[int, str], "tuple[str, Any] | None"]
"""``(line number, line) -> (token, tag or None)``, or None for a line that holds no token; with
``tag_columns`` the tag is a tuple of one tag per task (None where the file lacks its column)."""


class ColumnReader(Reader):
    """The sentence loop of line-based column formats; subclasses give the per-line rule."""

    _SKIPPED: ClassVar[str] = "no tokens"  # what a skipped block lacks, for the warning
    _NEWDOC: ClassVar[str | None] = None  # comment prefix that starts a document

    def _markers(self) -> tuple[str | None, str | None, bool]:
        """``(document start prefix, comment prefix, comments allowed inside a sentence)``."""
        return None, None, False

    def _line_rule(self, path: Path, require_tags: bool) -> LineRule:
        """A fresh rule for one file (it may learn the file's layout from its first line)."""
        raise NotImplementedError

    def _layer(self, tags: list[str], require_tags: bool) -> list[str] | None:
        """One tag column of a sentence as read; ``None`` when the file has no tag column."""
        return tags or None

    def _tags(self, tags: list, require_tags: bool) -> dict[str, list[str] | None]:
        """The sentence's tags by row key, from what the line rule read per token."""
        if self.tag_columns is None:
            return {"tags": self._layer(tags, require_tags)}
        return self._task_tags(tags, require_tags)

    def _task_tags(self, tags: list[tuple], require_tags: bool) -> dict[str, list[str] | None]:
        """With ``tag_columns``: one tag list (or None) per task."""
        return task_tags(self.tag_keys, tags, lambda column: self._layer(column, require_tags))

    def _sentences(self, source: str | Path, require_tags: bool) -> Iterator[dict]:
        path = check_file(source)
        docstart, comment, comments_inside = self._markers()
        newdoc = self._NEWDOC
        word = self._line_rule(path, require_tags)
        tokens: list[str] = []
        tags: list[str] = []
        block = 0  # first line of the current block, comments included (0 between blocks)
        first = 0  # line of the current sentence's first token
        document = 0  # documents started so far (document-start lines, newdoc comments)
        skipped = SkipCounter(str(path), self._SKIPPED)
        n_sentences = 0
        for lineno, raw in numbered_lines(path):
            line = raw.rstrip("\r\n")
            blank = not line or line.isspace()
            if blank or (docstart and line.startswith(docstart)):
                # a document boundary without a blank line also ends the sentence
                if tokens:
                    yield located_sentence(
                        path, first, tokens, self._tags(tags, require_tags), document
                    )
                    n_sentences += 1
                    tokens, tags = [], []
                elif block and blank:
                    skipped.add(block)
                document += not blank
                block = 0
                continue
            block = block or lineno
            if comment and (comments_inside or not tokens) and line.startswith(comment):
                document += bool(newdoc and not tokens and line.startswith(newdoc))
                continue
            parsed = word(lineno, line)
            if parsed is None:
                continue
            if not tokens:
                first = lineno
            tokens.append(parsed[0])
            if parsed[1] is not None:
                tags.append(parsed[1])
        if tokens:
            yield located_sentence(path, first, tokens, self._tags(tags, require_tags), document)
            n_sentences += 1
        elif block:
            skipped.add(block)
        skipped.report()
        if not n_sentences:
            raise no_sentences(path)


class ConllReader(ColumnReader):
    """CoNLL column files: one token per line, blank (or whitespace-only) lines end sentences.

    ``token_column``/``tag_column`` are 0-based and may be negative (``-1`` = last column).
    ``separator=None`` splits at runs of ASCII whitespace (space, tab); give ``"\\t"`` for
    files whose tokens may contain spaces. ``-DOCSTART-`` lines are dropped. With
    ``comment_prefix`` set, lines starting with it are comments *before* a sentence's first
    token (so a ``#`` token inside a sentence is still a token). ``tag_columns`` (task name ->
    column, e.g. ``{"pos": 1, "chunk": 2, "ner": 3}``) reads one tag column per task instead
    of ``tag_column``.
    """

    _OPTIONS = (
        "token_column",
        "tag_column",
        "separator",
        "comment_prefix",
        "docstart",
        "tag_columns",
    )
    _SKIPPED = "only comment lines"

    def __init__(
        self,
        token_column: int = 0,
        tag_column: int = -1,
        separator: str | None = None,
        comment_prefix: str | None = None,
        docstart: str = DOCSTART,
        tag_columns: Mapping[str, int] | None = None,
    ):
        self.tag_columns = task_columns(tag_columns)
        if self.tag_columns is None and token_column == tag_column:
            raise ConfigError(f"token_column and tag_column are both {token_column}")
        for name, column in (self.tag_columns or {}).items():
            if not isinstance(column, int) or isinstance(column, bool):
                raise ConfigError(
                    f"tag_columns[{name!r}]={column!r}: expected a 0-based column number "
                    "(negative: from the last column)"
                )
            if column == token_column:
                raise ConfigError(
                    f"tag_columns[{name!r}]={column} is the token_column (expected another column)"
                )
        if separator == "":
            raise ConfigError("separator must be None (whitespace) or a non-empty string")
        self.token_column = token_column
        self.tag_column = tag_column
        self.separator = separator
        self.comment_prefix = comment_prefix or None
        self.docstart = docstart

    def _markers(self) -> tuple[str | None, str | None, bool]:
        return self.docstart or None, self.comment_prefix, False

    def _split(self, line: str) -> list[str]:
        if self.separator is not None:
            return line.split(self.separator)
        if line.isascii():
            return line.split()
        return [c for c in _ASCII_WS.split(line) if c]

    def _line_rule(self, path: Path, require_tags: bool) -> LineRule:
        # Column layout (count, token index, tag index or None) of the first token line; with
        # tag_columns the tag index is a tuple (one index or None per task) read by get_tags.
        layout: tuple[int, int, Any] | None = None
        get_tags: Callable[[list[str]], tuple] | None = None
        first_token_line = 0
        check_tokens = self.separator is not None  # split() leaves no whitespace in ASCII lines

        def word(lineno: int, line: str) -> tuple[str, Any]:
            nonlocal layout, first_token_line, get_tags
            cols = self._split(line)
            if layout is None:
                layout = self._layout(path, lineno, cols, line, require_tags)
                first_token_line = lineno
                get_tags = tag_getter(layout[2]) if isinstance(layout[2], tuple) else None
            n_cols, ti, gi = layout
            if len(cols) != n_cols:
                raise self._columns_error(path, lineno, len(cols), line, first_token_line, n_cols)
            token = cols[ti]
            if not token or ((check_tokens or not line.isascii()) and token_problem(token)):
                problem = token_problem(token)
                raise format_error(path, lineno, f"{problem} in column {ti} (expected a token)")
            if gi is None:
                return token, None
            if get_tags is not None:
                tags = get_tags(cols)
                if "" in tags:
                    raise empty_tag(path, lineno, self.tag_keys, tags, gi)
                return token, tags
            tag = cols[gi]
            if not tag:
                raise format_error(path, lineno, f"empty tag in column {gi} (expected a tag)")
            return token, tag

        return word

    def _layout(
        self, path: Path, lineno: int, cols: list[str], line: str, require_tags: bool
    ) -> tuple[int, int, Any]:
        """``(columns, token index, tag index or None)`` from the file's first token line; with
        ``tag_columns``, a tuple of tag indices (None: the file lacks that task's column)."""
        n = len(cols)
        ti = self.token_column if self.token_column >= 0 else n + self.token_column
        if self.tag_columns is None:
            gi = self.tag_column if self.tag_column >= 0 else n + self.tag_column
            has_tag = 0 <= gi < n and gi != ti
            if not 0 <= ti < n or (require_tags and not has_tag):
                raise self._columns_error(path, lineno, n, line)
            return n, ti, gi if has_tag else None
        if not 0 <= ti < n:
            raise self._columns_error(path, lineno, n, line)
        indices: list[int | None] = []
        for name, column in self.tag_columns.items():
            gi = column if column >= 0 else n + column
            if 0 <= gi < n and gi != ti:
                indices.append(gi)
                continue
            if require_tags:
                what = "the token column" if gi == ti else f"{n} columns"
                raise format_error(
                    path,
                    lineno,
                    f"task {name!r} reads column {column}, but the line has {what} "
                    f"({line[:80]!r}) (expected {self._expected()})",
                )
            indices.append(None)
        return n, ti, tuple(indices)

    def _expected(self) -> str:
        """The columns this reader reads, for error messages."""
        token = f"a token in column {self.token_column}"
        if self.tag_columns is None:
            return f"{token} and a tag in column {self.tag_column}"
        tags = ", ".join(f"{column} ({name})" for name, column in self.tag_columns.items())
        return f"{token} and tags in columns {tags}"

    def _columns_error(
        self, path: Path, lineno: int, n: int, line: str, first: int = 0, expected: int = 0
    ) -> CorpusFormatError:
        sep = "whitespace" if self.separator is None else repr(self.separator)
        found = f"found {n} ({sep}-separated) in {line[:80]!r}"
        if not first:
            return format_error(
                path, lineno, f"too few columns: {found} (expected {self._expected()})"
            )
        hint = ""
        if n > expected and self.separator is None:
            hint = "; a token that contains spaces needs a tab-separated file and separator='\\t'"
        return format_error(
            path,
            lineno,
            f"too {'many' if n > expected else 'few'} columns: {found} (expected {expected} "
            f"like the first token line ({first}): every token line needs the same columns"
            f"{hint})",
        )


class ConlluReader(ColumnReader):
    """CoNLL-U (Universal Dependencies): FORM as token, UPOS (default), XPOS or any column as tag.

    Multiword-token ranges (``3-4``) and empty nodes (``5.1``) are skipped, as are ``#`` comments;
    this is how UD counts words. Sentences without any word are skipped and reported.
    ``tag_columns`` (task name -> field, e.g. ``{"upos": "upos", "feats": "feats"}``) reads one
    tag column per task instead of ``tag_column``.

    Unannotated text has ``_`` in every field: when tags are optional, a task whose tags are all
    ``_`` in a sentence has none there. In FEATS and MISC ``_`` is a value ("no features"), so
    such a task has none only where the sentence's UPOS is all ``_`` too.
    """

    _OPTIONS = ("tag_column", "tag_columns")
    _NAMED: ClassVar[dict[str, int]] = dict(
        lemma=2, upos=3, xpos=4, feats=5, head=6, deprel=7, deps=8, misc=9
    )
    _UPOS = 3
    _VALUE_FIELDS = frozenset({5, 9})  # FEATS, MISC: "_" is a value, not "unannotated"

    def __init__(
        self, tag_column: str | int = "upos", tag_columns: Mapping[str, str | int] | None = None
    ):
        self.tag_column = tag_column
        self._index = self._field(tag_column, "tag_column")
        self.tag_columns = task_columns(tag_columns)
        fields = [
            self._field(c, f"tag_columns[{n!r}]") for n, c in (self.tag_columns or {}).items()
        ]
        # The fields the line rule reads (the tasks', then UPOS when a FEATS/MISC task needs it
        # to tell unannotated text) and, per task, the one whose all-"_" means "unannotated".
        if self._VALUE_FIELDS.intersection(fields) and self._UPOS not in fields:
            self._read = (*fields, self._UPOS)
        else:
            self._read = tuple(fields)
        self._unannotated_by = tuple(
            self._read.index(self._UPOS) if f in self._VALUE_FIELDS else i
            for i, f in enumerate(fields)
        )

    def _field(self, column: str | int, option: str) -> int:
        """The 0-based index of a CoNLL-U field given by name or number (2..9)."""
        if isinstance(column, str):
            if column.lower() not in self._NAMED:
                raise ConfigError(
                    f"{option}={column!r}: expected one of {sorted(self._NAMED)} or a "
                    "0-based column number"
                )
            index = self._NAMED[column.lower()]
        else:
            index = int(column)
        if not 0 <= index < 10 or index in (0, 1):
            raise ConfigError(f"{option}={column!r}: expected a column 2..9 of CoNLL-U")
        return index

    _SKIPPED = "no words"
    _NEWDOC = "# newdoc"

    def _markers(self) -> tuple[str | None, str | None, bool]:
        return None, "#", True

    def _line_rule(self, path: Path, require_tags: bool) -> LineRule:
        index = self._index
        get_tags = tag_getter(self._read) if self.tag_columns is not None else None
        numbers = tuple(i + 1 for i in self._read)  # 1-based, as CoNLL-U documents them

        def word(lineno: int, line: str) -> tuple[str, Any] | None:
            cols = line.split("\t")
            if len(cols) != 10:
                raise format_error(
                    path,
                    lineno,
                    f"found {len(cols)} tab-separated columns in {line[:80]!r} "
                    "(expected 10 CoNLL-U columns)",
                )
            word_id = cols[0]
            if not word_id.isdigit():
                if "-" in word_id or "." in word_id:
                    return None  # multiword-token range or empty node: not a word
                raise format_error(
                    path, lineno, f"bad ID {word_id!r} (expected an integer, a range or a decimal)"
                )
            form = cols[1]
            if not form or not form.isprintable() or form.isspace():  # inlined fast path
                problem = token_problem(form, "FORM")
                if problem:
                    raise format_error(path, lineno, f"{problem} (expected a token in column 2)")
            if get_tags is not None:
                tags = get_tags(cols)
                if "" in tags:
                    raise empty_tag(path, lineno, self.tag_keys, tags, numbers)
                return form, tags
            tag = cols[index]
            if not tag:
                raise format_error(
                    path, lineno, f"empty tag in column {index + 1} (expected a tag)"
                )
            return form, tag

        return word

    def _layer(self, tags: list[str], require_tags: bool) -> list[str] | None:
        # "_" everywhere = unannotated (e.g. text to tag): no tags when they are optional.
        unannotated = not require_tags and all(t == "_" for t in tags)
        return None if unannotated else tags

    def _task_tags(self, tags: list[tuple], require_tags: bool) -> dict[str, list[str] | None]:
        if require_tags:
            return super()._task_tags(tags, require_tags)
        columns = list(zip(*tags, strict=True))
        blank = [all(t == "_" for t in column) for column in columns]
        return {
            key: None if blank[by] else list(columns[i])
            for i, (key, by) in enumerate(zip(self.tag_keys, self._unannotated_by, strict=True))
        }

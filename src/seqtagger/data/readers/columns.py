"""Column files: CoNLL (:class:`ConllReader`) and CoNLL-U (:class:`ConlluReader`).

Both share one sentence loop (:class:`ColumnReader`): blank (or whitespace-only) lines end a
sentence, comment lines and document-start lines are not tokens, a block of comments without any
token is counted as skipped, and each sentence is located at the line of its first token. Each
format brings only its rule for one token line (which column is the token and which the tag,
what is an error) and what its comments and document starts look like.

Lines are parsed with plain ``str`` operations (no regex per line) so that UD English-EWT train
(14 MB) reads in well under a second. In a CoNLL file every token line must have as many columns
as the file's first token line, so a stray ``New York B-LOC`` line is an error, not the token
``New``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from seqtagger.constants import DOCSTART
from seqtagger.data.readers.base import (
    Reader,
    SkipCounter,
    check_file,
    format_error,
    located_sentence,
    no_sentences,
    numbered_lines,
    token_problem,
)
from seqtagger.errors import ConfigError, CorpusFormatError

# Runs of ASCII whitespace; used only for non-ASCII lines (str.split() would also split at
# U+00A0 and other Unicode spaces, which occur *inside* tokens of some corpora).
_ASCII_WS = re.compile(r"[ \t\n\r\f\v]+")

LineRule = Callable[[int, str], "tuple[str, str | None] | None"]
"""``(line number, line) -> (token, tag or None)``, or None for a line that holds no token."""


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

    def _tags(self, tags: list[str], require_tags: bool) -> list[str] | None:
        """The sentence's tags as read; ``None`` when the file has no tag column."""
        return tags or None

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
    token (so a ``#`` token inside a sentence is still a token).
    """

    _OPTIONS = ("token_column", "tag_column", "separator", "comment_prefix", "docstart")
    _SKIPPED = "only comment lines"

    def __init__(
        self,
        token_column: int = 0,
        tag_column: int = -1,
        separator: str | None = None,
        comment_prefix: str | None = None,
        docstart: str = DOCSTART,
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

    def _markers(self) -> tuple[str | None, str | None, bool]:
        return self.docstart or None, self.comment_prefix, False

    def _split(self, line: str) -> list[str]:
        if self.separator is not None:
            return line.split(self.separator)
        if line.isascii():
            return line.split()
        return [c for c in _ASCII_WS.split(line) if c]

    def _line_rule(self, path: Path, require_tags: bool) -> LineRule:
        # Column layout (count, token index, tag index or None) of the first token line.
        layout: tuple[int, int, int | None] | None = None
        first_token_line = 0
        check_tokens = self.separator is not None  # split() leaves no whitespace in ASCII lines

        def word(lineno: int, line: str) -> tuple[str, str | None]:
            nonlocal layout, first_token_line
            cols = self._split(line)
            if layout is None:
                layout = self._layout(path, lineno, cols, line, require_tags)
                first_token_line = lineno
            n_cols, ti, gi = layout
            if len(cols) != n_cols:
                raise self._columns_error(path, lineno, len(cols), line, first_token_line, n_cols)
            token = cols[ti]
            if not token or ((check_tokens or not line.isascii()) and token_problem(token)):
                problem = token_problem(token)
                raise format_error(path, lineno, f"{problem} in column {ti} (expected a token)")
            if gi is None:
                return token, None
            tag = cols[gi]
            if not tag:
                raise format_error(path, lineno, f"empty tag in column {gi} (expected a tag)")
            return token, tag

        return word

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
            return format_error(
                path,
                lineno,
                f"too few columns: {found} (expected a token in column {self.token_column} "
                f"and a tag in column {self.tag_column})",
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

    _SKIPPED = "no words"
    _NEWDOC = "# newdoc"

    def _markers(self) -> tuple[str | None, str | None, bool]:
        return None, "#", True

    def _line_rule(self, path: Path, require_tags: bool) -> LineRule:
        index = self._index

        def word(lineno: int, line: str) -> tuple[str, str | None] | None:
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
            tag = cols[index]
            if not tag:
                raise format_error(
                    path, lineno, f"empty tag in column {index + 1} (expected a tag)"
                )
            return form, tag

        return word

    def _tags(self, tags: list[str], require_tags: bool) -> list[str] | None:
        # "_" everywhere = unannotated (e.g. text to tag): no tags when they are optional.
        unannotated = not require_tags and all(t == "_" for t in tags)
        return None if unannotated else tags

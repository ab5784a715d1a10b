"""Record files: JSON Lines, JSON and Parquet (:class:`JsonReader`), one record per sentence.

A record holds a token list and a tag list under configurable keys (with ``tag_columns``: one
tag list per task, task name -> record key). :class:`RecordReader` holds what every record
reader shares (also the readers of saved and hub datasets): key lookup, validation of each token
and tag, and mapping integer tags to the names of a ``ClassLabel``.
Records are located as ``path:LINE`` (JSONL), ``path: record N`` (JSON) or ``path: row N``.
A record of the one token ``-DOCSTART-`` starts a document (for ``data.context``), as the line
does in CoNLL files; it is not a sentence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, LargeList, Sequence

from seqtagger.constants import DOCSTART
from seqtagger.data.readers.base import (
    Reader,
    SkipCounter,
    check_file,
    format_error,
    numbered_lines,
    task_columns,
    token_problem,
    utf8_error,
)
from seqtagger.errors import ConfigError, CorpusFormatError

RECORD_FILES = ("jsonl", "json", "parquet")
"""What :class:`JsonReader` reads a file as (``file_format``); by default its suffix says."""


def _tag_names(features: datasets.Features | None, key: str) -> list[str] | None:
    """Names of a ``List(ClassLabel)`` tags feature, else None."""
    feature = features.get(key) if features else None
    if isinstance(feature, Sequence | LargeList) and isinstance(feature.feature, ClassLabel):
        return list(feature.feature.names)
    return None


def _tokens(tokens: Any, where: str) -> list[str]:
    """A record's validated token list."""
    if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) for t in tokens):
        raise CorpusFormatError(f"{where}: tokens must be a list of non-empty strings")
    _check_strings(tokens, "token", where)
    return list(tokens)


def _tags(tags: Any, n_tokens: int, tag_names: list[str] | None, where: str) -> list[str] | None:
    """One validated tag list of a record (None: none given); integer tags are mapped to their
    ClassLabel names. ``where`` names the record (and the task, with tag_columns)."""
    if tags is None:
        return None
    if not isinstance(tags, list | tuple):
        raise CorpusFormatError(f"{where}: tags must be a list (found {type(tags).__name__})")
    if n_tokens != len(tags):
        raise CorpusFormatError(
            f"{where}: {n_tokens} tokens but {len(tags)} tags (expected one tag per token)"
        )
    if all(isinstance(t, str) and t for t in tags):
        _check_strings(tags, "tag", where)
        return list(tags)
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
        return [tag_names[t] for t in tags]
    raise CorpusFormatError(f"{where}: tags must be non-empty strings (or ClassLabel integers)")


def _is_docstart(tokens: Any) -> bool:
    """A record holding only ``-DOCSTART-``: a document boundary, as the line is in CoNLL files
    (records converted from them keep it), not a sentence."""
    return isinstance(tokens, list | tuple) and len(tokens) == 1 and tokens[0] == DOCSTART


def _check_strings(strings: Iterable[str], what: str, where: str) -> None:
    """Raise on the first string that cannot be a token/tag (see :func:`token_problem`)."""
    for i, string in enumerate(strings):
        problem = token_problem(string, what)
        if problem:
            raise CorpusFormatError(f"{where}: {what} {i}: {problem} (expected a {what})")


class RecordReader(Reader):
    """Shared by readers of records: column lookup, ClassLabel mapping, validation."""

    tokens_key: str
    tags_key: str

    def _set_keys(
        self, tokens_key: str, tags_key: str, tag_columns: Mapping[str, str] | None
    ) -> None:
        """Set the keys read from each record; ``tag_columns`` maps task names to record keys."""
        self.tokens_key = tokens_key
        self.tags_key = tags_key
        self.tag_columns = task_columns(tag_columns)
        for name, key in (self.tag_columns or {}).items():
            if not isinstance(key, str) or not key:
                raise ConfigError(f"tag_columns[{name!r}]={key!r}: expected a record key")
            if key == tokens_key:
                raise ConfigError(
                    f"tag_columns[{name!r}]={key!r} is the tokens_key (expected another key)"
                )

    def _tag_sources(self) -> dict[str, str]:
        """Row key -> record key of each tag list: ``{"tags": tags_key}`` or ``tag_columns``."""
        return {"tags": self.tags_key} if self.tag_columns is None else self.tag_columns

    def _task_words(self, name: str, hint: str) -> tuple[str, str]:
        """``(" for task 'pos'", "")`` with tag_columns, else ``("", "; set <hint>")``: what a
        message on a missing tag key or column says beyond the key."""
        return (f" for task {name!r}", "") if self.tag_columns is not None else ("", hint)

    def _records(
        self,
        rows: Iterable[tuple[str, dict]],
        tag_names: dict[str, list[str] | None],
        source: str,
        require_tags: bool,
    ) -> Iterator[dict]:
        """Validated sentences of ``(where, record)`` rows; ``tag_names``: ClassLabel names by
        record key (for integer tags)."""
        skipped = SkipCounter(source, "no tokens")
        n_sentences = 0
        document = 0  # documents started so far: records of the one token -DOCSTART-
        sources = self._tag_sources()
        tasks = self.tag_columns is not None
        for where, row in rows:
            if not isinstance(row, dict):
                raise CorpusFormatError(f"{where}: expected an object, found {type(row).__name__}")
            if self.tokens_key not in row:
                raise CorpusFormatError(
                    f"{where}: no {self.tokens_key!r} key (found keys {sorted(row)}; "
                    "set tokens_key)"
                )
            if _is_docstart(row[self.tokens_key]):
                document += 1
                continue
            tokens = _tokens(row[self.tokens_key], where)
            sentence: dict[str, Any] = {"tokens": tokens}
            for name, key in sources.items():
                tags = row.get(key)
                if tags is None and require_tags:
                    task, hint = self._task_words(name, "; set tags_key")
                    raise CorpusFormatError(
                        f"{where}: no {key!r} key{task} (found keys {sorted(row)}{hint})"
                    )
                task_where = f"{where}: task {name!r}" if tasks else where
                sentence[name] = _tags(tags, len(tokens), tag_names.get(key), task_where)
            if not tokens:
                skipped.add(where)
            else:
                n_sentences += 1
                sentence["document"], sentence["where"] = document, where
                yield sentence
        skipped.report()
        if not n_sentences:
            raise CorpusFormatError(f"{source}: no sentences found (expected records with tokens)")

    def _iter_dataset(self, ds: datasets.Dataset, where: str, require_tags: bool) -> Iterator[dict]:
        """Sentences of an Arrow-backed Dataset (disk, hub, parquet)."""
        self._check_columns(ds.column_names, where, require_tags)
        keys = (self.tokens_key, *self._tag_sources().values())
        columns = [c for c in dict.fromkeys(keys) if c in ds.column_names]
        tag_names = {key: _tag_names(ds.features, key) for key in keys[1:]}

        def rows() -> Iterator[tuple[str, dict]]:
            i = 0
            for batch in ds.select_columns(columns).iter(batch_size=1000):
                keys = list(batch)
                for values in zip(*batch.values(), strict=True):
                    yield f"{where}: row {i}", dict(zip(keys, values, strict=True))
                    i += 1

        yield from self._records(rows(), tag_names, where, require_tags)

    def _check_columns(self, names: list[str], where: str, require_tags: bool) -> None:
        if self.tokens_key not in names:
            raise CorpusFormatError(
                f"{where}: no column {self.tokens_key!r} (found columns {names}; set "
                "tokens_key/tags_key)"
            )
        for name, key in self._tag_sources().items() if require_tags else ():
            if key not in names:
                task, hint = self._task_words(name, "; set tokens_key/tags_key")
                raise CorpusFormatError(
                    f"{where}: no column {key!r}{task} (found columns {names}{hint})"
                )


class JsonReader(RecordReader):
    """JSON Lines (``.jsonl``), JSON (``.json``: a list of records or ``{"data": [...]}``) and
    Parquet (``.parquet``) records with token and tag lists under configurable keys.
    ``file_format`` (one of :data:`RECORD_FILES`) reads every file as that, whatever its suffix
    (``seqtagger-predict --input-format``); by default the suffix says (else JSON Lines).
    ``tag_columns`` (task name -> record key) reads one tag list per task instead of
    ``tags_key``."""

    _OPTIONS = ("tokens_key", "tags_key", "file_format", "tag_columns")

    def __init__(
        self,
        tokens_key: str = "tokens",
        tags_key: str = "tags",
        file_format: str | None = None,
        tag_columns: Mapping[str, str] | None = None,
    ):
        if file_format not in (None, *RECORD_FILES):
            raise ConfigError(
                f"JsonReader file_format={file_format!r}: expected one of "
                f"{', '.join(RECORD_FILES)}, or none to go by the file's suffix"
            )
        self._set_keys(tokens_key, tags_key, tag_columns)
        self.file_format = file_format

    def _sentences(self, source: str | Path, require_tags: bool) -> Iterator[dict]:
        path = check_file(source)
        suffix = path.suffix.lower()
        kind = self.file_format or {".parquet": "parquet", ".json": "json"}.get(suffix, "jsonl")
        if kind == "parquet":
            yield from self._iter_parquet(path, require_tags)
        elif kind == "json":
            yield from self._records(self._json_rows(path), {}, str(path), require_tags)
        else:
            yield from self._records(self._jsonl_rows(path), {}, str(path), require_tags)

    @staticmethod
    def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
        for lineno, line in numbered_lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise format_error(
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
            raise utf8_error(path) from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise format_error(
                path, err.lineno, f"invalid JSON: {err.msg} (expected a JSON list)"
            ) from err
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise format_error(
                path, 1, 'expected a list of records or {"data": [...]} at the top level'
            )
        for i, row in enumerate(data):
            yield f"{path}: record {i}", row

    def _iter_parquet(self, path: Path, require_tags: bool) -> Iterator[dict]:
        import pyarrow.parquet as pq  # pyarrow comes with datasets

        try:
            pf = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for bad files
            raise format_error(path, None, f"not a readable parquet file ({err})") from err
        schema = pf.schema_arrow
        self._check_columns(schema.names, str(path), require_tags)
        features = datasets.Features.from_arrow_schema(schema)
        keys = (self.tokens_key, *self._tag_sources().values())
        columns = [c for c in dict.fromkeys(keys) if c in schema.names]

        def rows() -> Iterator[tuple[str, dict]]:
            i = 0
            for batch in pf.iter_batches(batch_size=1000, columns=columns):
                for row in batch.to_pylist():
                    yield f"{path}: row {i}", row
                    i += 1

        tag_names = {key: _tag_names(features, key) for key in keys[1:]}
        yield from self._records(rows(), tag_names, str(path), require_tags)

"""Readers whose source is already a ``datasets.Dataset``: a ``save_to_disk`` folder
(:class:`DiskReader`) or a hub dataset (:class:`HubReader`).

The rows go through the same record validation as JSON files (:class:`RecordReader`). The cache
fingerprint combines the dataset's own content fingerprint with our options, so a changed
dataset or option is re-read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets.fingerprint import Hasher

from seqtagger.data.readers.base import (
    FORMAT_VERSION,
    build_dataset,
    file_stamp,
    format_error,
    unlocated,
)
from seqtagger.data.readers.records import RecordReader
from seqtagger.errors import CorpusNotFoundError


def generate_dataset(
    reader: RecordReader, dataset: datasets.Dataset, where: str, require_tags: bool
) -> Iterator[dict]:
    """The rows of an already loaded dataset, for ``Dataset.from_generator``."""
    yield from unlocated(reader._iter_dataset(dataset, where, require_tags))


class _DatasetReader(RecordReader):
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
                FORMAT_VERSION,
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
        return build_dataset(
            generate_dataset, gen_kwargs, cache_dir, require_tags, self.tag_keys, fingerprint
        )


class DiskReader(_DatasetReader):
    """A folder written by ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk`` + ``split``).

    Integer tags with a ``ClassLabel`` feature are mapped to their names. ``tag_columns`` (task
    name -> column) reads one tag column per task instead of ``tags_key``.
    """

    _OPTIONS = ("tokens_key", "tags_key", "split", "tag_columns")

    def __init__(
        self,
        tokens_key: str = "tokens",
        tags_key: str = "tags",
        split: str | None = None,
        tag_columns: Mapping[str, str] | None = None,
    ):
        self._set_keys(tokens_key, tags_key, tag_columns)
        self.split = split

    def _where(self, source: Any) -> str:
        return f"{source}[{self.split}]" if self.split else str(source)

    def _cache_stamp(self, source: Any) -> Any:
        return file_stamp(Path(source))

    def _load(self, source: Any, cache_dir: str | None = None) -> datasets.Dataset:
        path = Path(source)
        if not path.exists():
            raise CorpusNotFoundError(f"{path}: dataset folder not found")
        if not path.is_dir():
            raise format_error(
                path, None, "not a folder (expected a folder written by save_to_disk)"
            )
        try:
            loaded = datasets.load_from_disk(str(path))
        except FileNotFoundError as err:
            raise format_error(
                path, None, f"not a dataset folder ({err}) (expected a save_to_disk folder)"
            ) from err
        if isinstance(loaded, datasets.DatasetDict):
            splits = sorted(loaded)
            if self.split is None:
                raise CorpusNotFoundError(
                    f"{path}: holds a DatasetDict with splits {splits}; name one: its folder "
                    f"({path / splits[0]}), or split={splits[0]} in the reader's config"
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
    ``tag_columns`` (task name -> column, e.g. ``{"pos": "pos_tags", "ner": "ner_tags"}``) reads
    one tag column per task instead of ``tags_key``.
    """

    _OPTIONS = (
        "name",
        "config",
        "tokens_key",
        "tags_key",
        "revision",
        "data_files",
        "tag_columns",
    )

    def __init__(
        self,
        name: str,
        config: str | None = None,
        tokens_key: str = "tokens",
        tags_key: str = "ner_tags",
        revision: str | None = None,
        data_files: str | dict | None = None,
        tag_columns: Mapping[str, str] | None = None,
    ):
        self.name = name
        self.config = config
        self._set_keys(tokens_key, tags_key, tag_columns)
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
        except ConnectionError as err:  # datasets 5 offline, or the hub unreachable
            raise CorpusNotFoundError(
                f"{self._where(source)}: the hub is not reachable and the dataset is not in "
                f"the cache ({err}); go online once, or give a local copy (data=files)"
            ) from err
        except ValueError as err:
            if "split" in str(err).lower():
                raise CorpusNotFoundError(f"{self._where(source)}: {err}") from err
            raise

"""``TaggingDataModule``: corpus files -> vocabularies -> encoded, length-bucketed batches.

Data flow (each step cached by ``datasets`` fingerprints, so a second run skips the work):

    reader.read(file)            -> Dataset(tokens, tags)        # one tag column per task,
                                                                 # file scheme (e.g. IOB1)
    check tags against it        -> SchemeError naming file:line and split when they do not fit
    convert to the train scheme  -> Dataset(tokens, tags)        # e.g. BIOES
    build vocabularies (train)   -> words, chars; labels per task # from the training split only;
                                                                 # labels: every tag of each type
    document context (map)       -> + context_left/right          # data.context > 0 only
    featurizer.encode (map)      -> + the embedder's id columns, <task>_ids, length
    BucketBatchSampler + collate -> padded batches (see ``collate_batch``)

The label set is owned by the data: the model is sized from ``data_info()`` (vocabularies,
schemes and the featurizer as plain data), never from a hand-written number. The featurizer
belongs to the model's embedder (``set_embedding``); without one, word and character ids.
``prepare_data`` (global rank zero, or local rank zero of each node with
``prepare_data_per_node``; before the others) downloads missing public corpora and fills the
cache; ``setup`` on every rank then reads from the cache (Hugging Face's ``main_process_first``
idea), so every rank builds the same vocabularies from the same data without racing on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import hydra
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from seqtagger.data.batch import task_pad_values
from seqtagger.data.collate import collate_batch
from seqtagger.data.context import check_context
from seqtagger.data.corpora import CORPORA
from seqtagger.data.download import ensure_corpus
from seqtagger.data.encoding import encode_dataset
from seqtagger.data.featurizers import Featurizer, WordCharFeaturizer
from seqtagger.data.info import DataInfo, make_data_info
from seqtagger.data.readers import CorpusNotFoundError, HubReader, Reader, reader_for_path
from seqtagger.data.sampler import UNITS, BucketBatchSampler
from seqtagger.data.splits import (
    check_task_schemes,
    read_tagged_split,
    reader_for_tasks,
    scheme_option,
)
from seqtagger.data.tagged_dataset import TaggedDataset
from seqtagger.data.tasks import DEFAULT_TASK, Task, headline_task, tasks_from_config
from seqtagger.data.vocab import (
    Vocab,
    build_task_labels,
    build_text_vocabs,
    check_vocab_options,
)
from seqtagger.errors import ConfigError
from seqtagger.utils.pylogger import RankedLogger
from seqtagger.utils.targets import to_plain

log = RankedLogger(__name__, rank_zero_only=True)

SPLITS = ("train", "validation", "test")
FEW_BATCHES = 20
"""An epoch of fewer training batches than this is reported at start-up: few optimizer steps
an epoch (a corpus without document marks was one batch of ``data.batch_unit=documents``)."""


def _check_batch_sizes(batch_size: int, eval_batch_size: int | None) -> None:
    """Both must be positive integers (0 trained silently, or quietly fell back to batch_size)."""
    for key, value in (("data.batch_size", batch_size), ("data.eval_batch_size", eval_batch_size)):
        if value is None and key == "data.eval_batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value}: expected an integer >= 1")


def _collate(rows: list[dict[str, Any]], pad_values: Mapping[str, int]) -> dict[str, Any]:
    """``collate_batch``, and ``{}`` for no rows: the share of a rank left over when an
    evaluation split has fewer documents than ranks (the module's step skips it)."""
    return collate_batch(rows, pad_values) if rows else {}


class TaggingDataModule(LightningDataModule):
    """Reads a tagged corpus, builds its vocabularies and serves length-bucketed batches.

    Args:
        reader: a reader object (``seqtagger.data.readers``); ``None``: the named corpus'
            reader, else one picked by file suffix.
        files: split name (``train``/``validation``/``test``) -> file, relative to ``data_dir``
            or absolute. Defaults to the named ``corpus``'s files.
        corpus: a named corpus (``ud_ewt``, ``conll2003``), downloaded when public and missing.
        file_scheme / train_scheme: tag scheme of the files (``None``: the named corpus',
            else ``plain``) and the one the model learns (``None``: the file scheme);
            predictions are converted back for scoring.
        headline: the headline task's metric that selects checkpoints (``acc`` for POS, ``f1``
            for NER).
        tasks: the tag layers to learn (``data/tasks.py``): a list of names the corpus knows
            or a dict of task options; ``None``: one task, the reader's tag column.
        batch_size / batch_unit: sentences per batch, padded tokens per batch (``tokens``) or
            whole documents per batch (``documents``: for ``model/memory=document``).
        eval_batch_size: the same for validation, test and predict; ``None``: ``batch_size``.
        max_length: training sentences longer than this are split (never truncated), between
            chunks where one ends in reach; dev and test are always scored whole.
        context: words of document context the encoder reads on each side of a sentence
            (``data/context.py``; stored with the model, so eval and predict use it too); 0:
            none.
        unknown_labels: ``error``, ``map_to_o`` or ``score_as_error`` for dev/test tags the
            training split lacks; ``None``: ``score_as_error`` for tag sets without spans,
            ``error`` for span layers (per task, unless a task sets its own).
        num_workers / persistent_workers: loader worker processes (0: batches are collated in
            the training process, often the fastest for small taggers) and whether they live
            across epochs (only with ``num_workers > 0``).
        pin_memory: page-locked batches (asynchronous copies to the GPU); ``None``: on when the
            trainer runs on a CUDA device.
        prepare_data_per_node: False: one process of the whole job fills the datasets cache
            (``cache_dir`` on a file system the nodes share); True: one per node (a cache on
            node-local disk). The other ranks read the filled cache in ``setup``.
    """

    def __init__(
        self,
        reader: Reader | None = None,
        files: Mapping[str, str] | None = None,
        corpus: str | None = None,
        data_dir: str = "data",
        cache_dir: str | None = None,
        download: bool = True,
        file_scheme: str | None = None,
        train_scheme: str | None = None,
        headline: str = "acc",
        vocab: Mapping[str, Any] | None = None,
        unknown_labels: str | None = None,
        tasks: Any = None,
        max_length: int | None = None,
        max_word_length: int = 20,
        context: int = 0,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        batch_unit: str = "sentences",
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        seed: int = 0,
        prepare_data_per_node: bool = False,
        licence: str | None = None,
    ) -> None:
        super().__init__()
        self.prepare_data_per_node = prepare_data_per_node
        self.licence = licence  # of the data, for the model card; None: the named corpus'
        if files is None and corpus is None:
            raise ConfigError("data: give `data.files` (split -> path) or a named `data.corpus`")
        if corpus is not None and corpus not in CORPORA:
            raise ConfigError(f"data.corpus={corpus!r} is not known; choose from {sorted(CORPORA)}")
        if headline not in ("acc", "f1"):
            raise ConfigError(f"data.headline={headline!r}: expected 'acc' or 'f1'")
        if batch_unit not in UNITS:
            raise ConfigError(f"data.batch_unit={batch_unit!r}: expected one of {UNITS}")
        _check_batch_sizes(batch_size, eval_batch_size)
        if seed < 0:  # numpy's generators take no negative seed
            raise ConfigError(f"data.seed={seed}: expected an integer >= 0 (default: `seed`)")
        self.reader = reader
        self.files = dict(files) if files is not None else None
        self.corpus = corpus
        self.data_dir = Path(data_dir)
        self.cache_dir = str(cache_dir) if cache_dir else None
        self.download = download
        spec = CORPORA[corpus] if corpus is not None else None
        if reader is None and spec is not None and files is None:
            self.reader = spec.make_reader()
        file_scheme = file_scheme or (spec.scheme if spec is not None else "plain")
        self.file_scheme = scheme_option("data.file_scheme", file_scheme)
        self.train_scheme = scheme_option("data.train_scheme", train_scheme or file_scheme)
        self.headline = headline
        self.vocab_options = dict(vocab or {})
        check_vocab_options(self.vocab_options)
        self.tasks: list[Task] = tasks_from_config(
            to_plain(tasks),
            layers=spec.layers if spec is not None else None,
            file_scheme=self.file_scheme,
            train_scheme=self.train_scheme if tasks is None else train_scheme,
            unknown_labels=unknown_labels,
        )
        check_task_schemes(self.tasks)
        headline_layer = headline_task(self.tasks)  # its schemes are the data's
        self.file_scheme, self.train_scheme = (
            headline_layer.file_scheme,
            headline_layer.train_scheme,
        )
        if tasks is not None and self.reader is not None:
            self.reader = reader_for_tasks(self.reader, self.tasks)
        self.max_length = max_length
        self.max_word_length = max_word_length
        self.context = check_context(context)
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.batch_unit = batch_unit
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.seed = seed
        self.vocabs: dict[str, Vocab] | None = None
        self.task_labels: dict[str, Vocab] = {}
        self.datasets: dict[str, TaggedDataset] = {}
        self.encoded: dict[str, datasets.Dataset] = {}
        self.embedding: dict[str, Any] | None = None
        self.featurizer: Featurizer | None = None

    def set_embedding(self, embedding: Mapping[str, Any]) -> None:
        """Encode for the embedder of this config (``model.embedding``): its featurizer."""
        self.embedding = dict(embedding)

    def _make_featurizer(self) -> Featurizer:
        embedder = hydra.utils.get_class(self.embedding["_target_"]) if self.embedding else None
        if embedder is None or not hasattr(embedder, "make_featurizer"):
            return WordCharFeaturizer.from_vocabs(self.vocabs, self.max_word_length)
        return embedder.make_featurizer(self.embedding, self.vocabs, self.max_word_length)

    # ----- locating and reading the corpus -----
    def resolve_files(self) -> dict[str, Path | str]:
        """Split -> existing file path (or hub split name); downloads a public named corpus
        when its files are missing."""
        if self.corpus is not None and self.files is None:
            return ensure_corpus(self.corpus, self.data_dir, download=self.download)
        resolved: dict[str, Path | str] = {}
        for split, name in (self.files or {}).items():
            if name is None:
                continue
            if isinstance(self.reader, HubReader):  # hub sources are split names, not files
                resolved[split] = str(name)
                continue
            path = Path(os.path.expanduser(str(name)))
            resolved[split] = path if path.is_absolute() else self.data_dir / path
        if "train" not in resolved:
            raise ConfigError(
                "data.files must name a `train` file (the vocabulary is built from it)"
            )
        return resolved

    def reader_for(self, path: Path | str) -> Reader:
        """The configured reader, or one chosen by the file's suffix (one column per task)."""
        if self.reader is not None:
            return self.reader
        return reader_for_tasks(reader_for_path(path), self.tasks)

    def read_split(self, split: str, path: Path | str) -> datasets.Dataset:
        """Read one split in the file schemes, check each task's tags against its scheme and
        convert them to its train scheme (cached)."""
        if isinstance(path, Path) and not path.exists():
            raise CorpusNotFoundError(f"data.files.{split}: {path} does not exist")
        reader = self.reader_for(path)
        locate = partial(reader.locate, path)
        return read_tagged_split(reader, split, path, self.tasks, self.cache_dir, locate)

    def _load(self) -> None:
        files = self.resolve_files()
        raw = {split: self.read_split(split, path) for split, path in files.items()}
        self.vocabs = build_text_vocabs(raw["train"], **self.vocab_options)
        self.task_labels = build_task_labels(raw["train"], self.tasks)
        self.featurizer = self._make_featurizer()
        for split, dataset in raw.items():
            self.encoded[split] = encode_dataset(
                dataset,
                self.vocabs,
                split=split,
                max_length=self.max_length if split == "train" else None,
                featurizer=self.featurizer,
                context=self.context,
                tasks=self.tasks,
                task_labels=self.task_labels,
            )
            self.datasets[split] = TaggedDataset(self.encoded[split])
        sizes = ", ".join(f"{split}: {len(ds):,}" for split, ds in self.datasets.items())
        labels = ", ".join(
            f"{len(vocab)} {name if name != DEFAULT_TASK else ''}".rstrip()
            for name, vocab in self.task_labels.items()
        )
        log.info(
            f"Data <{self.corpus or files['train']}>: {sizes} sentences; "
            f"{len(self.vocabs['words']):,} words, {labels} labels"
        )

    # ----- Lightning hooks -----
    def prepare_data(self) -> None:
        """Download missing public corpora and fill the datasets cache: on global rank zero
        only (``prepare_data_per_node``: on local rank zero of each node), once per process."""
        if self.vocabs is None:
            self._load()

    def setup(self, stage: str | None = None) -> None:
        """Read, build vocabularies and encode (cache hits after ``prepare_data``)."""
        if self.vocabs is None:
            self._load()

    # ----- what the model needs to know -----
    @property
    def labels(self) -> list[str]:
        """The headline task's label set (index -> tag string) in its train scheme."""
        if self.vocabs is None:
            raise RuntimeError("TaggingDataModule.setup() has not run yet")
        return list(self.task_labels[headline_task(self.tasks).name].itos)

    def data_info(self) -> DataInfo:
        """Plain data the model stores in its checkpoint (``data/info.py``)."""
        if self.vocabs is None:
            raise RuntimeError("TaggingDataModule.setup() has not run yet")
        return make_data_info(
            self.vocabs,
            self.tasks,
            self.task_labels,
            headline=self.headline,
            max_word_length=self.max_word_length,
            featurizer=self.featurizer.to_dict(),
            context=self.context,
        )

    def configured_splits(self) -> set[str]:
        """The splits the config names (``data.files``, else the named corpus'), without
        reading anything: for start-up checks (``has_split`` reads and encodes the data)."""
        if self.files is not None:
            return {split for split, name in self.files.items() if name is not None}
        return set(CORPORA[self.corpus].files)

    def has_split(self, split: str) -> bool:
        """Whether ``split`` is configured (sets the data up first if needed)."""
        self.setup()
        return split in self.datasets

    # ----- loaders -----
    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _split(self, split: str) -> TaggedDataset:
        if split not in self.datasets:
            raise ConfigError(f"data.files has no `{split}` split (have {sorted(self.datasets)})")
        return self.datasets[split]

    def _loader(
        self, dataset: TaggedDataset, shuffle: bool, batch_size: int | None = None
    ) -> DataLoader:
        num_replicas, rank = self._replicas()
        sampler = BucketBatchSampler(
            dataset.lengths,
            self.eval_batch_size if batch_size is None else batch_size,
            unit=self.batch_unit,
            shuffle=shuffle,
            documents=dataset.documents if self.batch_unit == "documents" else None,
            seed=self.seed,
            num_replicas=num_replicas,
            rank=rank,
        )
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=partial(_collate, pad_values=self.pad_values),
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    @property
    def pad_values(self) -> dict[str, int]:
        """The featurizer's paddings, and -100 for every task's ids column."""
        ids_keys = [task.ids_key for task in self.tasks]
        return {**self.featurizer.pad_values, **task_pad_values(ids_keys)}

    def _pin_memory(self) -> bool:
        """``pin_memory``, or (``None``) whether the trainer's device is a CUDA GPU."""
        if self.pin_memory is not None:
            return bool(self.pin_memory)
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        # Lightning turns shuffling off for overfit_batches only in its own samplers
        overfit = self.trainer is not None and self.trainer.overfit_batches > 0
        loader = self._loader(self._split("train"), shuffle=not overfit, batch_size=self.batch_size)
        if len(loader) < FEW_BATCHES:
            log.warning(
                f"An epoch is {len(loader)} training batch(es) with data.batch_unit="
                f"{self.batch_unit} data.batch_size={self.batch_size}: {len(loader)} optimizer "
                "step(s) an epoch; a smaller data.batch_size gives more"
            )
        return loader

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._split("validation"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._split("test"), shuffle=False)

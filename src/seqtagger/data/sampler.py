"""Length-bucketed, DDP-aware batch sampler.

Written by hand because neither torch nor Lightning ships one that does all of: batches of
similar-length sentences (padding is the main waste on tagging corpora: random batches of 32
EWT sentences are ~2-3x padding), a token budget, a distributed split where ranks get disjoint
shares with *equal* batch counts in training (unequal counts hang DDP) while evaluation scores every
sentence exactly once (``DistributedSampler`` pads with duplicates, which biases metrics), and an
exact ``__len__`` that is the same every epoch (Lightning reads it once for progress and schedules).

Training order (``shuffle=True``), seeded by ``(seed, epoch)``:

* ``unit="sentences"``: random permutation, pools of ``pool_factor * batch_size`` sentences, each
  pool sorted by length and cut into batches of ``batch_size``, batch order shuffled. The batch
  count is ``ceil(n / batch_size)`` whatever the permutation.
* ``unit="tokens"``: random permutation, then a stable sort of *all* sentences by length (so
  equal-length sentences are in random order), greedy cut so that
  ``n_sentences * max_len <= batch_size``, batch order shuffled. A per-pool greedy cut would give a
  batch count that changes with the permutation, so ``__len__`` could not be exact; a global sort
  with random ties keeps the sorted *length* sequence, hence the batch count, fixed (this is
  fairseq's scheme). A sentence longer than the budget gets a batch of its own.
* ``unit="documents"``: batches of ``batch_size`` whole documents (runs of consecutive rows with
  one ``documents`` id), in a random document order; a document's sentences stay in file order.
  For a model that reads across a document's sentences (``model/memory=document``); the
  documents are the units of ``data/documents.py`` (``TaggedDataset.documents``).

Then, for ``num_replicas > 1``, the largest multi-sentence batches are split in two until the
count is divisible by ``num_replicas`` (evaluation: until every rank has a batch, since a rank
without one would skip the epoch-end metric sync and hang the others), and rank ``r`` takes
``batches[r::num_replicas]``. Batches of documents are split only between documents, never
inside one (a memory would pool each half alone): when no batch holds two documents any more,
training repeats the first batches of the epoch's order until the count divides, and
evaluation gives the ranks left over an empty batch (no rows: it scores nothing, and the rank
still joins the metric sync).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from seqtagger.errors import ConfigError

UNITS = ("sentences", "tokens", "documents")


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields lists of dataset row indices, sentences of similar length together.

    Args:
        lengths: token count of each dataset row.
        batch_size: sentences per batch (``unit="sentences"``) or the padded-token budget
            ``n * max_len`` per batch (``unit="tokens"``).
        shuffle: True for training (random, equal counts per rank), False for evaluation
            (length-sorted, every sentence exactly once across ranks).
        documents: each row's document id (``unit="documents"``: a document is a run of
            consecutive rows with one id).
        seed: base seed; the order of epoch ``e`` depends on ``(seed, e)`` only.
        num_replicas, rank: DDP world size and this process' rank.
        pool_factor: pool size in batches for ``unit="sentences"`` (larger: less padding,
            less randomness).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        unit: str = "sentences",
        shuffle: bool = True,
        documents: Sequence[int] | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        pool_factor: int = 50,
    ) -> None:
        if unit not in UNITS:
            raise ConfigError(f"data.batch_unit must be one of {UNITS}, got {unit!r}")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if pool_factor < 1:
            raise ConfigError(f"data.pool_factor must be >= 1, got {pool_factor}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, {num_replicas=}")
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        self.documents = _document_runs(self.lengths, documents) if unit == "documents" else []
        # row -> its document (runs are consecutive rows, in order)
        self._run_of = np.repeat(np.arange(len(self.documents)), list(map(len, self.documents)))
        self.batch_size, self.unit, self.shuffle = batch_size, unit, shuffle
        self.seed, self.epoch = seed, 0
        self.num_replicas, self.rank, self.pool_factor = num_replicas, rank, pool_factor
        n = len(self.lengths)
        if shuffle and n < num_replicas:
            raise ConfigError(
                f"trainer.devices: {n} training sentence(s) cannot give every one of "
                f"{num_replicas} DDP ranks a batch; use fewer devices or more data"
            )
        self._num_batches = len(self._global_batches(0))

    # -- epoch state ------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order (Lightning calls this on batch samplers every epoch)."""
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBatchSampler:
        """Itself: Lightning calls ``dataloader.batch_sampler.sampler.set_epoch(epoch)`` (not
        ``batch_sampler.set_epoch``) at every epoch start; without this every epoch would repeat
        epoch 0's order."""
        return self

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])

    # -- batching ---------------------------------------------------------------------------------
    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        """Cut length-sorted indices into batches (size or token budget)."""
        if self.unit == "sentences":
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches, start, longest = [], 0, 0
        for i, length in enumerate(self.lengths[order].tolist()):
            if i > start and (i - start + 1) * max(longest, length) > self.batch_size:
                batches.append(order[start:i])
                start, longest = i, 0
            longest = max(longest, length)
        if start < len(order):
            batches.append(order[start:])
        return batches

    def _global_batches(self, epoch: int) -> list[np.ndarray]:
        """All ranks' batches for ``epoch``, in the order they are dealt to ranks."""
        n = len(self.lengths)
        if self.unit == "documents":
            return self._document_batches(epoch)
        if not self.shuffle:
            return self._fill_ranks(self._cut(np.argsort(self.lengths, kind="stable")))
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(n)
        if self.unit == "tokens":
            batches = self._cut(perm[np.argsort(self.lengths[perm], kind="stable")])
        else:
            pool = self.pool_factor * self.batch_size
            batches = []
            for start in range(0, n, pool):
                chunk = perm[start : start + pool]
                batches += self._cut(chunk[np.argsort(self.lengths[chunk], kind="stable")])
        batches = self._make_divisible(batches)
        return [batches[i] for i in rng.permutation(len(batches))]

    def _document_batches(self, epoch: int) -> list[np.ndarray]:
        """``batch_size`` whole documents per batch: in file order for evaluation, in a random
        document order (and a random batch order) for training."""
        runs, size = self.documents, self.batch_size
        if not self.shuffle:
            order: Sequence[int] = range(len(runs))
        else:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(runs)).tolist()
        batches = [
            np.concatenate([runs[i] for i in order[start : start + size]])
            for start in range(0, len(runs), size)
        ]
        if not self.shuffle:
            return self._fill_ranks(batches)
        batches = self._make_divisible(batches)
        rng = np.random.default_rng([self.seed, epoch, 1])
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut_point(self, batch: np.ndarray) -> int | None:
        """Where to halve ``batch`` (None: it cannot be): at its middle row, or for batches of
        documents at the document boundary nearest the middle."""
        if self.unit != "documents":
            return (len(batch) + 1) // 2 if len(batch) > 1 else None
        runs = self._run_of[batch]
        starts = np.flatnonzero(runs[1:] != runs[:-1]) + 1
        if not len(starts):
            return None
        return int(starts[np.argmin(np.abs(2 * starts - len(batch)))])

    def _make_divisible(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Split the largest multi-sentence batches in two until ranks get equal counts."""
        r = self.num_replicas
        while len(batches) % r:
            split = _split_largest(batches, r - len(batches) % r, self._cut_point)
            if len(split) == len(batches) and self.unit == "documents":
                split = batches + batches[: r - len(batches) % r]  # whole documents, repeated
            if len(split) == len(batches):
                raise ConfigError(
                    f"trainer.devices: cannot give {r} DDP ranks equal batch counts with "
                    f"{len(self.lengths)} training sentence(s); use fewer devices or more data"
                )
            batches = split
        return batches

    def _fill_ranks(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Evaluation: split the largest batches until every rank has one. A rank without a
        batch would skip the epoch-end metric sync that the other ranks wait in (a hang)."""
        r = self.num_replicas
        while r > 1 and len(batches) < r:
            split = _split_largest(batches, r - len(batches), self._cut_point)
            if len(split) == len(batches) and self.unit == "documents":
                split = batches + [np.empty(0, dtype=np.int64)] * (r - len(batches))
            if len(split) == len(batches):
                raise ConfigError(
                    f"trainer.devices: an evaluation split of {len(self.lengths)} sentence(s) "
                    f"cannot give each of {r} DDP ranks a batch; use fewer devices or a "
                    "larger split"
                )
            batches = split
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._global_batches(self.epoch)[self.rank :: self.num_replicas]
        for b in batches:
            yield b.tolist()

    def __len__(self) -> int:
        """Exact number of batches this rank yields; the same every epoch."""
        return len(range(self.rank, self._num_batches, self.num_replicas))


def _split_largest(
    batches: list[np.ndarray], count: int, cut_point: Callable[[np.ndarray], int | None]
) -> list[np.ndarray]:
    """Split up to ``count`` of the largest batches that can be split in two (``cut_point``),
    in place in the order. Ties go by position, so the choice depends only on the batches."""
    order = sorted(range(len(batches)), key=lambda i: (-len(batches[i]), i))
    cuts = {i: cut_point(batches[i]) for i in order}
    chosen = set([i for i in order if cuts[i] is not None][:count])
    split: list[np.ndarray] = []
    for i, batch in enumerate(batches):
        if i in chosen:
            half = cuts[i]
            split += [batch[:half], batch[half:]]
        else:
            split.append(batch)
    return split


def _document_runs(lengths: np.ndarray, documents: Sequence[int] | None) -> list[np.ndarray]:
    """Row indices of each document: runs of consecutive rows with the same id."""
    if documents is None:
        raise ConfigError("data.batch_unit=documents needs each sentence's document id")
    ids = np.asarray(documents, dtype=np.int64).reshape(-1)
    if len(ids) != len(lengths):
        raise ValueError(f"{len(ids)} document ids for {len(lengths)} rows")
    if not len(ids):
        return []
    starts = np.flatnonzero(np.diff(ids, prepend=ids[:1] - 1))
    return np.split(np.arange(len(ids)), starts[1:])


def padding_ratio(batches: Iterable[Sequence[int]], lengths: Sequence[int]) -> float:
    """Padded positions over real tokens: ``sum(n * max_len) / sum(len)`` (1.0 = no padding)."""
    lens = np.asarray(lengths, dtype=np.int64)
    padded = real = 0
    for b in batches:
        batch_lengths = lens[np.asarray(b, dtype=np.int64)]
        if batch_lengths.size:
            padded += int(batch_lengths.size * batch_lengths.max())
            real += int(batch_lengths.sum())
    return padded / real if real else math.nan

"""Tests for seqtagger.data.sampler."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from seqtagger.data.sampler import BucketBatchSampler, padding_ratio
from seqtagger.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _synthetic_lengths(n: int = 3000, seed: int = 0) -> list[int]:
    """Log-normal-ish sentence lengths: mean ~16, long tail up to ~150."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=2.55, sigma=0.6, size=n).round(), 1, 150).astype(int).tolist()


def _ewt_train_lengths() -> list[int] | None:
    base = os.environ.get("SEQTAGGER_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    path = Path(base) / "ud_en_ewt" / "en_ewt-ud-train.conllu"
    if not path.is_file():
        return None
    lengths, n = [], 0
    word_line = re.compile(r"^\d+\t")  # skip multiword ranges (1-2) and empty nodes (8.1)
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                if n:
                    lengths.append(n)
                n = 0
            elif word_line.match(line):
                n += 1
    if n:
        lengths.append(n)
    return lengths


LENGTHS = _synthetic_lengths(1000)


def _epoch(sampler: BucketBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize(("unit", "size"), [("sentences", 16), ("tokens", 300)])
def test_one_rank_every_sentence_once_and_len_exact(unit, size):
    s = BucketBatchSampler(LENGTHS, size, unit=unit, seed=3)
    orders = []
    for epoch in range(3):
        batches = _epoch(s, epoch)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(LENGTHS)))
        assert len(batches) == len(s)
        orders.append(flat)
    assert orders[0] != orders[1] != orders[2]
    again = BucketBatchSampler(LENGTHS, size, unit=unit, seed=3)
    assert _epoch(again, 1) == _epoch(s, 1)
    assert _epoch(BucketBatchSampler(LENGTHS, size, unit=unit, seed=4), 1) != _epoch(s, 1)


def test_sentence_batches_respect_batch_size():
    batches = list(BucketBatchSampler(LENGTHS, 16))
    assert max(map(len, batches)) == 16


@pytest.mark.parametrize("shuffle", [True, False])
def test_token_budget_respected_and_long_sentence_alone(shuffle):
    lengths = [*LENGTHS, 500]  # longer than the budget
    s = BucketBatchSampler(lengths, 300, unit="tokens", shuffle=shuffle)
    batches = list(s)
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 300 or len(b) == 1
    assert [len(lengths) - 1] in batches


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize(("unit", "size"), [("sentences", 16), ("tokens", 300)])
def test_ddp_training_disjoint_equal_counts(replicas, unit, size):
    for n in (len(LENGTHS), 101):  # 101: ceil(101/16)=7 batches, not divisible by 2 or 3
        samplers = [
            BucketBatchSampler(LENGTHS[:n], size, unit=unit, num_replicas=replicas, rank=r, seed=1)
            for r in range(replicas)
        ]
        assert len({len(s) for s in samplers}) == 1
        for epoch in (0, 1):
            flat = []
            for s in samplers:
                batches = _epoch(s, epoch)
                assert len(batches) == len(s)
                flat += [i for b in batches for i in b]
            assert sorted(flat) == list(range(n))  # disjoint and complete


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize(("unit", "size"), [("sentences", 16), ("tokens", 300)])
def test_ddp_evaluation_every_sentence_exactly_once(replicas, unit, size):
    lengths = LENGTHS[:101]
    counts, flat = [], []
    for rank in range(replicas):
        s = BucketBatchSampler(
            lengths, size, unit=unit, shuffle=False, num_replicas=replicas, rank=rank
        )
        batches = list(s)
        assert len(batches) == len(s)
        counts.append(len(batches))
        flat += [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert max(counts) - min(counts) <= 1


def test_evaluation_is_length_sorted_and_epoch_independent():
    s = BucketBatchSampler(LENGTHS, 16, shuffle=False)
    flat = [i for b in _epoch(s, 0) for i in b]
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS)
    assert _epoch(s, 5) == _epoch(s, 0)


def test_too_few_sentences_for_ranks_is_a_config_error():
    """A user error (one line, exit 2) that names the config key, not a bug."""
    with pytest.raises(ConfigError, match=r"trainer\.devices: .*3 DDP ranks"):
        BucketBatchSampler([5, 6], 4, num_replicas=3, rank=0)
    with pytest.raises(ConfigError, match="equal batch counts"):
        BucketBatchSampler([5] * 5, 1, num_replicas=4, rank=0)


def test_ddp_evaluation_gives_every_rank_a_batch():
    """A dev set with fewer batches than ranks still gives each rank a batch (an
    empty rank skips the metric sync and hangs the others), each sentence exactly once."""
    samplers = [
        BucketBatchSampler([3, 9, 4], 128, shuffle=False, num_replicas=3, rank=r) for r in range(3)
    ]
    shares = [list(s) for s in samplers]
    assert [len(s) for s in samplers] == [len(share) for share in shares] == [1, 1, 1]
    assert sorted(i for share in shares for b in share for i in b) == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"evaluation split of 1 sentence.*2 DDP ranks"):
        BucketBatchSampler([5], 128, shuffle=False, num_replicas=2, rank=0)


def _document_shares(documents: list[int], size: int, replicas: int, shuffle: bool) -> list:
    """Each rank's batches of ``size`` documents (rows of ``documents`` ids), epoch 0."""
    samplers = [
        BucketBatchSampler(
            [4] * len(documents), size, unit="documents", shuffle=shuffle,
            documents=documents, num_replicas=replicas, rank=rank, seed=2,
        )
        for rank in range(replicas)
    ]  # fmt: skip
    shares = [list(sampler) for sampler in samplers]
    assert [len(share) for share in shares] == [len(sampler) for sampler in samplers]
    return shares


def _whole_documents(batch: list[int], documents: list[int]) -> bool:
    """Whether ``batch`` holds every row of each document it touches."""
    touched = {documents[i] for i in batch}
    return sorted(batch) == [i for i, d in enumerate(documents) if d in touched]


@pytest.mark.parametrize("replicas", [2, 3])
def test_ddp_evaluation_keeps_documents_whole(replicas: int) -> None:
    """A split of fewer documents than ranks: the documents stay whole (a memory pools over
    each), split between batches only at their boundaries; the ranks left over get an empty
    batch, so every rank joins the metric sync and every sentence is scored once."""
    one = [7] * 10
    shares = _document_shares(one, 8, replicas, shuffle=False)
    assert shares == [[list(range(10))]] + [[[]]] * (replicas - 1)
    two = [1] * 3 + [2] * 7
    shares = _document_shares(two, 8, replicas, shuffle=False)
    assert shares[:2] == [[[0, 1, 2]], [list(range(3, 10))]]
    assert shares[2:] == [[[]]] * (replicas - 2)


@pytest.mark.parametrize(("size", "replicas"), [(1, 3), (3, 3), (2, 3), (4, 2)])
def test_ddp_training_keeps_documents_whole(size: int, replicas: int) -> None:
    """Equal batch counts on every rank by splitting batches between documents, else by
    repeating whole documents: never by cutting one."""
    documents = [0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 3]
    shares = _document_shares(documents, size, replicas, shuffle=True)
    assert len({len(share) for share in shares}) == 1
    batches = [batch for share in shares for batch in share]
    assert all(_whole_documents(batch, documents) for batch in batches)
    assert {i for batch in batches for i in batch} == set(range(len(documents)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_unit"):
        BucketBatchSampler(LENGTHS, 8, unit="chars")
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler(LENGTHS, 8, num_replicas=2, rank=2)


def test_state_dict_roundtrip():
    s = BucketBatchSampler(LENGTHS, 16, seed=7)
    s.set_epoch(4)
    t = BucketBatchSampler(LENGTHS, 16)
    t.load_state_dict(s.state_dict())
    assert list(t) == list(s)


def test_padding_ratio_formula():
    assert padding_ratio([[0, 1], [2]], [2, 4, 3]) == pytest.approx((2 * 4 + 3) / 9)


def test_padding_ratio_bucketed_vs_random():
    lengths = _ewt_train_lengths() or _synthetic_lengths(12000)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(lengths))
    random_ratio = padding_ratio([perm[i : i + 32] for i in range(0, len(perm), 32)], lengths)
    bucketed = padding_ratio(BucketBatchSampler(lengths, 32), lengths)
    by_tokens = padding_ratio(BucketBatchSampler(lengths, 1024, unit="tokens"), lengths)
    assert random_ratio > 1.5
    assert bucketed < 1.2
    assert by_tokens < 1.2


def test_lightning_set_epoch_reaches_the_batch_sampler() -> None:
    """Lightning calls set_epoch on ``loader.sampler`` and ``loader.batch_sampler.sampler`` only."""
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    lengths = list(range(1, 101))
    sampler = BucketBatchSampler(lengths, 8, shuffle=True, seed=1)
    loader = DataLoader(list(range(100)), batch_sampler=sampler)
    first = list(sampler)
    _set_sampler_epoch(loader, 1)
    assert sampler.epoch == 1
    assert list(sampler) != first

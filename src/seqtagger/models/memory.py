"""Document memory: each word also reads the states of the other mentions of its form in its
document.

CoNLL-2003 names a player in full in one line and by surname alone in a results table lines
later; a sentence-level tagger sees the bare surname without the context that made the first
mention clear. The memory pools, for every word, the encoder states of all occurrences of the
same form in the same document (itself included), and the head reads the word's own state beside
that pool. Akbik et al. (2019) pool a word's embeddings over the corpus in the same spirit; here
the pool is per document and over the tagger's own encoder states, so it needs nothing
pretrained and no extra parameters.

Its reach is the batch: with ``data.batch_unit=documents`` a batch holds whole documents
(``data/sampler.py``), so the pool spans each document; under other batching it pools what
shares a batch with the same document id. Prediction (``Predictor``) batches whole documents for
a model with a memory, so evaluation reads what training read.

A word's form is its characters (case kept, cut at ``data.max_word_length``), read from the
``char_ids`` its featurizer gives; an embedder without characters keys forms by word id. Either
way a form the ids cannot tell apart from others is kept apart: a word with a character the
training data lacked (``Москва`` and ``Берлин`` are both six ``<unk>`` characters), or an
``<unk>`` word id.

``export_safe`` (set by ``seqtagger.export``) sums each group's states over a sort instead of an
``index_add_``: exported, that is an ONNX ``ScatterND`` whose ``add`` onnxruntime's CPU kernel
runs on several threads without guarding repeated indices, so pooled states came out different
from run to run (microsoft/onnxruntime#18048, #23396).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from seqtagger.data.batch import sentence_positions, window_view
from seqtagger.errors import ConfigError

__all__ = ["DocumentMemory", "form_keys"]

_HASH_BASE = 1_000_003
_HASH_MODULUS = 2**31 - 1


class DocumentMemory(nn.Module):
    """``forward(states (N, L, H), batch) -> (N, L, 2H)``: each position's state, then the mean
    state of the positions in the batch with the same document (``document_ids (N,)``; a batch
    without them: one document per row) and the same form (:func:`form_keys`).
    ``export_safe``: the sums by :func:`_means_by_sort` (module docstring)."""

    export_safe: bool = False

    def __init__(self, input_size: int, unk_index: int = 1, char_unk_index: int = 1) -> None:
        super().__init__()
        self.input_size = input_size
        self.output_size = 2 * input_size
        self.unk_index = unk_index
        self.char_unk_index = char_unk_index

    def forward(self, states: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        mask = batch["mask"]  # (N, L)
        documents = batch.get("document_ids")
        if documents is None:
            documents = torch.arange(mask.shape[0], device=mask.device)
        keys = form_keys(batch, self.unk_index, self.char_unk_index)
        pairs = (keys * _HASH_BASE + documents[:, None]).reshape(-1)  # int64 wraps: still a hash
        flat = states.reshape(-1, states.shape[-1])  # (N*L, H)
        if self.export_safe:
            pooled = _means_by_sort(flat, pairs, mask.reshape(-1))
        else:
            pooled = _means_by_index_add(flat, _groups(pairs, mask.reshape(-1)))
        return torch.cat([states, pooled.view_as(states)], dim=-1)


def _groups(pairs: Tensor, real: Tensor) -> Tensor:
    """``group (P,)``: one id per (document, form) hash of ``pairs (P,)`` at the ``real (P,)``
    positions, in ``[0, P)``; every padding position ``P``. A sort and a cumulative sum: fixed
    shapes, so on a GPU no host sync (``torch.unique`` would wait for the device to size its
    output)."""
    ordered, order = pairs.sort()
    starts = _run_starts(ordered)
    group = torch.empty_like(order).scatter_(0, order, starts.cumsum(0) - 1)
    return torch.where(real, group, pairs.numel())


def _run_starts(ordered: Tensor) -> Tensor:
    """``(P,)`` bool: where a run of equal values of the sorted ``ordered (P,)`` begins."""
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return starts


def _means_by_index_add(flat: Tensor, group: Tensor) -> Tensor:
    """``(P, H)``: each position's mean of ``flat (P, H)`` over its ``group`` (:func:`_groups`),
    0 at the padding's group."""
    slots = flat.shape[0] + 1  # at most one group per position, and the padding's
    sums = flat.new_zeros(slots, flat.shape[1]).index_add_(0, group, flat)
    sizes = flat.new_zeros(slots).index_add_(0, group, flat.new_ones(group.shape))
    means = sums / sizes.clamp_(min=1)[:, None]
    means[-1] = 0.0  # the padding's slot
    return means.index_select(0, group)


def _means_by_sort(flat: Tensor, pairs: Tensor, real: Tensor) -> Tensor:
    """:func:`_means_by_index_add` without scattering into shared rows: the ``real (P,)``
    positions sorted by ``pairs (P,)``, each group's sum a difference of a float64 cumulative
    sum at its ends (gathers), its mean gathered back to its positions; 0 at the padding."""
    positions = real.nonzero().squeeze(1)  # (M,)
    ordered, order = pairs.index_select(0, positions).sort()
    starts = _run_starts(ordered)
    firsts = starts.nonzero().squeeze(1)  # (G,): where each group starts
    lasts = torch.cat([firsts[1:], firsts.new_full((1,), ordered.shape[0])]) - 1
    sorted_positions = positions.index_select(0, order)
    values = flat.index_select(0, sorted_positions).double()  # (M, H)
    totals = values.cumsum(0)
    sums = totals.index_select(0, lasts) - totals.index_select(0, firsts)
    sums = sums + values.index_select(0, firsts)  # (G, H)
    means = (sums / (lasts - firsts + 1).unsqueeze(1)).to(flat.dtype)
    means = torch.cat([means.new_zeros(1, means.shape[1]), means])  # row 0: the padding's
    rank = starts.cumsum(0)  # (M,): each sorted position's group, counted from 1
    slot = torch.zeros_like(pairs).index_copy(0, sorted_positions, rank)  # (P,)
    return means.index_select(0, slot)


def form_keys(batch: Mapping[str, Tensor], unk_index: int = 1, char_unk_index: int = 1) -> Tensor:
    """One int64 key per sentence position ``(N, L)``, equal for equal word forms: a polynomial
    hash of the word's ``char_ids (N, T, W)``, else its ``token_ids (N, T)``; a word with an
    ``<unk>`` character (or, by word id, an ``<unk>`` word) is a key of its own (negative). Read
    over the windows of a batch with document context, then taken at the sentences' positions."""
    window = window_view(batch)
    if "char_ids" in window:
        chars = window["char_ids"]  # (N, T, W)
        powers = _powers(chars.shape[-1]).to(chars.device)
        hashes = (chars * powers).sum(-1)  # char ids < 2**20 and powers < 2**31: no overflow
        keys = _apart(hashes, (chars == char_unk_index).any(-1))
    elif "token_ids" in window:
        ids = window["token_ids"]
        keys = _apart(ids, ids == unk_index)
    else:
        raise ConfigError(
            "model/memory=document keys word forms by the batch's char_ids or token_ids, and "
            f"this embedder's batches have neither ({sorted(window)}); with a pretrained "
            "transformer use model/embedding=hf_char, which adds the characters"
        )
    return sentence_positions(keys[..., None], batch)[..., 0]


def _apart(keys: Tensor, unknown: Tensor) -> Tensor:
    """``keys (N, T)`` (>= 0) with each ``unknown`` position a negative key of its own."""
    unique = -1 - torch.arange(keys.numel(), device=keys.device).view_as(keys)
    return torch.where(unknown, unique, keys)


def _powers(width: int) -> Tensor:
    """``base ** i mod (2**31 - 1)`` for ``i < width``: position weights of the hash."""
    values = [1]
    for _ in range(width - 1):
        values.append(values[-1] * _HASH_BASE % _HASH_MODULUS)
    return torch.tensor(values, dtype=torch.int64)

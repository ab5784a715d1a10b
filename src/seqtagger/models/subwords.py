"""Subwords <-> words: offsets, pooling, and windows over sequences longer than the model's.

A pretrained transformer reads subwords (``"unbelievably"`` -> ``un ##bel ##ie ##va ##bly``)
while seqtagger scores words. Three pieces bridge the two, kept apart from the embedder so each
can be tested against a hand computation:

- :func:`word_spans`: a sentence's subword ids and, per word, its span ``[start, end)`` in
  them; a word the tokenizer maps to nothing (a lone ``"\\u200b"``) gets the unknown subword,
  so every word keeps a position and a vector (featurizer side, plain Python/NumPy).
- :func:`pool_words`: subword vectors ``(N, S, H)`` -> one vector per word ``(N, L, H)`` by the
  ``first``, ``last`` or ``mean`` subword of its span, vectorised and padding-aware.
- :func:`encode_in_windows` (:class:`WindowPlan`, :func:`plan_windows`, :func:`make_windows`,
  :func:`stitch_windows`):
  subword sequences longer than the model's positions are never truncated: they are cut into
  overlapping windows (``stride`` subwords shared by neighbours, the tokenizers' meaning of
  stride), each window framed by the model's special tokens and encoded as its own sequence,
  and every subword is taken back from the window where it has the most context on its
  narrower side.
- :func:`encode_by_length`: on the CPU, the rows of a batch with much padding are encoded in
  slices of similar length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seqtagger.errors import ConfigError

__all__ = [
    "POOLINGS",
    "WindowPlan",
    "encode_by_length",
    "encode_in_windows",
    "encode_planned_windows",
    "make_windows",
    "one_window_per_row",
    "plan_windows",
    "pool_words",
    "stitch_windows",
    "window_sizes",
    "word_spans",
]

POOLINGS = ("first", "mean", "last")


# ----- offsets (featurizer side) -----
def word_spans(
    ids: Sequence[int], word_ids: Sequence[int], num_words: int, unk_id: int
) -> tuple[list[int], list[int], list[int]]:
    """One sentence's subword ids and each word's span in them.

    Args:
        ids: subword ids of the sentence without special tokens, in order.
        word_ids: the word index of each subword (non-decreasing, as a fast tokenizer gives
            for pre-split words).
        num_words: the sentence's word count.
        unk_id: the id given to a word the tokenizer maps to no subword at all.

    Returns:
        ``(ids, starts, ends)``: the ids with one ``unk_id`` inserted for each empty word, and
        per word its subword span ``[start, end)``, never empty.
    """
    counts = np.bincount(np.asarray(word_ids, dtype=np.int64), minlength=num_words)
    if counts.size > num_words:
        raise ValueError(f"word_spans: word ids reach {counts.size - 1}, but {num_words} words")
    flat = np.asarray(ids, dtype=np.int64)
    empty = np.flatnonzero(counts == 0)
    if empty.size:  # insert the unknown subword where each empty word starts
        before = np.cumsum(counts) - counts
        flat = np.insert(flat, before[empty], unk_id)
        counts[empty] = 1
    ends = np.cumsum(counts)
    return flat.tolist(), (ends - counts).tolist(), ends.tolist()


# ----- pooling (model side) -----
def pool_words(
    subwords: Tensor,
    starts: Tensor,
    ends: Tensor,
    mask: Tensor,
    mode: str = "first",
    export_safe: bool = False,
) -> Tensor:
    """One vector per word from its subwords' vectors.

    Args:
        subwords: ``(N, S, H)`` subword vectors.
        starts / ends: ``(N, L)`` int64, each word's span ``[start, end)`` in ``subwords``.
        mask: ``(N, L)`` bool, True at real words.
        mode: ``first`` (the first subword, the usual choice for tagging), ``last`` or
            ``mean`` (the average over the span).
        export_safe: find each subword's word by counting the word ends before it, not by
            ``searchsorted``, which ONNX lacks (the same words).

    Returns:
        ``(N, L, H)``; exactly 0 at padded words.
    """
    n, length = starts.shape
    hidden = subwords.shape[-1]
    if mode in ("first", "last"):
        index = starts if mode == "first" else ends - 1
        index = index.clamp(0, max(subwords.shape[1] - 1, 0)).masked_fill(~mask, 0)
        if subwords.shape[1] == 0:
            return subwords.new_zeros(n, length, hidden)
        pooled = subwords.gather(1, index.unsqueeze(-1).expand(n, length, hidden))
    elif mode == "mean":
        pooled = _mean_over_spans(subwords, ends, mask, export_safe)
    else:
        raise ConfigError(f"model.embedding.pooling={mode!r}: expected one of {POOLINGS}")
    return pooled.masked_fill(~mask.unsqueeze(-1), 0.0)


def _mean_over_spans(subwords: Tensor, ends: Tensor, mask: Tensor, export_safe: bool) -> Tensor:
    """Average each word's subwords: every subword is added to the word whose span holds it
    (found by ``searchsorted`` on the span ends; padded subwords go to a spare column)."""
    n, length = ends.shape
    size = subwords.shape[1]
    # padded words end past every subword, so the ends stay sorted and catch nothing real
    sorted_ends = ends.masked_fill(~mask, size + 1).contiguous()
    positions = torch.arange(size, device=ends.device).expand(n, size).contiguous()
    if export_safe:  # the ends at or before each position, (N, S, L) summed: the same owner
        owner = (sorted_ends.unsqueeze(1) <= positions.unsqueeze(2)).sum(dim=2)
    else:
        owner = torch.searchsorted(sorted_ends, positions, right=True)  # (N, S) in [0, L]
    sums = subwords.new_zeros(n, length + 1, subwords.shape[-1])
    sums.scatter_add_(1, owner.unsqueeze(-1).expand_as(subwords), subwords)
    counts = subwords.new_zeros(n, length + 1).scatter_add_(
        1, owner, subwords.new_ones(owner.shape)
    )
    return sums[:, :length] / counts[:, :length].clamp(min=1).unsqueeze(-1)


# ----- windows over long sequences (model side) -----
@dataclass(frozen=True)
class WindowPlan:
    """Where each window of a batch comes from: ``rows``, ``starts``, ``sizes``: ``(B,)`` int64,
    window ``b`` holds subwords ``[starts[b], starts[b] + sizes[b])`` of row ``rows[b]``."""

    rows: Tensor
    starts: Tensor
    sizes: Tensor

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @classmethod
    def from_batch(cls, batch: Mapping[str, Tensor]) -> WindowPlan:
        """The plan a batch carries: ``window_rows``, ``window_starts``, ``window_sizes``."""
        return cls(batch["window_rows"], batch["window_starts"], batch["window_sizes"])

    def to(self, device: torch.device) -> WindowPlan:
        return WindowPlan(self.rows.to(device), self.starts.to(device), self.sizes.to(device))


def window_sizes(
    max_length: object, stride: int | None, positions: int, specials: int, *, trained: bool
) -> tuple[int, int]:
    """Subwords per window (``max_length`` positions, null: the model's ``positions``, less the
    ``specials`` framing each window) and shared by neighbours (``stride``, null: half). A length
    the model cannot encode is refused; a checkpoint ``trained`` with one (before this check)
    keeps working, its windows cut to the model's positions."""
    if trained and isinstance(max_length, int) and (max_length == 0 or max_length > positions):
        if max_length:
            warnings.warn(
                f"the checkpoint's model.embedding.max_length={max_length} is more than the "
                f"model's {positions} positions: windows of {positions} are used",
                stacklevel=3,
            )
        max_length = positions
    length = positions if max_length is None else max_length
    whole = isinstance(length, int) and not isinstance(length, bool)
    if not whole or not specials < length <= positions:
        raise ConfigError(
            f"model.embedding.max_length={max_length}: expected an integer from {specials + 1} "
            f"to {positions} (the model's positions, {specials} of them for its special "
            f"tokens), or null for {positions}"
        )
    window = length - specials
    stride = window // 2 if stride is None else stride
    plan_windows([], window, stride)  # checks the stride now, not at the first batch
    return window, stride


def plan_windows(lengths: Sequence[int], window: int, stride: int) -> WindowPlan:
    """Cut each row's ``lengths[i]`` subwords into windows of at most ``window`` subwords;
    neighbours share ``stride`` subwords, the last window ends at the row's end, an empty row
    gets one empty window (so every row has a window)."""
    if window < 1 or not 0 <= stride < window:
        raise ConfigError(
            f"model.embedding.stride={stride}: expected 0 <= stride < the window of {window} "
            "subwords (the model's positions minus its special tokens)"
        )
    step = window - stride
    rows: list[int] = []
    starts: list[int] = []
    sizes: list[int] = []
    for row, length in enumerate(lengths):
        count = 1 if length <= window else -(-(length - window) // step) + 1
        for k in range(count):
            start = min(k * step, max(length - window, 0))
            rows.append(row)
            starts.append(start)
            sizes.append(min(window, length - start))
    return WindowPlan(*(torch.tensor(v, dtype=torch.int64) for v in (rows, starts, sizes)))


def one_window_per_row(lengths: Tensor) -> WindowPlan:
    """The plan of a batch whose longest row fits one window, from the rows' subword counts
    ``lengths (N,)`` where they are (on the device: nothing is read back to the host)."""
    rows = torch.arange(lengths.shape[0], device=lengths.device)
    return WindowPlan(rows, torch.zeros_like(lengths), lengths)


def make_windows(
    subword_ids: Tensor,
    plan: WindowPlan,
    prefix: Tensor,
    suffix: Tensor,
    pad_id: int,
    width: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Model inputs for every window: ``prefix + subwords + suffix``, then padding.

    Args:
        subword_ids: ``(N, S)`` int64.
        plan: from :func:`plan_windows` or :func:`one_window_per_row`, on ``subword_ids.device``.
        prefix / suffix: 1-D int64 special ids framing every window (``[CLS]`` / ``[SEP]``).
        pad_id: the padding id.
        width: room for subwords in each window, at least ``max(plan.sizes)``; None: exactly
            that, read from the plan (a device sync when the plan is on an accelerator).

    Returns:
        ``input_ids (B, T)`` and ``attention_mask (B, T)`` (1 at real positions), ``T = P +
        width + Q``.
    """
    p, q = prefix.numel(), suffix.numel()
    sizes = plan.sizes.unsqueeze(1)  # (B, 1)
    if width is None:
        width = int(plan.sizes.max()) if len(plan) else 0
    total = p + width + q
    content = torch.arange(total, device=subword_ids.device).unsqueeze(0) - p  # (1, T)
    in_content = (content >= 0) & (content < sizes)
    in_suffix = (content >= sizes) & (content < sizes + q)
    source = (plan.starts.unsqueeze(1) + content).clamp(0, max(subword_ids.shape[1] - 1, 0))
    if subword_ids.shape[1]:
        ids = subword_ids[plan.rows.unsqueeze(1), source]
        ids = ids.masked_fill(~in_content, pad_id)
    else:
        ids = subword_ids.new_full((len(plan), total), pad_id)
    if p:
        ids = torch.where(content < 0, prefix[(content + p).clamp(0, p - 1)], ids)
    if q:
        ids = torch.where(in_suffix, suffix[(content - sizes).clamp(0, q - 1)], ids)
    return ids, ((content < 0) | in_content | in_suffix).long()


def stitch_windows(
    hidden: Tensor, plan: WindowPlan, prefix_length: int, num_rows: int, num_subwords: int
) -> Tensor:
    """Window outputs back to one vector per subword.

    Args:
        hidden: ``(B, T, H)``, the model's output for :func:`make_windows`' inputs.
        plan: the windows' plan.
        prefix_length: special tokens before the subwords of each window.
        num_rows / num_subwords: ``N`` and ``S`` of the batch.

    Returns:
        ``(N, S, H)``: each subword from the window where it is farthest from a window edge
        (ties: the later window), 0 at padded subwords.
    """
    windows, _, size = hidden.shape
    width = int(plan.sizes.max()) if windows else 0
    out = hidden.new_zeros(num_rows * num_subwords, size)
    if width == 0 or num_subwords == 0:
        return out.reshape(num_rows, num_subwords, size)
    target, chosen = _chosen_windows(plan, windows, num_rows, num_subwords, width)
    content = hidden[:, prefix_length : prefix_length + width]
    out[target[chosen]] = content[chosen]
    return out.reshape(num_rows, num_subwords, size)


def _chosen_windows(
    plan: WindowPlan, windows: int, num_rows: int, num_subwords: int, width: int
) -> tuple[Tensor, Tensor]:
    """``(target, chosen)``, both ``(B, width)``: the flat batch position of each window
    position, and whether it is the window's to give (exactly one window per subword)."""
    offset = torch.arange(width, device=plan.rows.device).unsqueeze(0)  # (1, W)
    sizes = plan.sizes.unsqueeze(1)
    real = offset < sizes  # (B, W)
    target = plan.rows.unsqueeze(1) * num_subwords + plan.starts.unsqueeze(1) + offset
    context = torch.minimum(offset, sizes - 1 - offset)  # subwords to the nearer edge
    window_index = torch.arange(windows, device=plan.rows.device).unsqueeze(1)
    key = (context * windows + window_index).masked_fill(~real, -1)  # unique per window
    target = target.masked_fill(~real, 0)
    best = torch.full((num_rows * num_subwords,), -1, dtype=key.dtype, device=key.device)
    best = best.scatter_reduce(0, target.reshape(-1), key.reshape(-1), reduce="amax")
    return target, real & (key == best[target])


def encode_planned_windows(
    encode: Callable[[Tensor, Tensor], Tensor],
    subword_ids: Tensor,
    plan: WindowPlan,
    *,
    window: int,
    prefix: Tensor,
    suffix: Tensor,
    pad_id: int,
) -> Tensor:
    """:func:`encode_in_windows` for a ``plan`` made beforehand (:func:`plan_windows` of the
    rows' subword counts), with shapes that follow the inputs' only, for export: windows as
    wide as ``min(S, window)`` (the widest window either way), every subword taken back by a
    scatter instead of a selection whose size depends on the data. ``(N, S, H)``."""
    rows, size = subword_ids.shape
    width = torch.sym_min(size, window)
    ids, attention = make_windows(subword_ids, plan, prefix, suffix, pad_id, width=width)
    hidden = encode(ids, attention)  # (B, T, H)
    target, chosen = _chosen_windows(plan, hidden.shape[0], rows, size, width)
    spare = rows * size  # where the positions not chosen go, then dropped
    destination = torch.where(chosen, target, spare).reshape(-1)
    p = prefix.numel()
    content = hidden[:, p : p + width] * chosen.unsqueeze(-1)  # (B, W, H)
    out = hidden.new_zeros(spare + 1, hidden.shape[-1])
    out = out.index_add(0, destination, content.reshape(-1, hidden.shape[-1]))
    return out[:spare].reshape(rows, size, hidden.shape[-1])


def encode_in_windows(
    encode: Callable[[Tensor, Tensor], Tensor],
    subword_ids: Tensor,
    word_ends: Tensor,
    *,
    window: int,
    stride: int,
    prefix: Tensor,
    suffix: Tensor,
    pad_id: int,
) -> Tensor:
    """One vector per subword, ``(N, S, H)`` (0 at padded subwords), from ``encode(input_ids,
    attention_mask) -> (B, T, H)`` run on framed windows of ``subword_ids (N, S)``.

    When the longest row fits one window (``S <= window``, known on the host), each row is one
    window framed from its length on the device, so nothing is read back; a longer batch is cut
    into windows planned from the rows' lengths on the host (one device sync per such batch).
    """
    rows, size = subword_ids.shape
    lengths = word_ends.amax(dim=1) if word_ends.shape[1] else word_ends.new_zeros(rows)  # (N,)
    p = prefix.numel()
    if size <= window:
        plan = one_window_per_row(lengths)
        ids, attention = make_windows(subword_ids, plan, prefix, suffix, pad_id, width=size)
        real = torch.arange(size, device=lengths.device) < lengths.unsqueeze(1)  # (N, S)
        return encode(ids, attention)[:, p : p + size].masked_fill(~real[..., None], 0)
    plan = plan_windows(lengths.tolist(), window, stride).to(subword_ids.device)
    ids, attention = make_windows(subword_ids, plan, prefix, suffix, pad_id)
    return stitch_windows(encode(ids, attention), plan, p, rows, size)


def encode_by_length(
    encode: Callable[[Tensor, Tensor], Tensor],
    input_ids: Tensor,
    attention_mask: Tensor,
    groups: int,
    max_padding: float = 0.25,
) -> Tensor:
    """``encode(input_ids, attention_mask) -> (B, T, H)`` run on up to ``groups`` slices of rows
    sorted by length, each slice cut to its longest row; zeros past a slice's width.

    A batch of whole documents (``data.batch_unit=documents``) is about 2.6x padding on
    CoNLL-2003, and a transformer's cost grows with padded positions. Slicing reads the lengths
    back, free on the CPU only, so the embedder slices there alone, and only when padded
    positions exceed the real ones by more than ``max_padding``. Each row's real positions are
    ``attention_mask``'s leading ones (:func:`make_windows` frames rows from position 0), so
    they keep their positions and, up to rounding, their vectors.
    """
    lengths = attention_mask.sum(dim=1)  # (B,)
    rows, width = input_ids.shape
    if groups <= 1 or rows * width <= (1 + max_padding) * int(lengths.sum()):
        return encode(input_ids, attention_mask)
    order = torch.argsort(lengths, descending=True, stable=True)
    pieces = []
    for chunk in order.tensor_split(min(groups, rows)):
        cut = int(lengths[chunk[0]])
        pieces.append((chunk, encode(input_ids[chunk, :cut], attention_mask[chunk, :cut])))
    first = pieces[0][1]
    out = first.new_zeros(rows, width, first.shape[-1])
    for chunk, hidden in pieces:
        out[chunk, : hidden.shape[1]] = hidden
    return out

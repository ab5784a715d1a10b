"""``SpanF1``: conlleval chunk precision/recall/F1 as a vectorised torchmetrics ``Metric``.

Why not seqeval: seqeval works on Python lists of tag strings on the CPU and is not a
torchmetrics object, so using it in a training loop means a host sync (``.tolist()``) per step
and a custom gather of string lists under DDP.  Here every step is a handful of tensor ops on the
device and the states are per-type integer counts, summed across ranks with
``dist_reduce_fx="sum"``.

The rules are those of ``seqtagger.data.schemes.get_spans`` (conlleval.pl), re-expressed on label
ids: each label id maps to a raw prefix code and a type index; BIOES is mapped onto IOB2 codes
token by token; a chunk starts at ``B`` or at ``I`` whose previous token has another type (``O``
has type -1); it ends where the next token is outside a chunk or starts one.  A gold and a
predicted chunk match when they start at the same token with the same type and reach the same
end.  Token accuracy compares IOB2-mapped codes and types (= raw labels for IOB1/IOB2/plain).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from seqtagger.constants import IGNORE_INDEX, OUTSIDE
from seqtagger.data.schemes import SchemeError, check_scheme, label_types, split_tag
from seqtagger.metrics.conlleval import ChunkCounts

# Raw prefix codes of the label buffers; IOB2-mapped codes use only _O, _B, _I.
_O, _B, _I, _E, _S = range(5)
_CODES = {OUTSIDE: _O, "B": _B, "I": _I, "E": _E, "S": _S}
_ALLOWED = {"plain": (), "iob1": (_O, _B, _I), "iob2": (_O, _B, _I), "bioes": tuple(range(5))}
OVERALL = "overall"  # key of the all-types totals in ``SpanF1.counts()``


def _shift_right(x: Tensor, fill: int | bool) -> Tensor:
    """``out[:, i] = x[:, i - 1]``, ``out[:, 0] = fill``; ``x: (N, L)``."""
    return torch.cat([torch.full_like(x[:, :1], fill), x[:, :-1]], dim=1)


def _shift_left(x: Tensor, fill: int | bool) -> Tensor:
    """``out[:, i] = x[:, i + 1]``, ``out[:, -1] = fill``; ``x: (N, L)``."""
    return torch.cat([x[:, 1:], torch.full_like(x[:, :1], fill)], dim=1)


class SpanF1(Metric):
    """Micro and per-type chunk P/R/F1 plus token accuracy over ``(N, L)`` label-id tensors.

    Args:
        labels: label strings indexed by label id (e.g. ``Vocab`` labels), ``"O"`` and
            ``PREFIX-TYPE`` tags valid in ``scheme``; any strings for ``"plain"``.
        scheme: ``"plain"`` (token accuracy only), ``"iob1"``, ``"iob2"`` or ``"bioes"``.
        strict: drop chunks whose first IOB2-mapped prefix is not ``B`` (no effect for IOB1).
        with_strict: also count the strict chunks in the same pass and report them as
            ``strict/precision``, ``strict/recall`` and ``strict/f1`` (one metric object and
            one chunk computation per step for both modes).
        ignore_index: target value of padding; such positions count as ``O`` in both tensors
            and are not tokens.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    correct: Tensor
    pred: Tensor
    gold: Tensor
    correct_tokens: Tensor
    tokens: Tensor

    def __init__(
        self,
        labels: Sequence[str],
        scheme: str,
        strict: bool = False,
        ignore_index: int = IGNORE_INDEX,
        with_strict: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scheme = check_scheme(scheme)
        self.labels = list(labels)
        self.strict = strict
        self.with_strict = with_strict
        self.ignore_index = ignore_index
        self.types = [] if self.scheme == "plain" else label_types(self.labels)
        codes, type_ids = self._label_buffers()
        self.register_buffer("label_code", codes, persistent=False)
        self.register_buffer("label_type", type_ids, persistent=False)
        n_types = len(self.types)
        for name in ("correct", "pred", "gold"):
            self.add_state(name, torch.zeros(n_types, dtype=torch.long), dist_reduce_fx="sum")
        if with_strict:
            for name in ("strict_correct", "strict_pred", "strict_gold"):
                self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        for name in ("correct_tokens", "tokens"):
            self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def _label_buffers(self) -> tuple[Tensor, Tensor]:
        """Raw prefix code and type index (-1 for ``O``) per label id, each ``(C,)``."""
        if self.scheme == "plain":
            n = len(self.labels)
            return torch.zeros(n, dtype=torch.long), torch.full((n,), -1, dtype=torch.long)
        type_index = {t: i for i, t in enumerate(self.types)}
        codes, type_ids = [], []
        for label_id, label in enumerate(self.labels):
            prefix, type_ = split_tag(label)
            if _CODES[prefix] not in _ALLOWED[self.scheme]:
                raise SchemeError(
                    f"label {label_id} {label!r} is not valid in scheme {self.scheme}"
                )
            codes.append(_CODES[prefix])
            type_ids.append(type_index.get(type_, -1))
        return torch.tensor(codes, dtype=torch.long), torch.tensor(type_ids, dtype=torch.long)

    def _chunks(self, ids: Tensor, ignored: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """IOB2 codes, types, chunk starts and next-chunk-end index, each ``(N, L)``."""
        safe = ids.masked_fill(ignored, 0)
        raw = self.label_code[safe].masked_fill(ignored, _O)
        types = self.label_type[safe].masked_fill(ignored, -1)
        if self.scheme == "bioes":
            prev_raw = _shift_right(raw, _O)
            after_closed = (prev_raw == _E) | (prev_raw == _S)
            inside = (raw == _I) | (raw == _E)
            is_b = (raw == _B) | (raw == _S) | (inside & after_closed)
            iob = torch.where(is_b, _B, torch.where(inside, _I, _O))
        else:
            iob = raw
        in_chunk = iob != _O
        start = (iob == _B) | ((iob == _I) & (_shift_right(types, -1) != types))
        end = in_chunk & _shift_left(~in_chunk | start, True)
        length = ids.shape[1]
        positions = torch.arange(length, device=ids.device).expand_as(ids)
        end_at = torch.where(end, positions, length)
        next_end = torch.cummin(end_at.flip(1), dim=1).values.flip(1)
        return iob, types, start, next_end

    def _well_formed(self, iob: Tensor, start: Tensor) -> Tensor:
        """The starts of chunks strict mode keeps: first IOB2 prefix ``B`` (IOB1: all)."""
        return start if self.scheme == "iob1" else start & (iob == _B)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add one batch; ``preds``, ``target``: ``(N, L)`` int64 label ids."""
        if preds.shape != target.shape:
            raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
        ignored = target == self.ignore_index
        counted = ~ignored
        self.tokens += counted.sum()
        if self.scheme == "plain":
            self.correct_tokens += ((preds == target) & counted).sum()
            return
        g_iob, g_type, g_start, g_end = self._chunks(target, ignored)
        p_iob, p_type, p_start, p_end = self._chunks(preds, ignored)
        same_token = (g_iob == p_iob) & (g_type == p_type)
        self.correct_tokens += (same_token & counted).sum()
        hit = g_start & p_start & (g_type == p_type) & (g_end == p_end)
        if self.strict or self.with_strict:
            g_strict, p_strict = (
                self._well_formed(g_iob, g_start),
                self._well_formed(p_iob, p_start),
            )
            strict_hit = hit & g_strict & p_strict
        if self.strict:
            g_start, p_start, hit = g_strict, p_strict, strict_hit
        self._add_per_type(self.gold, g_type, g_start)
        self._add_per_type(self.pred, p_type, p_start)
        self._add_per_type(self.correct, g_type, hit)
        if self.with_strict:
            self.strict_gold += g_strict.sum()
            self.strict_pred += p_strict.sum()
            self.strict_correct += strict_hit.sum()

    @staticmethod
    def _add_per_type(state: Tensor, types: Tensor, chunk_starts: Tensor) -> None:
        """``state[t] += number of chunk starts of type t``; scatter_add avoids a host sync."""
        if state.numel() == 0:  # label set without chunk types: nothing can start
            return
        state.scatter_add_(0, types.clamp(min=0).flatten(), chunk_starts.flatten().long())

    def compute(self) -> dict[str, Tensor]:
        """Micro ``precision``/``recall``/``f1``, ``accuracy`` and ``precision/TYPE`` etc.

        Fractions in [0, 1]; 0 where undefined (no predicted or no gold chunks, no tokens).
        """
        out = dict(
            zip(
                ("precision", "recall", "f1"),
                _prf(self.correct.sum(), self.pred.sum(), self.gold.sum()),
                strict=True,
            )
        )
        out["accuracy"] = _ratio(self.correct_tokens, self.tokens)
        if self.with_strict:
            strict = _prf(self.strict_correct, self.strict_pred, self.strict_gold)
            out.update(zip(("strict/precision", "strict/recall", "strict/f1"), strict, strict=True))
        precision, recall, f1 = _prf(self.correct, self.pred, self.gold)
        for i, type_ in enumerate(self.types):
            out[f"precision/{type_}"] = precision[i]
            out[f"recall/{type_}"] = recall[i]
            out[f"f1/{type_}"] = f1[i]
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Per-type ``{"correct", "pred", "gold"}`` plus key ``OVERALL`` with the totals and
        ``"tokens"``/``"correct_tokens"`` (one host sync; call at epoch end, not per step)."""
        correct, pred, gold = self.correct.tolist(), self.pred.tolist(), self.gold.tolist()
        out = {
            t: {"correct": c, "pred": p, "gold": g}
            for t, c, p, g in zip(self.types, correct, pred, gold, strict=True)
        }
        out[OVERALL] = {
            "correct": sum(correct),
            "pred": sum(pred),
            "gold": sum(gold),
            "tokens": int(self.tokens.item()),
            "correct_tokens": int(self.correct_tokens.item()),
        }
        return out

    def chunk_counts(self) -> ChunkCounts:
        """The counts as a ``conlleval.ChunkCounts`` (for ``conlleval.format_report``)."""
        counts = self.counts()
        totals = counts.pop(OVERALL)
        return ChunkCounts(
            tokens=totals["tokens"],
            correct_tokens=totals["correct_tokens"],
            correct={t: c["correct"] for t, c in counts.items() if c["correct"]},
            pred={t: c["pred"] for t, c in counts.items() if c["pred"]},
            gold={t: c["gold"] for t, c in counts.items() if c["gold"]},
        )


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` as float, 0 where ``den`` is 0."""
    num, den = num.float(), den.float()
    defined = den > 0
    return torch.where(defined, num / torch.where(defined, den, 1.0), 0.0)


def _prf(correct: Tensor, pred: Tensor, gold: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    precision, recall = _ratio(correct, pred), _ratio(correct, gold)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1

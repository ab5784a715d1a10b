"""Which tags a model predicts, to say when it predicts only one.

A model that has not learned its task yet often predicts the most frequent tag on every token,
or on all but a handful: ``O`` on NER (test F1 0.00), ``NOUN`` on POS. Its numbers
look like any other run's; the end of the run says what happened (``single_tag_note``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from seqtagger.constants import OUTSIDE

__all__ = ["PredictedTags", "TagCounts", "single_tag_note"]

SPLIT_NAMES = {"val": "dev", "test": "test"}
MOSTLY = 0.999  # a tag predicted on this share of the tokens is the only one the model uses


class TagCounts(Metric):
    """Tokens per label id, predicted and gold: ``compute() -> (2, C)`` (row 0 predicted, row 1
    gold), summed across ranks. ``update(pred_ids, tag_ids)`` with ``(N, L)`` ids, padding
    ``-100``: counted in one bin past the labels by ``scatter_add_``, so no step waits for the
    device (a boolean mask would)."""

    full_state_update = False
    counts: Tensor

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels
        zeros = torch.zeros(2, num_labels + 1, dtype=torch.long)
        self.add_state("counts", zeros, dist_reduce_fx="sum")

    def update(self, pred_ids: Tensor, tag_ids: Tensor) -> None:
        for row, ids in enumerate((pred_ids, tag_ids)):
            bins = ids.masked_fill(ids < 0, self.num_labels).flatten()
            self.counts[row].scatter_add_(0, bins, torch.ones_like(bins))

    def compute(self) -> Tensor:
        return self.counts[:, : self.num_labels]


class PredictedTags(nn.Module):
    """``TagCounts`` of the dev and test stages, and what the last epoch of each showed
    (``notes``: stage -> ``single_tag_note``); one host read an epoch."""

    def __init__(self, labels: Sequence[str], has_spans: bool) -> None:
        super().__init__()
        self.labels, self.has_spans = list(labels), has_spans
        self.counts = nn.ModuleDict({stage: TagCounts(len(labels)) for stage in SPLIT_NAMES})
        self.notes: dict[str, str | None] = {}

    def update(self, stage: str, pred_ids: Tensor, tag_ids: Tensor) -> None:
        if stage in self.counts:
            self.counts[stage].update(pred_ids, tag_ids)

    def end_epoch(self, stage: str, note: bool = True) -> None:
        """Note (unless ``note`` is False: a sanity check) whether the stage's epoch predicted
        one tag everywhere, and reset its counts."""
        if stage not in self.counts:
            return
        counts = self.counts[stage]
        if note:
            # every rank joins the sync, also one whose share of a split was an empty batch
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*called before the ``update``", UserWarning)
                computed = counts.compute()
            self.notes[stage] = single_tag_note(computed, self.labels, stage, self.has_spans)
        counts.reset()


def single_tag_note(
    counts: Tensor, labels: Sequence[str], stage: str, has_spans: bool
) -> str | None:
    """What to tell the user when the model predicted one tag on all but a few of a stage's
    tokens (``MOSTLY``; ``counts``: ``TagCounts.compute()``) that the gold tags otherwise;
    None when it did not."""
    predicted, gold = counts.tolist()
    tokens = sum(predicted)
    label = max(range(len(labels)), key=predicted.__getitem__) if tokens else 0
    if not tokens or predicted[label] < MOSTLY * tokens or gold[label] >= MOSTLY * sum(gold):
        return None
    tag, others, split = labels[label], tokens - predicted[label], SPLIT_NAMES.get(stage, stage)
    which = f"every one of the {tokens:,} {split} tokens"
    if others:
        which = f"{predicted[label]:,} of the {tokens:,} {split} tokens (all but {others:,})"
    advice = (
        "It has not learned the task yet: train longer (more trainer.max_epochs, or every "
        "batch of an epoch) or check model.optimizer.lr"
    )
    if has_spans and tag == OUTSIDE:
        in_spans = sum(count for index, count in enumerate(gold) if index != label)
        found = f"no span on {split}, so its {stage}/f1 is 0"
        if others:
            found = f"almost no span on {split}"
        return (
            f"The final model finds {found}: it predicts {OUTSIDE!r} on {which}, where the gold "
            f"has {in_spans:,} tokens in spans. {advice}"
        )
    return (
        f"The final model predicts {tag!r} on {which}, where the gold has "
        f"{sum(1 for count in gold if count)} tags. {advice}"
    )

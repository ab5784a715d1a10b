"""One model pass over a set of sentences, in the ``Predictor``'s own batches.

The ``Predictor`` decides how a set is batched (windows sorted by length, document context, whole
documents for a model with a document memory) and featurizes each batch as training did; a pass
reuses exactly that, so the logits a temperature is fitted on and the confidences ECE is
measured on are those that ``predict_scored`` reports. Only the per-batch work differs:
:func:`keep_logits` keeps each sentence's logits on the host (for fitting, on a dev set), and
:class:`ScoredBatches` keeps each task's decoded ids and the probability of each decoded tag at
the temperatures asked for (for ECE, on a set of any size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    from seqtagger.calibration.temperature import Batches
    from seqtagger.inference.predictor import Predictor
    from seqtagger.models.heads import Head
    from seqtagger.models.tagger import Tagger

Row = TypeVar("Row")
PerBatch = Callable[[dict[str, Tensor], dict[str, Tensor]], list[Row]]
"""``(batch, logits {task: (N, L, C)}) -> one row per sentence of the batch``."""


def model_pass(
    predictor: Predictor,
    tagger: Tagger,
    sentences: Sequence[Sequence[str]],
    documents: Sequence[int] | None,
    per_batch: PerBatch[Row],
) -> Iterator[Row]:
    """``per_batch``'s row of each sentence, in input order, from the batches ``predictor``
    forms and collates (``tagger``: the model it wraps). A batch of empty sentences is not run:
    ``per_batch`` gets ``mask (N, 0)`` and logits ``(N, 0, C)``."""

    def tag_batch(tokens: list[list[str]], contexts: Any, batch_documents: Any) -> list[Row]:
        with torch.inference_mode():
            if not any(tokens):  # nothing to run: without words char_ids collate to (N, 0)
                mask = torch.zeros(len(tokens), 0, dtype=torch.bool)
                heads = tagger.heads.items()
                empty = {name: torch.zeros(len(tokens), 0, h.num_labels) for name, h in heads}
                return per_batch({"mask": mask}, empty)
            batch = predictor._collate(tokens, contexts, batch_documents)
            return per_batch(batch, tagger(batch))

    return predictor._in_order(sentences, documents, tag_batch)


def keep_logits(batch: dict[str, Tensor], logits: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    """Each sentence's logits ``{task: (L_i, C)}``, float32 on the host (``(0, C)`` when empty)."""
    lengths = batch["mask"].sum(dim=1).tolist()
    on_host = {name: values.float().cpu() for name, values in logits.items()}
    return [{name: v[i, :n] for name, v in on_host.items()} for i, n in enumerate(lengths)]


def decoded_probabilities(
    head: Head, logits: Tensor, mask: Tensor, temperatures: Sequence[float]
) -> tuple[Tensor, list[Tensor]]:
    """The head's decoded ids ``(N, L)`` (argmax, or the Viterbi path; -100 at padding) and, at
    each temperature, the probability of each decoded tag ``(N, L)`` (0 at padding): what
    ``Predictor.predict_batch_scored`` reports."""
    ids = head.decode(logits, mask)
    picked = []
    for temperature in temperatures:
        probabilities = head.marginals(logits, mask, temperature)  # (N, L, C)
        picked.append(probabilities.gather(2, ids.clamp(min=0).unsqueeze(2)).squeeze(2))
    return ids, picked


Scored = dict[str, tuple[list[int], list[list[float]]]]
"""One sentence: per task, its decoded ids and their probabilities at each temperature."""


class ScoredBatches:
    """``per_batch`` for :func:`model_pass`: per sentence and task, the decoded ids and the
    probability of each at each of the task's ``temperatures`` (before and after calibration).
    Holds a few numbers per token, never the logits."""

    def __init__(self, tagger: Tagger, temperatures: Mapping[str, Sequence[float]]) -> None:
        self.tagger = tagger
        self.temperatures = {name: list(values) for name, values in temperatures.items()}

    def __call__(self, batch: dict[str, Tensor], logits: dict[str, Tensor]) -> list[Scored]:
        mask = batch["mask"]
        lengths = mask.sum(dim=1).tolist()
        if not mask.shape[1]:  # only empty sentences
            temperatures = self.temperatures.items()
            return [{name: ([], [[] for _ in t]) for name, t in temperatures} for _ in lengths]
        columns = {}
        for name, temperatures in self.temperatures.items():
            head = self.tagger.heads[name]
            ids, picked = decoded_probabilities(head, logits[name], mask, temperatures)
            columns[name] = (ids.cpu().tolist(), [p.float().cpu().tolist() for p in picked])
        return [
            {
                name: (ids[i][:n], [scores[i][:n] for scores in picked])
                for name, (ids, picked) in columns.items()
            }
            for i, n in enumerate(lengths)
        ]


def scored_sentences(
    head: Head, batches: Batches, temperatures: Sequence[float]
) -> tuple[list[list[int]], tuple[list[list[float]], ...]]:
    """:func:`decoded_probabilities` of logits kept in ``batches``, per sentence in the set's
    order: each sentence's decoded ids, and their probabilities at each temperature."""
    count = sum(map(len, batches.rows))
    ids: list[list[int]] = [[] for _ in range(count)]
    scores: tuple[list[list[float]], ...] = tuple([[] for _ in range(count)] for _ in temperatures)
    with torch.inference_mode():
        for (logits, mask, _), rows in zip(batches, batches.rows, strict=True):
            decoded, picked = decoded_probabilities(head, logits, mask, temperatures)
            for row, (index, n) in enumerate(zip(rows, mask.sum(dim=1).tolist(), strict=True)):
                ids[index] = decoded[row, :n].tolist()
                for column, probabilities in zip(scores, picked, strict=True):
                    column[index] = probabilities[row, :n].tolist()
    return ids, scores

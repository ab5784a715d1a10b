"""Parity of an exported graph with the PyTorch model it came from, on the same inputs.

The graph runs under onnxruntime at the sidecar's optimization level; the model runs eagerly
(its training paths: packing, loops), both on the same featurized batches. A float32 graph must
decode every tag as the model does, except where the model's two best paths tie
(``export/ties.py``: their scores within 1e-5, where summing in another order may pick either),
with scores (logits) and probabilities within 1e-4. ``seqtagger-export`` checks it after every
export on batches of other sizes and lengths than the export example's (:func:`parity_batches`);
:class:`ComparingPredictor` checks it on every batch ``Predictor`` forms from a whole corpus
(``python -m tools.export_parity``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqtagger.export.graph import task_heads, with_lengths
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.session import OnnxTagger
from seqtagger.export.ties import TIE, max_marginals, near_ties, tie_gaps

__all__ = ["ComparingPredictor", "Parity", "check_parity", "compare_batch", "parity_batches"]

Batch = tuple[list[list[str]], Any, Any]  # sentences, their (left, right) words, documents


@dataclass(frozen=True)
class Parity:
    """Over ``tokens`` real tokens: the tags the graph decodes otherwise than the model
    (``differing``), those of them at a tie (``tied``), the positions where the model's two
    best tags tie (``near_ties``: where a difference would be allowed), and the largest
    difference of the scores (logits, and ``where`` it is) and, when compared, of the
    probabilities."""

    tokens: int = 0
    differing: int = 0
    tied: int = 0
    near_ties: int = 0
    logits: float = 0.0
    probabilities: float | None = None
    where: str = ""  # where the logits differ most: the batch, the sentence, the word

    @property
    def agreement(self) -> float:
        """The share of tags the graph decodes as the model does."""
        return 1.0 - self.differing / max(self.tokens, 1)

    @property
    def holds(self) -> bool:
        """Every differing tag at a tie, scores and probabilities within 1e-4."""
        gaps = [self.logits, self.probabilities or 0.0]
        return self.differing == self.tied and max(gaps) < 1e-4

    def __add__(self, other: Parity) -> Parity:
        compared = [p for p in (self.probabilities, other.probabilities) if p is not None]
        return Parity(
            tokens=self.tokens + other.tokens,
            differing=self.differing + other.differing,
            tied=self.tied + other.tied,
            near_ties=self.near_ties + other.near_ties,
            logits=max(self.logits, other.logits),
            probabilities=max(compared) if compared else None,
            where=self.where if self.logits >= other.logits else other.where,
        )

    def __str__(self) -> str:
        others = f" ({self.differing} differ, {self.tied} at ties)" if self.differing else ""
        text = f"{self.agreement:.2%} of {self.tokens} tags as PyTorch's{others}, scores within "
        text += f"{self.logits:.1e}"
        if self.probabilities is not None:
            text += f", probabilities within {self.probabilities:.1e}"
        return text


def parity_batches(graph: OnnxTagger, words: Sequence[str], seed: int = 0) -> list[Batch]:
    """Batches of 1, 2, 5 and 11 sentences of ``words``, 1 to 13 words long (one-token
    sentences in each), none of the export example's sizes; with up to 4 words of context on
    each side and 1 to 3 documents a batch when the graph reads them."""
    rng = random.Random(seed)

    def sentence(low: int, high: int) -> list[str]:
        return [rng.choice(words) for _ in range(rng.randint(low, high))]

    batches: list[Batch] = []
    for size in (1, 2, 5, 11):
        sentences = [sentence(1, 1), *(sentence(1, 13) for _ in range(size - 1))]
        contexts = documents = None
        if "window_mask" in graph.features.inputs:
            contexts = [(sentence(0, 4), sentence(0, 4)) for _ in sentences]
        if "document_ids" in graph.features.inputs:
            documents = sorted(rng.randint(1, 3) for _ in sentences)
        batches.append((sentences, contexts, documents))
    return batches


def check_parity(tagger: torch.nn.Module, graph: OnnxTagger, batches: Sequence[Batch]) -> Parity:
    """The graph's outputs against ``tagger``'s on each batch, every task's tags counted."""
    total = Parity(probabilities=0.0)
    for sentences, contexts, documents in batches:
        tallies, _ = compare_batch(tagger, graph, sentences, contexts, documents)
        for tally in tallies.values():
            total += tally
    return total


def compare_batch(
    tagger: torch.nn.Module,
    graph: OnnxTagger,
    sentences: Sequence[Sequence[str]],
    contexts: Any = None,
    documents: Any = None,
    *,
    probabilities: bool = True,
) -> tuple[dict[str, Parity], dict[str, np.ndarray]]:
    """Each task's :class:`Parity` on one batch, and the graph's tag ids ``(N, L)`` by task."""
    kinds = ["tag_ids", "logits", *(["probabilities"] if probabilities else [])]
    heads = task_heads(tagger)
    names = [graph.output_name(task, kind) for task in heads for kind in kinds]
    found = graph.run(sentences, contexts, documents, outputs=names)
    feeds = graph.features(sentences, contexts, documents)
    batch = with_lengths({name: torch.from_numpy(value) for name, value in feeds.items()})
    mask = batch["mask"]
    expected = eager_outputs(tagger, batch, probabilities)
    tallies, tag_ids = {}, {}
    for task, head in heads.items():
        ids, logits = (found[graph.output_name(task, kind)] for kind in kinds[:2])
        want_ids, want_logits, want_probabilities = expected[task]
        marginals = max_marginals(head, torch.from_numpy(want_logits), mask)
        differs = torch.from_numpy(ids != want_ids.numpy()) & mask
        gaps = tie_gaps(marginals, want_ids, torch.from_numpy(ids))
        logits_gap = np.abs(logits - want_logits).max(axis=2, initial=0.0) * mask.numpy()
        tally = Parity(
            tokens=int(mask.sum()),
            differing=int(differs.sum()),
            tied=int((differs & (gaps <= TIE)).sum()),
            near_ties=near_ties(marginals, mask),
            logits=float(logits_gap.max(initial=0.0)),
            where=worst_place(logits_gap, mask),
        )
        if probabilities:
            found_p = found[graph.output_name(task, "probabilities")]
            gap = np.abs(found_p - want_probabilities)[mask.numpy()].max(initial=0.0)
            tally = replace(tally, probabilities=float(gap))
        tallies[task], tag_ids[task] = tally, ids
    return tallies, tag_ids


def worst_place(gaps: np.ndarray, mask: torch.Tensor) -> str:
    """Where ``gaps (N, L)`` is largest, in words: the batch's shape, the sentence, the word."""
    row, word = np.unravel_index(int(gaps.argmax()), gaps.shape)
    length = int(mask[row].sum())
    return (
        f"batch of {gaps.shape[0]} sentences x {gaps.shape[1]} words: sentence {row} "
        f"({length} words), word {word}"
    )


@torch.no_grad()
def eager_outputs(
    tagger: torch.nn.Module, batch: dict[str, torch.Tensor], probabilities: bool = True
) -> dict[str, tuple[torch.Tensor, np.ndarray, np.ndarray | None]]:
    """``(tag ids, logits, probabilities or None)`` per task from the model in eager mode on
    a featurized ``batch`` (its training paths)."""
    mask = batch["mask"]
    training = tagger.training
    tagger.eval()
    try:
        states = tagger.states(batch)
        outputs = {}
        for task, head in task_heads(tagger).items():
            logits = head(states)
            marginals = head.marginals(logits, mask, 1.0).float().numpy() if probabilities else None
            outputs[task] = (head.decode(logits, mask), logits.float().numpy(), marginals)
    finally:
        tagger.train(training)
    return outputs


class ComparingPredictor(OnnxPredictor):
    """An ``OnnxPredictor`` that also runs ``tagger`` (the PyTorch model the graph came from)
    on each batch it tags and adds up their :class:`Parity` by task in ``parity``: the
    ``Predictor``'s batching (length-sorted windows, whole documents for a memory) on the
    graph's inputs. Tags as the graph does."""

    def __init__(self, path: str | Path, tagger: torch.nn.Module, **options: Any) -> None:
        super().__init__(path, **options)
        self.tagger = tagger
        self.parity = {task.name: Parity() for task in self.tasks}

    def predict_batch_layers(
        self, sentences: Sequence[Sequence[str]], contexts: Any = None, documents: Any = None
    ) -> list[dict[str, list[int]]]:
        if not any(sentences):
            return super().predict_batch_layers(sentences, contexts, documents)
        tallies, tag_ids = compare_batch(
            self.tagger, self.model, sentences, contexts, documents, probabilities=False
        )
        for task, tally in tallies.items():
            if task in self.parity:
                self.parity[task] += tally
        rows = {task.name: tag_ids[task.name].tolist() for task in self.tasks}
        return [
            {name: ids[i][: len(tokens)] for name, ids in rows.items()}
            for i, tokens in enumerate(sentences)
        ]

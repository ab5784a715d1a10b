"""Parity of an exported graph with the PyTorch model it came from, on the same inputs.

The graph runs under onnxruntime at the sidecar's optimization level; the model runs eagerly
(its training paths: packing, loops), both on the same featurized batches, at batch sizes and
lengths other than the export example's, one-token sentences included. ``seqtagger-export``
reports it after every export; the tests hold it exact (tags) and within 1e-4 (scores).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqtagger.export.graph import task_heads, with_lengths
from seqtagger.export.session import OnnxTagger

__all__ = ["Parity", "check_parity", "parity_batches"]


@dataclass(frozen=True)
class Parity:
    """Over ``tokens`` real tokens of every task: the share of tags the graph decodes as the
    model does, and the largest difference of their scores (logits) and probabilities."""

    tokens: int
    agreement: float
    logits: float
    probabilities: float

    def __str__(self) -> str:
        return (
            f"{self.agreement:.2%} of {self.tokens} tags as PyTorch's, scores within "
            f"{self.logits:.1e}, probabilities within {self.probabilities:.1e}"
        )


Batch = tuple[list[list[str]], Any, Any]  # sentences, their (left, right) words, documents


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
    """The graph's outputs against ``tagger``'s on each batch."""
    tokens = agreeing = 0
    logits_gap = probabilities_gap = 0.0
    heads = task_heads(tagger)
    for sentences, contexts, documents in batches:
        found = graph.run(sentences, contexts, documents)
        expected = eager_outputs(tagger, graph, sentences, contexts, documents)
        mask = graph.features(sentences, contexts, documents)["mask"]
        for task in heads:
            kinds = ("tag_ids", "logits", "probabilities")
            ids, logits, probabilities = (found[graph.output_name(task, k)] for k in kinds)
            want_ids, want_logits, want_probabilities = expected[task]
            tokens += int(mask.sum())
            agreeing += int((ids == want_ids)[mask].sum())
            logits_gap = max(logits_gap, float(np.abs(logits - want_logits)[mask].max()))
            gap = np.abs(probabilities - want_probabilities)[mask].max()
            probabilities_gap = max(probabilities_gap, float(gap))
    return Parity(tokens, agreeing / max(tokens, 1), logits_gap, probabilities_gap)


@torch.no_grad()
def eager_outputs(
    tagger: torch.nn.Module,
    graph: OnnxTagger,
    sentences: Sequence[Sequence[str]],
    contexts: Any,
    documents: Any,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(tag ids, logits, probabilities)`` per task from the model in eager mode, on the
    inputs the graph reads."""
    feeds = graph.features(sentences, contexts, documents)
    batch = with_lengths({name: torch.from_numpy(value) for name, value in feeds.items()})
    mask = batch["mask"]
    training = tagger.training
    tagger.eval()
    try:
        states = tagger.states(batch)
        outputs = {}
        for task, head in task_heads(tagger).items():
            logits = head(states)
            outputs[task] = (
                head.decode(logits, mask).numpy(),
                logits.float().numpy(),
                head.marginals(logits, mask, 1.0).float().numpy(),
            )
    finally:
        tagger.train(training)
    return outputs

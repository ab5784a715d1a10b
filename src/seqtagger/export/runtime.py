"""``OnnxPredictor``: the ``Predictor`` API on an exported graph, run by onnxruntime.

    predictor = OnnxPredictor("model.onnx")
    predictor.predict([["EU", "rejects", "German", "call"]])   # -> [["B-ORG", "O", ...]]
    predictor("EU rejects German call.")  # -> [Document], as Predictor's text API

Everything but the model's batches is ``Predictor``'s own: the streaming in input order, the
windows sorted by length, document context and whole-document batches for a memory, the tasks
and their schemes, the scheme conversion, the spans, the raw-text API and the output formats of
``seqtagger-predict``, so the outputs are the PyTorch path's. Each batch is featurized in numpy
and run by :class:`~seqtagger.export.session.OnnxTagger`. (``Predictor``'s module imports torch;
the featurizing and the session do not.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from seqtagger.data.info import task_labels, tasks_of
from seqtagger.export.session import OnnxTagger
from seqtagger.inference.predictor import Predictor

__all__ = ["OnnxPredictor"]

Contexts = Sequence[tuple[Sequence[str], Sequence[str]]] | None


class OnnxPredictor(Predictor):
    """Tags sentences with an exported graph (``seqtagger-export``).

    Args:
        path: the ``.onnx`` file (its sidecar ``<path>.json`` beside it).
        batch_size / window / scheme / temperature / tasks: as ``Predictor``'s.
        threads: onnxruntime's intra-op threads (None: one per core).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 64,
        window: int = 4096,
        scheme: str | None = None,
        temperature: float = 1.0,
        tasks: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        graph = OnnxTagger(path, threads)
        super().__init__(
            _GraphModule(graph),  # what Predictor reads of a module, from the sidecar
            device="cpu",
            batch_size=batch_size,
            window=window,
            scheme=scheme,
            temperature=temperature,
            tasks=tasks,
        )
        self.model = graph  # Predictor keeps the module it wraps as ``model``: the graph runs
        self.device = f"onnxruntime ({graph.path.name})"

    @classmethod
    def from_checkpoint(cls, *args: Any, **kwargs: Any) -> Predictor:
        raise TypeError("OnnxPredictor reads an exported graph: OnnxPredictor(path)")

    def predict_batch_layers(
        self, sentences: Sequence[Sequence[str]], contexts: Contexts = None, documents=None
    ) -> list[dict[str, list[int]]]:
        """Each selected task's label ids (train scheme) for one batch, in the given order."""
        if not any(sentences):
            return [{task.name: [] for task in self.tasks} for _ in sentences]
        found = self.model.tag_ids(sentences, contexts, documents)
        return [
            {task.name: found[task.name][i] for task in self.tasks} for i in range(len(sentences))
        ]

    def predict_batch_scored(
        self, sentences: Sequence[Sequence[str]], contexts: Contexts = None, documents=None
    ) -> list[tuple[list[int], list[float]]]:
        """The primary task's ids with each one's probability at ``temperature``."""
        if not any(sentences):
            return [([], []) for _ in sentences]
        names = [self.model.output_name(self.task.name, k) for k in ("tag_ids", "probabilities")]
        found = self.model.run(
            sentences, contexts, documents, outputs=names, temperature=self.temperature
        )
        tag_ids, probabilities = found[names[0]], found[names[1]]  # (N, L), (N, L, C)
        picked = np.take_along_axis(probabilities, tag_ids.clip(min=0)[..., None], axis=2)
        rows = zip(tag_ids.tolist(), picked[..., 0].tolist(), sentences, strict=True)
        return [(ids[: len(tokens)], row[: len(tokens)]) for ids, row, tokens in rows]


class _GraphModule:
    """The parts of a ``TaggerModule`` that ``Predictor`` reads, from an exported graph."""

    def __init__(self, model: OnnxTagger) -> None:
        sidecar = model.sidecar
        self.data_info = {"context": int(sidecar["context"])}
        self.tasks = tasks_of(sidecar)
        self.task_labels = task_labels(sidecar)
        self.featurizer = model.features.featurizer
        self.tagger = SimpleNamespace(memory=True if sidecar["reads_documents"] else None)

    def to(self, device: Any) -> _GraphModule:
        return self

    def eval(self) -> _GraphModule:
        return self

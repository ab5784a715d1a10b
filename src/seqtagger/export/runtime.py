"""``OnnxPredictor``: the ``Predictor`` API on an exported graph, run by onnxruntime, without torch.

    predictor = OnnxPredictor("model.onnx")
    predictor.predict([["EU", "rejects", "German", "call"]])   # -> [["B-ORG", "O", ...]]
    predictor("EU rejects German call.")  # -> [Document], as Predictor's text API

Everything but the model's batches is ``PredictorBase``'s (``inference/base.py``), as for the
PyTorch ``Predictor``: the streaming in input order, the windows sorted by length, document
context and whole-document batches for a memory, the tasks and their schemes, the scheme
conversion, the spans, the raw-text API and the output formats of ``seqtagger-predict``, so the
outputs are the PyTorch path's. Each batch is featurized in numpy and run by
:class:`~seqtagger.export.session.OnnxTagger`; none of it imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqtagger.data.info import task_labels, tasks_of
from seqtagger.export.session import OnnxTagger
from seqtagger.inference.base import PredictorBase

__all__ = ["OnnxPredictor"]

Contexts = Sequence[tuple[Sequence[str], Sequence[str]]] | None


class OnnxPredictor(PredictorBase):
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
        temperature: float | None = None,
        tasks: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        graph = OnnxTagger(path, threads)
        super().__init__(
            _GraphRecord(graph),  # what a predictor reads of its model, from the sidecar
            batch_size=batch_size,
            window=window,
            scheme=scheme,
            temperature=temperature,
            tasks=tasks,
            reads_documents=bool(graph.sidecar["reads_documents"]),
        )
        self.model = graph  # the graph runs
        self.device = f"onnxruntime ({graph.path.name})"

    @classmethod
    def from_checkpoint(cls, *args: Any, **kwargs: Any) -> OnnxPredictor:
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


class _GraphRecord:
    """What a predictor reads of its model (``inference.base.TaggingModel``), from an exported
    graph's sidecar: the data record (context, tasks, the fitted temperatures), the label maps
    and the numpy featurizer."""

    def __init__(self, model: OnnxTagger) -> None:
        sidecar = model.sidecar
        self.data_info = {
            "context": int(sidecar["context"]),
            "tasks": sidecar["tasks"],
            "calibration": sidecar.get("calibration"),
        }
        self.tasks = tasks_of(sidecar)
        self.task_labels = task_labels(sidecar)
        self.featurizer = model.features.featurizer

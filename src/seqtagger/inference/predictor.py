"""``Predictor``: tag token lists with a trained checkpoint in PyTorch.

    predictor = Predictor.from_checkpoint("logs/train/runs/ewt/checkpoints/best.ckpt")
    predictor.predict([["EU", "rejects", "German", "call"]])   # -> [["PROPN", "VERB", ...]]
    predictor.predict_scored([["EU", "rejects"]])   # -> [(["PROPN", "VERB"], [0.98, 0.91])]
    predictor("EU rejects German call.")  # -> [Document]: character offsets (inference/text.py)

Windows, input order, output schemes, documents and the text API are ``PredictorBase``'s
(``inference/base.py``); this backend featurizes a batch as training did (the checkpoint's own
vocabularies: unknown words take the same ``<unk>`` path), collates it and runs the model's own
decoding under ``torch.inference_mode``. ``predict_scored`` also gives each tag's probability
under the model (``inference/scores.py``), from the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from seqtagger.data.collate import batch_to_device, collate_columns
from seqtagger.data.context import encode_in_context
from seqtagger.inference.base import PredictorBase
from seqtagger.models.trained import TrainedTagger

if TYPE_CHECKING:
    from seqtagger.lightning_module import TaggerModule


def default_device() -> torch.device:
    """The first GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Predictor(PredictorBase):
    """Tags sentences (lists of tokens) with a trained tagger in PyTorch.

    Args:
        model: a ``TrainedTagger`` (``TrainedTagger.from_checkpoint``), or a trained
            ``TaggerModule``: both hold the tagger, its data record, tasks and featurizer.
        device: where to run; default: a GPU when available.
        options: ``batch_size``, ``window``, ``scheme``, ``tasks``, ``temperature``
            (:class:`~seqtagger.inference.base.PredictorBase`).
    """

    def __init__(
        self,
        model: TrainedTagger | TaggerModule,
        *,
        device: str | torch.device | None = None,
        **options: Any,
    ) -> None:
        if model.data_info is None:
            raise ValueError("Predictor needs a trained model (one built with data_info)")
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        memory = getattr(model.tagger, "memory", None) is not None
        super().__init__(model, reads_documents=memory, **options)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        vectors: str | None = None,
        named_by: str = "ckpt_path",
        **options: Any,
    ) -> Predictor:
        """Load a checkpoint (``weights_only=True``: loading runs no code) and wrap it;
        ``vectors``: the folder of its vector store, when that moved since training;
        ``named_by``: the option that gave ``path``, for messages (``--ckpt``)."""
        model = TrainedTagger.from_checkpoint(path, vectors=vectors, named_by=named_by)
        return cls(model, **options)

    # ----- one batch -----
    @torch.inference_mode()
    def predict_batch_layers(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> list[dict[str, list[int]]]:
        """Each task's predicted label ids (train scheme) for one batch of sentences, in the
        given order: the training featurizer, collate and the model's own decoding
        (``Tagger.decode``). ``contexts``: the ``(left, right)`` words of each sentence, for a
        model with document context; ``documents``: each sentence's document, for a model with
        a document memory."""
        if not any(sentences):  # nothing to tag; without words char_ids collate to (N, 0)
            return [{task.name: [] for task in self.tasks} for _ in sentences]
        batch = self._collate(sentences, contexts, documents)
        decoded = self.model.tagger.decode(batch)  # task -> (N, L)
        rows = {task.name: decoded[task.name].cpu().tolist() for task in self.tasks}
        return [
            {name: ids[i][: len(tokens)] for name, ids in rows.items()}
            for i, tokens in enumerate(sentences)
        ]

    @torch.inference_mode()
    def predict_batch_scored(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> list[tuple[list[int], list[float]]]:
        """``predict_batch_ids``' ids with each one's probability: the head's marginal of the
        decoded tag at ``temperature`` (``seqtagger.inference.scores``)."""
        if not any(sentences):
            return [([], []) for _ in sentences]
        batch = self._collate(sentences, contexts, documents)
        tagger, name = self.model.tagger, self.task.name
        logits = tagger(batch)  # task -> (N, L, C)
        tag_ids = tagger.decode(batch, logits)[name]  # (N, L), -100 at padding
        probabilities = tagger.probabilities(batch, self.temperature, logits)[name]  # (N, L, C)
        scores = probabilities.gather(2, tag_ids.clamp(min=0).unsqueeze(2)).squeeze(2)
        rows = zip(tag_ids.cpu().tolist(), scores.cpu().tolist(), sentences, strict=True)
        return [(ids[: len(tokens)], row[: len(tokens)]) for ids, row, tokens in rows]

    def _collate(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None,
        documents: Sequence[int] | None,
    ) -> dict[str, torch.Tensor]:
        """One batch on the device, featurized as in training (with context, documents)."""
        if contexts is None:
            columns = self.featurizer.encode(sentences)
        else:
            lefts, rights = zip(*contexts, strict=True)
            columns = encode_in_context(self.featurizer, sentences, lefts, rights)
        if documents is not None:
            columns["document"] = list(documents)
        batch = collate_columns(columns, self.featurizer.pad_values)
        return batch_to_device(batch, self.device)  # lengths_cpu stays on the host

    # ----- public API -----

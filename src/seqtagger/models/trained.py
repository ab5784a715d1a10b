"""``TrainedTagger``: a ``Tagger`` with the data record it was sized from, built without Lightning.

Prediction needs the network, its vocabularies, tasks and label maps, and the featurizer that
turns tokens into its inputs; all of them come from a checkpoint's hyperparameters (the part
configs) and its data record (``data/info.py``). ``TaggerModule`` builds the same object for
training (``TrainedTagger.build``), so a model predicts exactly as it was trained and scored,
and the prediction path (``Predictor``, ``seqtagger-predict``) never imports Lightning, Hydra or
``datasets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqtagger.checkpoint import CHECKPOINT_KEY, load_checkpoint
from seqtagger.data.featurizers import Featurizer, featurizer_from_dict
from seqtagger.data.info import task_labels, tasks_of
from seqtagger.data.tasks import Task
from seqtagger.data.vocab import Vocab
from seqtagger.models.tagger import Tagger, tagger_from_data
from seqtagger.models.vectors import relocate_stores
from seqtagger.utils.targets import to_plain

__all__ = ["TrainedTagger", "read_trained"]

MODULE_PREFIX = "tagger."  # the tagger's weights in a TaggerModule's state dict


@dataclass
class TrainedTagger:
    """The network and what reads its inputs and names its outputs.

    ``hparams``: the part configs and loss options (a ``TaggerModule``'s hyperparameters);
    ``data_info``: the data record (vocabularies, tasks, featurizer, context); ``task_labels``:
    task -> labels, index -> tag in the task's train scheme.
    """

    tagger: Tagger
    hparams: dict[str, Any]
    data_info: dict[str, Any]
    vocabs: dict[str, Vocab]
    tasks: list[Task]
    task_labels: dict[str, list[str]]
    featurizer: Featurizer

    @classmethod
    def build(
        cls,
        hparams: Mapping[str, Any],
        data_info: Mapping[str, Any],
        read_pretrained: bool = True,
    ) -> TrainedTagger:
        """A new (untrained, unless its embedder reads pretrained weights) tagger sized from
        ``data_info``; ``read_pretrained=False`` when a checkpoint will give the weights."""
        data_info = to_plain(dict(data_info))
        vocabs = {name: Vocab.from_dict(v) for name, v in data_info["vocabs"].items()}
        tagger = tagger_from_data(hparams, data_info, read_pretrained)
        # after the tagger: building its embedder imports the module of its featurizer class
        default = {"max_word_length": int(data_info.get("max_word_length", 20))}
        featurizer = featurizer_from_dict(data_info.get("featurizer") or default, vocabs)
        return cls(
            tagger=tagger,
            hparams=dict(hparams),
            data_info=data_info,
            vocabs=vocabs,
            tasks=tasks_of(data_info),
            task_labels=task_labels(data_info),
            featurizer=featurizer,
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        map_location: str | torch.device = "cpu",
        vectors: str | None = None,
        named_by: str = "ckpt_path",
    ) -> TrainedTagger:
        """The trained tagger of a checkpoint file alone (a ``weights_only=True`` load), in
        eval mode. A vector store is found by its checksum; ``vectors`` names its folder when
        it moved. ``named_by``: the option that gave ``path``, for messages (``--ckpt``)."""
        checkpoint = read_trained(path, map_location, vectors, named_by)
        hparams = checkpoint["hyper_parameters"]
        trained = cls.build(hparams, checkpoint[CHECKPOINT_KEY], read_pretrained=False)
        weights = {
            key[len(MODULE_PREFIX) :]: value
            for key, value in checkpoint["state_dict"].items()
            if key.startswith(MODULE_PREFIX)
        }
        trained.tagger.load_state_dict(weights)
        trained.tagger.eval()
        return trained

    def to(self, device: str | torch.device) -> TrainedTagger:
        """Move the network to ``device`` (in place) and return ``self``."""
        self.tagger.to(device)
        return self

    def eval(self) -> TrainedTagger:
        """Put the network in eval mode (in place) and return ``self``."""
        self.tagger.eval()
        return self


def read_trained(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    vectors: str | None = None,
    named_by: str = "ckpt_path",
) -> dict[str, Any]:
    """A checkpoint loaded to rebuild its model (:func:`~seqtagger.checkpoint.load_checkpoint`),
    its vector store found by checksum (``vectors``: the store's folder, when it moved)."""
    checkpoint = load_checkpoint(path, map_location=map_location, named_by=named_by)
    featurizer = checkpoint[CHECKPOINT_KEY].get("featurizer") or {}
    relocate_stores(checkpoint["hyper_parameters"]["embedding"], featurizer, vectors)
    return checkpoint

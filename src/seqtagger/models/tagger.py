"""The tagger: embedder -> encoder -> head, and its assembly from Hydra config dicts.

``build_tagger`` exists because the three parts' sizes depend on each other and on the data
(vocab sizes, label count), which configs cannot know: it instantiates each ``_target_`` mapping as
a ``functools.partial`` (``hydra.utils.instantiate(..., _partial_=True)``) and then supplies the
sizes. Going through a partial keeps large Python objects such as the word list out of OmegaConf
(instantiate would otherwise convert a 100k-word list into a ``ListConfig`` node by node).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig
from torch import Tensor, nn

from seqtagger.errors import ConfigError
from seqtagger.models.heads import Head

__all__ = ["Tagger", "build_tagger", "host_lengths", "sentence_positions", "window_view"]


class Tagger(nn.Module):
    """``forward(batch) -> logits (N, L, C)`` from a ``collate_batch`` dict.

    The embedder reads its featurizer's columns, the encoder the host lengths ``(N,)`` (the
    batch's ``lengths_cpu``) and ``mask (N, L)``. The logits are unnormalised; ``head.loss``
    and ``head.decode`` read them. A batch with document context (``data/context.py``) is
    embedded and encoded over its windows ``(N, T)``, and the head scores the sentences' own
    positions ``(N, L)``. An optional ``memory`` (``models/memory.py``) sits between encoder and
    head: ``memory(states (N, L, H), batch) -> (N, L, H')``.
    """

    def __init__(
        self, embedder: nn.Module, encoder: nn.Module, head: Head, memory: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.embedder = embedder
        self.encoder = encoder
        self.memory = memory
        self.head = head

    @property
    def num_labels(self) -> int:
        return self.head.num_labels

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        window = window_view(batch)
        embedded = self.embedder(window)  # (N, T, D); T = L without context
        encoded = self.encoder(embedded, host_lengths(window), window["mask"])  # (N, T, H)
        states = sentence_positions(encoded, batch)  # (N, L, H)
        if self.memory is not None:
            states = self.memory(states, batch)
        return self.head(states)  # (N, L, C)

    def probabilities(self, batch: Mapping[str, Tensor], temperature: float = 1.0) -> Tensor:
        """Each label's probability at each token ``(N, L, C)`` (``head.marginals``: the
        softmax, or a CRF's exact marginals), 0 at padding; ``temperature`` divides the scores."""
        return self.head.marginals(self(batch), batch["mask"], temperature)


def window_view(batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    """The batch as the embedder and encoder see it: with document context, its window
    lengths and ``window_mask`` in place of the sentences'; else the batch itself."""
    if "window_mask" not in batch:
        return batch
    return {
        **batch,
        "lengths": batch["window_lengths"],
        "lengths_cpu": batch["window_lengths_cpu"],
        "mask": batch["window_mask"],
    }


def sentence_positions(encoded: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """``encoded (N, T, H)`` of the windows -> ``(N, L, H)`` at each sentence's own positions
    (from ``context_offset``); ``encoded`` itself when the batch has no context. Positions past
    a sentence's end repeat a window position: the mask keeps them out of loss and decoding."""
    if "context_offset" not in batch:
        return encoded
    width = batch["mask"].shape[1]
    steps = torch.arange(width, device=encoded.device)
    index = (batch["context_offset"][:, None] + steps).clamp_(max=encoded.shape[1] - 1)
    return encoded.gather(1, index[:, :, None].expand(-1, -1, encoded.shape[2]))


def host_lengths(batch: Mapping[str, Tensor]) -> Tensor:
    """The batch's lengths ``(N,)`` on the host: ``lengths_cpu`` from ``collate_batch``, which
    never left the CPU. A batch built without it pays one copy (a device sync on a GPU)."""
    lengths = batch.get("lengths_cpu")
    return lengths if lengths is not None else batch["lengths"].cpu()


def _partial(config: Mapping, key: str):
    if "_target_" not in config:
        raise ConfigError(
            f"model.{key} config needs a `_target_` (e.g. seqtagger.models.encoders."
            f"BiLSTMEncoder); received keys {sorted(config)}."
        )
    if not isinstance(config, DictConfig):
        config = dict(config)
    return instantiate(config, _partial_=True)


def embedding_config(
    config: Mapping[str, Any], featurizer: Mapping[str, Any], read_weights: bool
) -> dict[str, Any]:
    """The embedding config to build from, without its vectors file when a checkpoint gives the
    weights (``read_weights=False``).

    An embedder class with ``complete_config(config, featurizer, read_weights)`` (a pretrained
    transformer) completes its own config from its featurizer's stored data (the model's
    config), so a checkpoint rebuilds it offline.
    """
    config = dict(config)
    complete = getattr(_target_class(config), "complete_config", None)
    if complete is not None:
        return complete(config, featurizer, read_weights=read_weights)
    if not read_weights and config.get("pretrained"):
        config["pretrained"] = None
    return config


def _target_class(config: Mapping[str, Any]) -> Any:
    """The object a ``_target_`` config names, or None when it names none that imports (the
    tagger's builder then reports the config)."""
    try:
        return get_object(str(config["_target_"]))
    except Exception:  # a missing key or a bad path: build_tagger names the config key
        return None


def build_tagger(
    embedding: Mapping,
    encoder: Mapping,
    head: Mapping,
    *,
    num_words: int,
    num_chars: int,
    num_labels: int,
    words: Sequence[str] | None = None,
    pad_index: int = 0,
    unk_index: int = 1,
    head_options: Mapping[str, Any] | None = None,
    memory: Mapping | None = None,
) -> Tagger:
    """Assemble a :class:`Tagger` from three ``_target_`` mappings (plain dicts or DictConfigs),
    and an optional fourth, ``memory``, between encoder and head.

    The embedder receives ``num_words``, ``num_chars``, ``words``, ``pad_index``, ``unk_index``;
    the encoder ``input_size = embedder.output_size``; the memory ``input_size =
    encoder.output_size`` and ``unk_index``; the head ``input_size`` = the output size before it,
    ``num_labels`` and ``head_options`` (``labels``, ``scheme``,
    ``label_smoothing``, ``probability_check``; see ``seqtagger.models.heads.Head``). Example::

        build_tagger(
            {"_target_": "seqtagger.models.embeddings.TokenEmbedder", "word_dim": 100},
            {"_target_": "seqtagger.models.encoders.BiLSTMEncoder", "hidden_size": 256},
            {"_target_": "seqtagger.models.heads.LinearHead"},
            num_words=len(vocab.words), num_chars=len(vocab.chars), num_labels=len(vocab.labels),
        )
    """
    embedder = _partial(embedding, "embedding")(
        num_words=num_words,
        num_chars=num_chars,
        words=words,
        pad_index=pad_index,
        unk_index=unk_index,
    )
    contextual = _partial(encoder, "encoder")(input_size=embedder.output_size)
    pooled = None
    if memory:
        pooled = _partial(memory, "memory")(input_size=contextual.output_size, unk_index=unk_index)
    scorer = _partial(head, "head")(
        input_size=(contextual if pooled is None else pooled).output_size,
        num_labels=num_labels,
        **(head_options or {}),
    )
    return Tagger(embedder, contextual, scorer, pooled)

"""The tagger: embedder -> encoder -> head, and its assembly from Hydra config dicts.

``build_tagger`` exists because the three parts' sizes depend on each other and on the data
(vocab sizes, label count), which configs cannot know: it instantiates each ``_target_`` mapping as
a ``functools.partial`` (``seqtagger.utils.targets.instantiate``, which follows Hydra's
``instantiate(..., _partial_=True)`` without importing Hydra) and then supplies the sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.batch import host_lengths, sentence_positions, window_view
from seqtagger.data.info import task_labels, tasks_of
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError
from seqtagger.models.heads import Head
from seqtagger.utils.targets import get_object, instantiate

__all__ = ["Tagger", "build_tagger"]


class StepResult(NamedTuple):
    """One batch's summed ``loss``, each task's ``losses`` and (when decoded) each task's
    ``predicted`` tag ids ``(N, L)``."""

    loss: Tensor
    losses: dict[str, Tensor]
    predicted: dict[str, Tensor] | None


class Tagger(nn.Module):
    """``forward(batch) -> {task: logits (N, L, C)}`` from a collated batch (``data/batch.py``).

    One embedder, encoder and optional memory are shared by every task; ``heads`` holds one head
    per task (``nn.ModuleDict`` keyed by the task's name), each owning its loss and decoding.
    The embedder reads its featurizer's columns, the encoder the host lengths ``(N,)`` and
    ``mask (N, L)``. A batch with document context is embedded and encoded over its windows
    ``(N, T)``, and the heads score the sentences' own positions ``(N, L)``. An optional
    ``memory`` (``models/memory.py``) sits between encoder and heads: ``memory(states (N, L, H),
    batch) -> (N, L, H')``. Callers use :meth:`loss`, :meth:`decode` and :meth:`probabilities`,
    never a head's parts.
    """

    def __init__(
        self,
        embedder: nn.Module,
        encoder: nn.Module,
        heads: Mapping[str, Head],
        memory: nn.Module | None = None,
        tasks: Sequence[Task] | None = None,
    ) -> None:
        super().__init__()
        self.embedder = embedder
        self.encoder = encoder
        self.memory = memory
        self.heads = nn.ModuleDict(dict(heads))
        known = {task.name: task for task in tasks or ()}
        self.tasks = [known.get(name) or Task(name, headline=not i) for i, name in enumerate(heads)]

    @property
    def head(self) -> Head:
        """The first task's head: the head of a single-task model."""
        return next(iter(self.heads.values()))

    @property
    def num_labels(self) -> int:
        return self.head.num_labels

    def states(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The shared states ``(N, L, H)`` every head reads."""
        window = window_view(batch)
        embedded = self.embedder(window)  # (N, T, D); T = L without context
        encoded = self.encoder(embedded, host_lengths(window), window["mask"])  # (N, T, H)
        states = sentence_positions(encoded, batch)  # (N, L, H)
        if self.memory is not None:
            states = self.memory(states, batch)
        return states

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        states = self.states(batch)
        return {name: head(states) for name, head in self.heads.items()}  # (N, L, C)

    def losses(
        self, logits: Mapping[str, Tensor], batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Each task's loss against its ``<task>_ids (N, L)``. Gold ids past the label set (tags
        training never showed, kept by ``unknown_labels=score_as_error``) are not trained on:
        they only count as errors in the metrics."""
        losses = {}
        for task in self.tasks:
            head = self.heads[task.name]
            tag_ids = batch[task.ids_key]
            if task.unknown_labels == "score_as_error":
                tag_ids = tag_ids.masked_fill(tag_ids >= head.num_labels, IGNORE_INDEX)
            losses[task.name] = head.loss(logits[task.name], tag_ids, batch["mask"])
        return losses

    def total_loss(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The tasks' losses summed with their ``loss_weight``s."""
        weighted = [task.loss_weight * losses[task.name] for task in self.tasks]
        return weighted[0] if len(weighted) == 1 else torch.stack(weighted).sum()

    def step(self, batch: Mapping[str, Tensor], decode: bool = True) -> StepResult:
        """A training or evaluation step on a batch with every task's ``<task>_ids``: the
        tasks' losses, their weighted sum and, when ``decode``, each task's tag ids."""
        logits = self(batch)  # task -> (N, L, C)
        losses = self.losses(logits, batch)
        predicted = None
        if decode:
            predicted = self.decode(batch, {name: v.detach() for name, v in logits.items()})
        return StepResult(self.total_loss(losses), losses, predicted)

    def ill_formed_gold(self, batch: Mapping[str, Tensor]) -> list[tuple[int, str]]:
        """``(row, why)`` for each sentence of ``batch`` whose gold tags a head forbids (a
        constrained CRF: the loss is then infinite); for explaining a non-finite loss."""
        found = []
        for task in self.tasks:
            forbidden_steps = getattr(self.heads[task.name], "forbidden_steps", None)
            if forbidden_steps is not None and task.ids_key in batch:
                found += forbidden_steps(batch[task.ids_key], batch["mask"])
        return found

    def decode(
        self, batch: Mapping[str, Tensor], logits: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Each task's predicted tag ids ``(N, L)``, ``IGNORE_INDEX`` at padding; ``logits``:
        already computed for this batch."""
        logits = self(batch) if logits is None else logits
        mask = batch["mask"]
        return {name: head.decode(logits[name], mask) for name, head in self.heads.items()}

    def probabilities(
        self,
        batch: Mapping[str, Tensor],
        temperature: float = 1.0,
        logits: Mapping[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Each label's probability at each token ``(N, L, C)`` per task (the softmax, or a
        CRF's exact marginals), 0 at padding; ``temperature`` divides the scores."""
        logits = self(batch) if logits is None else logits
        mask = batch["mask"]
        return {
            name: head.marginals(logits[name], mask, temperature)
            for name, head in self.heads.items()
        }


def _partial(config: Mapping, key: str):
    if "_target_" not in config:
        raise ConfigError(
            f"model.{key} config needs a `_target_` (e.g. seqtagger.models.encoders."
            f"BiLSTMEncoder); received keys {sorted(config)}."
        )
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
    num_labels: int | None = None,
    task_labels: Mapping[str, Sequence[str]] | None = None,
    tasks: Sequence[Task] | None = None,
    words: Sequence[str] | None = None,
    pad_index: int = 0,
    unk_index: int = 1,
    head_options: Mapping[str, Any] | None = None,
    memory: Mapping | None = None,
    heads: Mapping[str, Mapping] | None = None,
) -> Tagger:
    """Assemble a :class:`Tagger` from three ``_target_`` mappings (plain dicts or DictConfigs),
    an optional fourth, ``memory``, between encoder and heads, and one head per task.

    The embedder receives ``num_words``, ``num_chars``, ``words``, ``pad_index``, ``unk_index``;
    the encoder ``input_size = embedder.output_size``; the memory ``input_size =
    encoder.output_size`` and ``unk_index``; each task's head (``heads[task]``, else ``head``)
    ``input_size`` = the output size before it, its number of labels, and ``head_options``
    (``label_smoothing``, ``probability_check``; see ``seqtagger.models.heads.Head``) with the
    task's ``labels`` and train ``scheme``. Without ``tasks``, one task named ``tags`` of
    ``num_labels`` labels (``head_options`` may then give ``labels`` and ``scheme``). Example::

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
    options = dict(head_options or {})
    if tasks is None:
        tasks = [Task(DEFAULT_TASK, train_scheme=options.get("scheme", "plain"), headline=True)]
    heads = {}
    for task in tasks:
        own = (heads or {}).get(task.name)
        config, key = (own, f"heads.{task.name}") if own else (head, "head")
        labels = (task_labels or {}).get(task.name)
        per_task = {**options, "labels": labels, "scheme": task.train_scheme} if labels else options
        heads[task.name] = _partial(config, key)(
            input_size=(contextual if pooled is None else pooled).output_size,
            num_labels=len(labels) if labels else num_labels,
            **per_task,
        )
    return Tagger(embedder, contextual, heads, pooled, tasks)


def tagger_from_data(
    hparams: Mapping[str, Any], data_info: Mapping[str, Any], read_pretrained: bool = True
) -> Tagger:
    """The :class:`Tagger` a ``TaggerModule``'s hyperparameters (its part configs and loss
    options) and the data's record (``data/info.py``: vocabularies, tasks, featurizer) describe.
    ``read_pretrained=False``: the weights come from a checkpoint, so a vectors file is not read
    (and a frozen embedding is frozen here, where reading it would have)."""
    words = Vocab.from_dict(data_info["vocabs"]["words"])
    tagger = build_tagger(
        embedding_config(hparams["embedding"], data_info.get("featurizer") or {}, read_pretrained),
        hparams["encoder"],
        hparams["head"],
        num_words=len(words),
        num_chars=len(data_info["vocabs"]["chars"]["itos"]),
        task_labels=task_labels(data_info),
        tasks=tasks_of(data_info),
        words=list(words.itos),
        pad_index=words.pad_index,
        unk_index=words.unk_index,
        head_options={
            "label_smoothing": hparams.get("label_smoothing", 0.0),
            "probability_check": hparams.get("probability_check", "warn"),
        },
        memory=hparams.get("memory"),
        heads=hparams.get("heads"),
    )
    embedding = hparams["embedding"]
    if not read_pretrained and embedding.get("pretrained") and embedding.get("freeze"):
        tagger.embedder.word_embedding.weight.requires_grad_(False)
    return tagger

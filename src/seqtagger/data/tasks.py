"""Tasks: the tag layers one model learns (UPOS + XPOS + UFeats, NER + POS + chunks).

A :class:`Task` names one layer: where its tags are in the corpus files (``column``), the scheme
the files write (``file_scheme``) and the one the model learns (``train_scheme``), its weight in
the summed loss, what becomes of dev/test tags training never showed (``unknown_labels``) and
whether it is the headline task, whose metric selects checkpoints, stops early and drives the
plateau scheduler. The head that scores it is the model's: ``model.heads.<task>``, else
``model.head``.

``data.tasks`` names the tasks as a list (``[upos, xpos, feats]``: layers the named corpus knows)
or a dict (``{ner: {column: 3, headline: true}, pos: {column: 1}}``). A config without it is one
task named :data:`DEFAULT_TASK` with today's column, schemes and metric names (``val/acc``); with
several, each task's metrics are prefixed by its name (``val/upos/acc``) and ``val/acc`` /
``val/f1`` are the headline task's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from seqtagger.errors import ConfigError

__all__ = [
    "DEFAULT_TASK",
    "UNKNOWN_LABEL_POLICIES",
    "Task",
    "headline_task",
    "metric_name",
    "tasks_from_config",
]

DEFAULT_TASK = "tags"
"""The name of the one task of a config without ``data.tasks``: its rows' column is ``tags``
and its batch column ``tag_ids``, as before tasks existed."""

UNKNOWN_LABEL_POLICIES = ("error", "map_to_o", "score_as_error")
"""Dev/test tags training never showed: refused, read as ``O`` (span tasks), or kept and scored
as errors (UD's UFeats/XPOS metric: the model cannot predict them)."""

TASK_OPTIONS = (
    "column",
    "file_scheme",
    "train_scheme",
    "headline",
    "loss_weight",
    "unknown_labels",
)
# names whose columns would collide with the rows' or the featurizers' own columns
RESERVED = frozenset({"tokens", "document", "where", "length", "index", "token", "char"})
RESERVED_IDS = frozenset({"token_ids", "char_ids", "subword_ids", "vector_ids", "document_ids"})


@dataclass(frozen=True)
class Task:
    """One tag layer (see the module docstring). ``column``: a CoNLL column number, a CoNLL-U
    field (``upos``, ``xpos``, ``feats``) or a record key; ``None``: the reader's own tag
    column (the single default task)."""

    name: str
    column: str | int | None = None
    file_scheme: str = "plain"
    train_scheme: str = "plain"
    headline: bool = False
    loss_weight: float = 1.0
    unknown_labels: str = "error"

    @property
    def tags_key(self) -> str:
        """The rows' column of this task's tag strings (``tags`` for the default task)."""
        return self.name

    @property
    def ids_key(self) -> str:
        """The encoded column and batch key of this task's tag ids ``(N, L)``, padded -100."""
        return "tag_ids" if self.name == DEFAULT_TASK else f"{self.name}_ids"

    @property
    def has_spans(self) -> bool:
        """Whether the layer is scored by span F1 (NER, chunks) besides accuracy."""
        return self.train_scheme != "plain"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the checkpoint's record (with the task's labels beside them)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        known = {name: data[name] for name in ("name", *TASK_OPTIONS) if name in data}
        return cls(**known)


def headline_task(tasks: Sequence[Task]) -> Task:
    """The task whose metric selects checkpoints."""
    return next(task for task in tasks if task.headline)


def metric_name(stage: str, task: Task, metric: str, several: bool) -> str:
    """``val/acc`` for the one task of a model, ``val/upos/acc`` for a task among several."""
    return f"{stage}/{task.name}/{metric}" if several else f"{stage}/{metric}"


def default_unknown_labels(train_scheme: str) -> str:
    """``error`` for span layers (``map_to_o`` is the choice there), ``score_as_error`` for tag
    sets without ``O`` (POS, XPOS, FEATS), as UD's own scorer does."""
    return "error" if train_scheme != "plain" else "score_as_error"


def tasks_from_config(
    config: Sequence[Any] | Mapping[str, Any] | None,
    *,
    layers: Mapping[str, tuple[str | int, str]] | None = None,
    file_scheme: str = "plain",
    train_scheme: str | None = None,
    unknown_labels: str | None = None,
) -> list[Task]:
    """The tasks of ``data.tasks``. ``layers``: the named corpus' layers (name -> (column,
    file scheme)); ``file_scheme``/``train_scheme``/``unknown_labels``: ``data.*``, the
    default task's values and, for ``train_scheme``, the scheme span layers learn."""
    if config is None:
        scheme = train_scheme or file_scheme
        policy = unknown_labels or default_unknown_labels(scheme)
        return [Task(DEFAULT_TASK, None, file_scheme, scheme, True, 1.0, policy)]
    specs = _specs(config)
    if not specs:
        raise ConfigError("data.tasks is empty: name at least one task, or leave it out")
    tasks = [
        _task(name, spec, layers or {}, train_scheme, unknown_labels)
        for name, spec in specs.items()
    ]
    marked = [task.name for task in tasks if task.headline]
    if len(marked) > 1:
        raise ConfigError(f"data.tasks: {marked} are all headline tasks; mark one")
    if not marked:  # the first task listed leads
        tasks[0] = Task(**{**asdict(tasks[0]), "headline": True})
    return tasks


def _specs(config: Sequence[Any] | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``[upos, {ner: {...}}]`` or ``{upos: null, ner: {...}}`` -> name -> options."""
    items: list[tuple[str, Any]] = []
    if isinstance(config, Mapping):
        items = list(config.items())
    elif isinstance(config, Sequence) and not isinstance(config, str):
        for entry in config:
            if isinstance(entry, Mapping):
                items.extend(entry.items())
            else:
                items.append((entry, None))
    else:
        raise ConfigError(f"data.tasks={config!r}: expected a list of task names or a dict")
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in items:
        name = str(name)
        if name in specs:
            raise ConfigError(f"data.tasks: task {name!r} is named twice")
        if spec is not None and not isinstance(spec, Mapping):
            raise ConfigError(f"data.tasks.{name}={spec!r}: expected a dict of task options")
        specs[name] = dict(spec or {})
    return specs


def _task(
    name: str,
    spec: Mapping[str, Any],
    layers: Mapping[str, tuple[str | int, str]],
    train_scheme: str | None,
    unknown_labels: str | None,
) -> Task:
    _check_name(name)
    unknown = sorted(set(spec) - set(TASK_OPTIONS))
    if unknown:
        raise ConfigError(
            f"data.tasks.{name}.{unknown[0]}: not a task option; the options are "
            f"{', '.join(TASK_OPTIONS)}"
        )
    column, scheme = layers.get(name, (name, "plain"))
    column = spec.get("column", column)
    file_scheme = spec.get("file_scheme") or scheme
    span_scheme = train_scheme if file_scheme != "plain" else None
    learnt = spec.get("train_scheme") or span_scheme or file_scheme
    policy = spec.get("unknown_labels") or unknown_labels or default_unknown_labels(learnt)
    _check_policy(f"data.tasks.{name}.unknown_labels", policy, learnt)
    weight = spec.get("loss_weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"data.tasks.{name}.loss_weight={weight}: expected a number >= 0")
    return Task(
        name=name,
        column=column,
        file_scheme=file_scheme,
        train_scheme=learnt,
        headline=bool(spec.get("headline", False)),
        loss_weight=float(weight),
        unknown_labels=policy,
    )


def _check_name(name: str) -> None:
    if not name.isidentifier() or name in RESERVED or f"{name}_ids" in RESERVED_IDS:
        raise ConfigError(
            f"data.tasks: {name!r} cannot name a task (expected a Python-style name other than "
            f"{', '.join(sorted(RESERVED))} and the featurizers' column names)"
        )


def _check_policy(key: str, policy: str, train_scheme: str) -> None:
    if policy not in UNKNOWN_LABEL_POLICIES:
        raise ConfigError(f"{key}={policy!r}: expected one of {', '.join(UNKNOWN_LABEL_POLICIES)}")
    if policy == "score_as_error" and train_scheme != "plain":
        raise ConfigError(
            f"{key}=score_as_error is for tag sets without spans (POS, XPOS, FEATS); a span "
            "layer takes error or map_to_o"
        )

"""The tag layers of a held-out set: which scheme each task's gold is in, and reading them.

A model of one task reads the set as before: the reader's tag column, in the set's ``scheme``.
A model of several tasks reads one column per task (``reader_for_tasks``: the columns it was
trained on); the primary task's gold is in the set's ``scheme``, every other task's in the set's
``schemes.<task>``, else in the scheme of the task's training files. Each task's gold is checked
against its scheme; messages name the set, the task, the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seqtagger.data.schemes import check_split_tags, convertible_schemes
from seqtagger.data.splits import reader_for_tasks
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.errors import ConfigError, CorpusFormatError
from seqtagger.evaluation.sets import HeldOutSet, check_fits


@dataclass(frozen=True)
class Layer:
    """One task as a set is read and scored for it: the model's ``labels`` (train scheme), the
    ``scheme`` of the set's gold for it and the config key that sets that scheme."""

    task: Task
    labels: list[str]
    scheme: str
    scheme_key: str

    @property
    def train_scheme(self) -> str:
        return self.task.train_scheme


def set_layers(
    held_out: HeldOutSet,
    tasks: Sequence[Task],
    labels: Mapping[str, Sequence[str]],
    primary: Task,
) -> list[Layer]:
    """Each task's layer of the set (see the module docstring), each checked to be scorable."""
    names = [task.name for task in tasks]
    unknown = [name for name in held_out.schemes if name not in names]
    if unknown:
        raise ConfigError(
            f"sets.{held_out.name}.schemes.{unknown[0]}: not a task scored here; the tasks are "
            f"{', '.join(names)}"
        )
    layers = []
    for task in tasks:
        key = f"sets.{held_out.name}.schemes.{task.name}"
        if task.name in held_out.schemes:
            scheme = held_out.schemes[task.name]
        elif task is primary:
            scheme, key = held_out.scheme, f"sets.{held_out.name}.scheme"
        else:
            scheme = task.file_scheme
        who = "the model" if task.name == DEFAULT_TASK else f"task {task.name}"
        check_fits(held_out.name, key, scheme, task.train_scheme, who)
        layers.append(Layer(task, list(labels[task.name]), scheme, key))
    return layers


def read_set_layers(
    held_out: HeldOutSet, layers: Sequence[Layer]
) -> tuple[list[list[str]], dict[str, list[list[str]]], list[int]]:
    """Tokens, each task's gold tags (by task) and the document of every sentence of the set;
    a clear error when it has none, or when a task's tags do not fit its scheme (the message
    suggests the schemes the task can be scored in)."""
    tasks = [layer.task for layer in layers]
    reader = reader_for_tasks(held_out.reader, tasks)
    tokens: list[list[str]] = []
    golds: dict[str, list[list[str]]] = {task.name: [] for task in tasks}
    documents: list[int] = []
    where: list[str] = []
    for sentence in reader.iter_sentences(held_out.source, require_tags=True, located=True):
        tokens.append(list(sentence["tokens"]))
        for task in tasks:
            golds[task.name].append(list(sentence[task.tags_key]))
        documents.append(sentence.get("document", 0))
        where.append(sentence["where"])
    if not tokens:
        raise CorpusFormatError(f"sets.{held_out.name}: no sentences in {held_out.source}")
    named = len(tasks) > 1 or tasks[0].name != DEFAULT_TASK
    for layer in layers:
        check_split_tags(
            golds[layer.task.name],
            layer.scheme,
            name=f"sets.{held_out.name}" + (f" (task {layer.task.name})" if named else ""),
            key=layer.scheme_key,
            locate=where.__getitem__,
            schemes=convertible_schemes(layer.train_scheme),
        )
    return tokens, golds, documents

"""Reading a tagged split for the tasks of a config: one column per task, each checked against
its file scheme and converted to its train scheme.

A reader reads one tag column (``tags``) as it is configured; with several tasks, or a task
that names its column, the reader is rebuilt with ``tag_columns`` (task -> column) and writes
one column per task. Each column's tags are checked against the task's file scheme (a
``SchemeError`` naming file, line, split and task) and converted, cached by ``datasets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import datasets

from seqtagger.data.readers import Reader
from seqtagger.data.schemes import check_scheme, check_split_tags, rewrite_tags
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.errors import SchemeError

__all__ = ["check_task_schemes", "read_tagged_split", "reader_for_tasks", "scheme_option"]


def scheme_option(key: str, value: str) -> str:
    """``check_scheme`` with the config key in its message (``data.file_scheme=iob3: ...``)."""
    try:
        return check_scheme(value)
    except SchemeError as error:
        raise SchemeError(f"{key}={value}: {error}") from None


def check_task_schemes(tasks: Sequence[Task]) -> None:
    """Every task's schemes are known schemes (the message names the task's key)."""
    for task in tasks:
        if task.name == DEFAULT_TASK and task.column is None:
            continue  # data.file_scheme / data.train_scheme, checked as such
        scheme_option(f"data.tasks.{task.name}.file_scheme", task.file_scheme)
        scheme_option(f"data.tasks.{task.name}.train_scheme", task.train_scheme)


def reader_for_tasks(reader: Reader, tasks: Sequence[Task]) -> Reader:
    """``reader`` itself for the one default task; else the same reader writing one column per
    task (``tag_columns``)."""
    if len(tasks) == 1 and tasks[0].name == DEFAULT_TASK and tasks[0].column is None:
        return reader
    columns = {task.name: task.column for task in tasks}
    return type(reader)(**{**reader.options, "tag_columns": columns})


def tag_lists(dataset: datasets.Dataset, column: str) -> Iterator[list[str]]:
    """The tags of one column of every row, read in batches (a split need not fit in memory)."""
    for batch in dataset.select_columns([column]).iter(batch_size=1000):
        yield from batch[column]


def convert_columns(batch: dict[str, list], schemes: dict[str, tuple[str, str]]) -> dict[str, list]:
    """``Dataset.map`` function: every tag sequence of each column, read in its source scheme,
    written well formed in its target scheme (``rewrite_tags``)."""
    return {
        column: [rewrite_tags(tags, source, target) for tags in batch[column]]
        for column, (source, target) in schemes.items()
    }


def read_tagged_split(
    reader: Reader,
    split: str,
    path: Path | str,
    tasks: Sequence[Task],
    cache_dir: str | None,
    locate: Callable[[int], str] | None = None,
) -> datasets.Dataset:
    """Read one split with ``reader`` (already :func:`reader_for_tasks`), check each task's tags
    against its file scheme and convert them to its train scheme (cached)."""
    dataset = reader.read(path, cache_dir=cache_dir)
    for task in tasks:
        several = not (len(tasks) == 1 and task.name == DEFAULT_TASK)
        check_split_tags(
            tag_lists(dataset, task.tags_key),
            task.file_scheme,
            name=f"data.files.{split}" + (f" (task {task.name})" if several else ""),
            key=f"data.tasks.{task.name}.file_scheme" if several else "data.file_scheme",
            locate=locate or (lambda index: f"{path}: sentence {index}"),
        )
    conversions = {
        task.tags_key: (task.file_scheme, task.train_scheme)
        for task in tasks
        if task.train_scheme != "plain"
    }
    if conversions:
        dataset = dataset.map(
            convert_columns,
            batched=True,
            fn_kwargs={"schemes": conversions},
            desc=f"{split}: {', '.join(f'{a} -> {b}' for a, b in conversions.values())}",
        )
    return dataset

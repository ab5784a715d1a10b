"""Turn ``tokens``/``tags`` rows into id columns with ``datasets.Dataset.map(batched=True)``.

We use ``datasets`` for the caching, not a hand-written cache: ``map`` fingerprints the input
dataset, the function and its ``fn_kwargs``, so a second run with the same corpus and vocabularies
reuses the Arrow file instead of encoding again. That only works when the fingerprint is
deterministic across processes, hence module-level functions taking plain arguments (no lambdas,
no closures) and :class:`~seqtagger.data.vocab.Vocab` pickling to its JSON data. Caching needs a
file-backed input dataset (in-memory datasets are re-encoded every time).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from seqtagger.constants import OUTSIDE
from seqtagger.data.context import LEFT, RIGHT, add_context, check_context, encode_in_context
from seqtagger.data.featurizers import Featurizer, WordCharFeaturizer
from seqtagger.data.schemes import convert_tags, get_spans, label_types, rewrite_tags, split_tag
from seqtagger.data.tasks import DEFAULT_TASK, UNKNOWN_LABEL_POLICIES, Task
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError, CorpusFormatError, UnknownLabelError

log = logging.getLogger(__name__)


def _column(dataset: datasets.Dataset, name: str) -> pa.ChunkedArray:
    """One column as Arrow (honours select/shuffle indices), for vectorised counting."""
    return dataset.with_format("arrow")[name]


def find_unknown_labels(
    dataset: datasets.Dataset, labels: Vocab, column: str = "tags"
) -> Counter[str]:
    """Count the tags of ``dataset[column]`` that are not in ``labels`` (empty when none)."""
    if column not in dataset.column_names or len(dataset) == 0:
        return Counter()
    counts = pc.value_counts(pc.list_flatten(_column(dataset, column)))
    return Counter(
        {
            c["values"]: c["counts"]
            for c in counts.to_pylist()
            if c["values"] is not None and c["values"] not in labels
        }
    )


def unknown_in_file_scheme(
    dataset: datasets.Dataset,
    labels: Vocab,
    file_scheme: str,
    train_scheme: str,
    column: str = "tags",
) -> Counter[str]:
    """The unknown tags as the corpus file writes them: ``dataset`` holds tags converted to
    ``train_scheme``; the sentences that have unknown tags are converted back to
    ``file_scheme`` and their tags of entity types the labels lack are counted."""
    known_types = set(label_types(labels.itos))
    counts: Counter[str] = Counter()
    for tags in _column(dataset, column).to_pylist():
        if all(tag in labels.stoi for tag in tags):
            continue
        for tag in convert_tags(tags, train_scheme, file_scheme):
            if tag != OUTSIDE and split_tag(tag)[1] not in known_types:
                counts[tag] += 1
    return counts


def _check_labels(dataset: datasets.Dataset, labels: Vocab, task: Task, split: str) -> str | None:
    """Apply the task's unknown-label policy: None when every tag is known, else what encoding
    does with the unknown ones (``map_to_o``, ``score_as_error``)."""
    column = task.tags_key
    unknown = find_unknown_labels(dataset, labels, column)
    if not unknown:
        return None
    if task.file_scheme != task.train_scheme:
        unknown = unknown_in_file_scheme(
            dataset, labels, task.file_scheme, task.train_scheme, column
        )
    listing = ", ".join(f"{tag!r} x{n}" for tag, n in unknown.most_common())
    whose = "" if task.name == DEFAULT_TASK else f" of task {task.name!r}"
    option = (
        "data.unknown_labels"
        if task.name == DEFAULT_TASK
        else f"data.tasks.{task.name}.unknown_labels"
    )
    if task.unknown_labels == "error":
        remedy = (
            f"{option}=map_to_o to map them to {OUTSIDE!r}"
            if task.has_spans or OUTSIDE in labels
            else f"{option}=score_as_error to score them as errors"
        )
        raise UnknownLabelError(
            f"split {split!r} has {sum(unknown.values())} tag(s){whose} not seen in training: "
            f"{listing}. Fix the data, or set {remedy}."
        )
    if task.unknown_labels == "score_as_error":
        log.warning(
            "split %r: %d gold token(s)%s carry tags training never showed, scored as errors "
            "(unknown_labels=score_as_error): %s",
            split,
            sum(unknown.values()),
            whose,
            listing,
        )
        return "score_as_error"
    if OUTSIDE not in labels:
        raise UnknownLabelError(
            f"split {split!r} has tag(s){whose} not seen in training ({listing}) and "
            f"unknown_labels=map_to_o needs an {OUTSIDE!r} label, which the training split "
            f"does not have (a tag set without {OUTSIDE!r}, e.g. POS?): set {option}"
            "=score_as_error, or fix the data."
        )
    log.warning(
        "split %r: mapped %d tag(s)%s not seen in training to %r (unknown_labels=map_to_o): %s",
        split,
        sum(unknown.values()),
        whose,
        OUTSIDE,
        listing,
    )
    return "map_to_o"


def _encode_batch(
    batch: dict[str, list[Any]],
    *,
    featurizer: Featurizer,
    columns: Sequence[tuple[str, str, Vocab, str | None]],
) -> dict[str, list[Any]]:
    """Encode a batch of rows (module-level so the ``map`` fingerprint is stable); rows with
    document context are encoded as their windows. ``columns``: per task ``(tags column, ids
    column, labels, what becomes of unknown tags)``: ``map_to_o`` gives them ``O``'s id,
    ``score_as_error`` the id past the labels (never predicted, never trained on)."""
    if LEFT in batch:
        out = encode_in_context(featurizer, batch["tokens"], batch[LEFT], batch[RIGHT])
    else:
        out = featurizer.encode(batch["tokens"])
    for tags_key, ids_key, labels, unknown in columns:
        stoi = labels.stoi
        if unknown is None:
            out[ids_key] = [[stoi[t] for t in tags] for tags in batch[tags_key]]
        else:
            fill = stoi[OUTSIDE] if unknown == "map_to_o" else len(labels)
            out[ids_key] = [[stoi.get(t, fill) for t in tags] for tags in batch[tags_key]]
    return out


def piece_starts(
    length: int, max_length: int, inside: set[int] | frozenset[int] = frozenset()
) -> list[int]:
    """Where the pieces of a sentence of ``length`` tokens start, each at most ``max_length``
    long: at the last chunk boundary in reach (``inside``: the positions a cut before would
    split a chunk at), so that no chunk is cut unless it is longer than ``max_length`` (a piece
    ending in ``B-X`` or starting with ``I-X`` is a gold path that the constrained CRF scores
    minus infinity)."""
    starts = [0]
    while starts[-1] + max_length < length:
        start, end = starts[-1], starts[-1] + max_length
        starts.append(next((cut for cut in range(end, start, -1) if cut not in inside), end))
    return starts


def chunk_insides(layers: Sequence[tuple[Sequence[str], str]]) -> set[int]:
    """The positions inside a chunk (after its first token) of any span layer ``(tags,
    scheme)``."""
    return {
        i
        for tags, scheme in layers
        if scheme != "plain"
        for span in get_spans(tags, scheme)
        for i in range(span.start + 1, span.end)
    }


def _split_batch(
    batch: dict[str, list[Any]], *, max_length: int, schemes: Mapping[str, str]
) -> dict[str, list[Any]]:
    """Cut sentences into consecutive pieces of <= max_length tokens (``piece_starts``); other
    columns are repeated. ``schemes``: each tag column's scheme; each piece's tags are rewritten
    well formed in it: a chunk longer than ``max_length`` becomes one chunk per piece."""
    out: dict[str, list[Any]] = {key: [] for key in batch}
    tag_keys = [key for key in schemes if key in batch]
    for i, tokens in enumerate(batch["tokens"]):
        inside = chunk_insides([(batch[key][i], schemes[key]) for key in tag_keys])
        starts = piece_starts(len(tokens), max_length, inside)
        for start, stop in zip(starts, [*starts[1:], len(tokens)], strict=True):
            for key, values in batch.items():
                value = values[i]
                if key == "tokens" or key in schemes:
                    value = value[start:stop]
                if key in schemes and schemes[key] != "plain":
                    value = rewrite_tags(value, schemes[key], schemes[key])
                out[key].append(value)
    return out


def encode_dataset(
    dataset: datasets.Dataset,
    vocabs: dict[str, Vocab],
    *,
    split: str,
    unknown_labels: str = "error",
    max_length: int | None = None,
    max_word_length: int = 20,
    featurizer: Featurizer | None = None,
    num_proc: int | None = None,
    schemes: tuple[str, str] | None = None,
    context: int = 0,
    tasks: Sequence[Task] | None = None,
    task_labels: Mapping[str, Vocab] | None = None,
) -> datasets.Dataset:
    """Add the featurizer's id columns, each task's ``<task>_ids`` (when tagged) and ``length``.

    Args:
        dataset: rows with ``tokens: list[str]`` and optionally ``tags: list[str]``.
        vocabs: ``{"words", "chars"}`` (and ``"labels"`` without ``tasks``) from
            :func:`~seqtagger.data.vocab.build_vocabs`.
        split: split name, used in messages.
        unknown_labels: without ``tasks``: the one task's policy (``data/tasks.py``): ``error``
            (raise :class:`UnknownLabelError`), ``map_to_o`` or ``score_as_error``. Only the
            ids change; the tag columns keep the gold strings.
        max_length: training only: longer sentences are split into consecutive pieces of at
            most ``max_length`` tokens (never truncated), between chunks where one ends in
            reach (``piece_starts``). ``None`` keeps sentences whole.
        max_word_length: characters kept per word by the default featurizer.
        featurizer: words -> the embedder's id columns; default: word and character ids from
            ``vocabs`` (:class:`~seqtagger.data.featurizers.WordCharFeaturizer`).
        num_proc: worker processes for ``map``.
        schemes: ``(file scheme, train scheme)`` when the tags were converted from the corpus
            file's scheme: unknown tags are then reported as the file writes them.
        context: words of document context on each side of a sentence (``data/context.py``):
            the id columns then cover each window, with ``window_length`` and
            ``context_offset``; 0: none.
        tasks / task_labels: the tasks (``data/tasks.py``) and their label namespaces; None:
            one task reading ``tags`` with ``vocabs["labels"]``, ``schemes`` and
            ``unknown_labels``.
    """
    if unknown_labels not in UNKNOWN_LABEL_POLICIES:
        raise ConfigError(
            f"data.unknown_labels must be one of {UNKNOWN_LABEL_POLICIES}, got {unknown_labels!r}"
        )
    if tasks is None:
        file_scheme, train_scheme = schemes or ("plain", "plain")
        tasks = [Task(DEFAULT_TASK, None, file_scheme, train_scheme, True, 1.0, unknown_labels)]
        task_labels = {DEFAULT_TASK: vocabs["labels"]} if "labels" in vocabs else {}
    if max_length is not None and max_length < 1:
        raise ConfigError(f"data.max_length must be >= 1 or null, got {max_length}")
    if featurizer is None:
        featurizer = WordCharFeaturizer.from_vocabs(vocabs, max_word_length)
    if "tokens" not in dataset.column_names:
        raise CorpusFormatError(
            f"split {split!r}: dataset has no 'tokens' column ({dataset.column_names})"
        )

    tagged = [task for task in tasks if task.tags_key in dataset.column_names]
    columns = [(task.tags_key, task.ids_key, task_labels[task.name], None) for task in tagged]
    columns = [
        (*column[:3], _check_labels(dataset, column[2], task, split))
        for column, task in zip(columns, tagged, strict=True)
    ]

    if max_length is not None and len(dataset) > 0:
        n_long = pc.sum(pc.greater(pc.list_value_length(_column(dataset, "tokens")), max_length))
        n_long = n_long.as_py() or 0
        if n_long:
            dataset = dataset.map(
                _split_batch,
                batched=True,
                fn_kwargs={
                    "max_length": max_length,
                    "schemes": {task.tags_key: task.train_scheme for task in tagged},
                },
                remove_columns=dataset.column_names,
                num_proc=num_proc,
                desc=f"Splitting {split} sentences > {max_length} tokens",
            )
            log.info(
                "split %r: %d sentence(s) longer than data.max_length=%d split into pieces",
                split,
                n_long,
                max_length,
            )

    if check_context(context) and len(dataset) > 0:
        dataset = add_context(dataset, context, split)
    return dataset.map(
        _encode_batch,
        batched=True,
        fn_kwargs={"featurizer": featurizer, "columns": columns},
        num_proc=num_proc,
        desc=f"Encoding {split}",
    )

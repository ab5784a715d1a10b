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
from collections.abc import Sequence
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from seqtagger.constants import OUTSIDE
from seqtagger.data.context import LEFT, RIGHT, add_context, check_context, encode_in_context
from seqtagger.data.featurizers import Featurizer, WordCharFeaturizer
from seqtagger.data.schemes import convert_tags, get_spans, label_types, rewrite_tags, split_tag
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError, CorpusFormatError, UnknownLabelError

log = logging.getLogger(__name__)

UNKNOWN_LABEL_POLICIES = ("error", "map_to_o")


def _column(dataset: datasets.Dataset, name: str) -> pa.ChunkedArray:
    """One column as Arrow (honours select/shuffle indices), for vectorised counting."""
    return dataset.with_format("arrow")[name]


def find_unknown_labels(dataset: datasets.Dataset, labels: Vocab) -> Counter[str]:
    """Count the tags of ``dataset`` that are not in ``labels`` (empty Counter when none)."""
    if "tags" not in dataset.column_names or len(dataset) == 0:
        return Counter()
    counts = pc.value_counts(pc.list_flatten(_column(dataset, "tags")))
    return Counter(
        {
            c["values"]: c["counts"]
            for c in counts.to_pylist()
            if c["values"] is not None and c["values"] not in labels
        }
    )


def unknown_in_file_scheme(
    dataset: datasets.Dataset, labels: Vocab, file_scheme: str, train_scheme: str
) -> Counter[str]:
    """The unknown tags as the corpus file writes them: ``dataset`` holds tags converted to
    ``train_scheme``; the sentences that have unknown tags are converted back to
    ``file_scheme`` and their tags of entity types the labels lack are counted."""
    known_types = set(label_types(labels.itos))
    counts: Counter[str] = Counter()
    for tags in _column(dataset, "tags").to_pylist():
        if all(tag in labels.stoi for tag in tags):
            continue
        for tag in convert_tags(tags, train_scheme, file_scheme):
            if tag != OUTSIDE and split_tag(tag)[1] not in known_types:
                counts[tag] += 1
    return counts


def _check_labels(
    dataset: datasets.Dataset,
    labels: Vocab,
    *,
    split: str,
    unknown_labels: str,
    schemes: tuple[str, str] | None = None,
) -> bool:
    """Apply the unknown-label policy; return True when unknown tags must be mapped to "O"."""
    unknown = find_unknown_labels(dataset, labels)
    if not unknown:
        return False
    if schemes is not None and schemes[0] != schemes[1]:
        unknown = unknown_in_file_scheme(dataset, labels, *schemes)
    listing = ", ".join(f"{tag!r} x{n}" for tag, n in unknown.most_common())
    if unknown_labels == "error":
        raise UnknownLabelError(
            f"split {split!r} has {sum(unknown.values())} tag(s) not seen in training: {listing}. "
            f"Fix the data, or set data.unknown_labels=map_to_o to map them to {OUTSIDE!r}."
        )
    if OUTSIDE not in labels:
        raise UnknownLabelError(
            f"split {split!r} has tag(s) not seen in training ({listing}) and "
            f"data.unknown_labels=map_to_o needs an {OUTSIDE!r} label, which the training split "
            f"does not have (a tag set without {OUTSIDE!r}, e.g. POS?). Fix the data."
        )
    log.warning(
        "split %r: mapped %d tag(s) not seen in training to %r (data.unknown_labels=map_to_o): %s",
        split,
        sum(unknown.values()),
        OUTSIDE,
        listing,
    )
    return True


def _encode_batch(
    batch: dict[str, list[Any]],
    *,
    featurizer: Featurizer,
    labels: Vocab | None,
    map_to_o: bool,
) -> dict[str, list[Any]]:
    """Encode a batch of rows (module-level so the ``map`` fingerprint is stable); rows with
    document context are encoded as their windows."""
    if LEFT in batch:
        out = encode_in_context(featurizer, batch["tokens"], batch[LEFT], batch[RIGHT])
    else:
        out = featurizer.encode(batch["tokens"])
    if labels is not None:
        stoi = labels.stoi
        if map_to_o:
            o = stoi[OUTSIDE]
            out["tag_ids"] = [[stoi.get(t, o) for t in tags] for tags in batch["tags"]]
        else:
            out["tag_ids"] = [[stoi[t] for t in tags] for tags in batch["tags"]]
    return out


def piece_starts(
    tags: Sequence[str] | None, length: int, max_length: int, scheme: str = "plain"
) -> list[int]:
    """Where the pieces of a sentence of ``length`` tokens start, each at most ``max_length``
    long: at the last chunk boundary in reach, so that no chunk is cut unless it is longer than
    ``max_length`` (a piece ending in ``B-X`` or starting with ``I-X`` is a gold path that the
    constrained CRF scores minus infinity)."""
    inside: set[int] = set()  # positions a cut before would split a chunk at
    if tags is not None and scheme != "plain":
        inside = {i for span in get_spans(tags, scheme) for i in range(span.start + 1, span.end)}
    starts = [0]
    while starts[-1] + max_length < length:
        start, end = starts[-1], starts[-1] + max_length
        starts.append(next((cut for cut in range(end, start, -1) if cut not in inside), end))
    return starts


def _split_batch(
    batch: dict[str, list[Any]], *, max_length: int, scheme: str = "plain"
) -> dict[str, list[Any]]:
    """Cut sentences into consecutive pieces of <= max_length tokens (``piece_starts``); other
    columns are repeated. Each piece's tags are rewritten well formed in ``scheme``: a chunk
    longer than ``max_length`` becomes one chunk per piece."""
    out: dict[str, list[Any]] = {key: [] for key in batch}
    for i, tokens in enumerate(batch["tokens"]):
        tags = batch["tags"][i] if "tags" in batch else None
        starts = piece_starts(tags, len(tokens), max_length, scheme)
        for start, stop in zip(starts, [*starts[1:], len(tokens)], strict=True):
            for key, values in batch.items():
                value = values[i]
                if key in ("tokens", "tags"):
                    value = value[start:stop]
                if key == "tags" and scheme != "plain":
                    value = rewrite_tags(value, scheme, scheme)
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
) -> datasets.Dataset:
    """Add the featurizer's id columns, ``tag_ids`` (when tagged) and ``length``.

    Args:
        dataset: rows with ``tokens: list[str]`` and optionally ``tags: list[str]``.
        vocabs: ``{"words", "chars", "labels"}`` from :func:`~seqtagger.data.vocab.build_vocabs`.
        split: split name, used in messages.
        unknown_labels: ``"error"`` (raise :class:`UnknownLabelError`) or ``"map_to_o"``.
            With ``map_to_o`` only ``tag_ids`` change; the ``tags`` column keeps the gold strings.
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
    """
    if unknown_labels not in UNKNOWN_LABEL_POLICIES:
        raise ConfigError(
            f"data.unknown_labels must be one of {UNKNOWN_LABEL_POLICIES}, got {unknown_labels!r}"
        )
    if max_length is not None and max_length < 1:
        raise ConfigError(f"data.max_length must be >= 1 or null, got {max_length}")
    if featurizer is None:
        featurizer = WordCharFeaturizer.from_vocabs(vocabs, max_word_length)
    if "tokens" not in dataset.column_names:
        raise CorpusFormatError(
            f"split {split!r}: dataset has no 'tokens' column ({dataset.column_names})"
        )

    has_tags = "tags" in dataset.column_names
    labels = vocabs["labels"] if has_tags else None
    map_to_o = has_tags and _check_labels(
        dataset, vocabs["labels"], split=split, unknown_labels=unknown_labels, schemes=schemes
    )

    if max_length is not None and len(dataset) > 0:
        n_long = pc.sum(pc.greater(pc.list_value_length(_column(dataset, "tokens")), max_length))
        n_long = n_long.as_py() or 0
        if n_long:
            dataset = dataset.map(
                _split_batch,
                batched=True,
                fn_kwargs={"max_length": max_length, "scheme": schemes[1] if schemes else "plain"},
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
        fn_kwargs={"featurizer": featurizer, "labels": labels, "map_to_o": map_to_o},
        num_proc=num_proc,
        desc=f"Encoding {split}",
    )

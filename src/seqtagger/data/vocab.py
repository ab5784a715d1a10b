"""Vocabularies for words, characters and labels, saved as plain JSON.

Written by hand (instead of torchtext's ``Vocab``, now unmaintained, or a tokenizer library) because
we need three small things those don't give together: deterministic order (frequency desc, ties
alphabetical) so that two runs on the same data build identical ids, the token normalisation
(lowercase, digits -> "0") stored *with* the vocabulary so prediction applies exactly what training
applied, and a JSON file format (never pickle) that is safe to load from an untrusted checkpoint.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtagger.data.schemes import label_types, scheme_labels
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.errors import ConfigError, CorpusFormatError, VocabularyError

if TYPE_CHECKING:
    import datasets

PAD, UNK = "<pad>", "<unk>"
FORMAT_VERSION = 1
_DIGIT = re.compile(r"\d")
_SORTS = ("frequency", "alpha")
MIN_COVERAGE = 0.5  # warn when the word vocabulary covers less of the training tokens
ROWS_PER_READ = 10_000  # rows of a split turned into Python lists at a time

log = logging.getLogger(__name__)


class Vocab:
    """Bijective map between strings and ids; specials first (pad = 0, unk = 1 when present).

    ``itos`` may or may not already contain the specials: they are moved to the front either way,
    so ``Vocab(v.itos, ...) == v``. Lookups go through :meth:`normalize`, so the stored strings are
    normalised forms.
    """

    def __init__(
        self,
        itos: Sequence[str],
        *,
        pad: str | None = PAD,
        unk: str | None = UNK,
        lowercase: bool = False,
        normalize_digits: bool = False,
    ) -> None:
        specials = [s for s in (pad, unk) if s is not None]
        if pad is not None and pad == unk:
            raise ValueError(f"Vocab: pad and unk must differ, both are {pad!r}")
        self.pad, self.unk = pad, unk
        self.lowercase, self.normalize_digits = lowercase, normalize_digits
        self.itos: list[str] = specials + [t for t in itos if t not in specials]
        self.stoi: dict[str, int] = {}
        for i, token in enumerate(self.itos):
            if token in self.stoi:
                raise ValueError(
                    f"Vocab: duplicate entry {token!r} at positions {self.stoi[token]} and {i}"
                )
            self.stoi[token] = i
        self.pad_index: int | None = self.stoi[pad] if pad is not None else None
        self.unk_index: int | None = self.stoi[unk] if unk is not None else None

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], **options: Any) -> Vocab:
        """Count (normalised) tokens of ``sequences``; ``options`` as in :meth:`from_counts`."""
        return cls.from_counts(Counter(chain.from_iterable(sequences)), **options)

    @classmethod
    def from_counts(
        cls,
        counts: Counter[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        pad: str | None = PAD,
        unk: str | None = UNK,
        lowercase: bool = False,
        normalize_digits: bool = False,
        sort: str = "frequency",
    ) -> Vocab:
        """A vocabulary from raw token counts (normalised here, once per distinct token): tokens
        seen ``min_freq`` times, at most ``max_size`` of them.

        ``sort="frequency"``: most frequent first, ties alphabetical (deterministic ids).
        ``sort="alpha"``: alphabetical (labels: ids independent of the corpus' tag frequencies).
        ``max_size`` counts regular entries only, not the specials.
        """
        if sort not in _SORTS:
            raise ConfigError(f"Vocab.build: sort must be one of {_SORTS}, got {sort!r}")
        if min_freq < 1:
            raise ConfigError(f"Vocab.build: min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise ConfigError(f"Vocab.build: max_size must be >= 0 or None, got {max_size}")
        probe = cls([], pad=pad, unk=unk, lowercase=lowercase, normalize_digits=normalize_digits)
        if lowercase or normalize_digits:
            normalized: Counter[str] = Counter()
            for token, count in counts.items():
                normalized[probe.normalize(token)] += count
            counts = normalized
        kept = [(t, c) for t, c in counts.items() if c >= min_freq and t not in probe.stoi]
        if sort == "frequency":
            kept.sort(key=lambda tc: (-tc[1], tc[0]))
        else:
            kept.sort(key=lambda tc: tc[0])
        if max_size is not None:
            kept = kept[:max_size]
        return cls(
            [t for t, _ in kept],
            pad=pad,
            unk=unk,
            lowercase=lowercase,
            normalize_digits=normalize_digits,
        )

    @classmethod
    def build_chars(cls, sequences: Iterable[Iterable[str]], **kw: Any) -> Vocab:
        """Character vocabulary from the raw (not normalised) words; ``kw`` as in :meth:`build`."""
        return cls.chars_from_word_counts(Counter(chain.from_iterable(sequences)), **kw)

    @classmethod
    def chars_from_word_counts(cls, word_counts: Counter[str], **kw: Any) -> Vocab:
        """Character vocabulary from raw word counts (each distinct word is split once)."""
        char_counts: Counter[str] = Counter()
        for word, count in word_counts.items():
            for char, times in Counter(word).items():
                char_counts[char] += count * times
        return cls.from_counts(char_counts, **kw)

    # -- lookup -----------------------------------------------------------------------------------
    def normalize(self, token: str) -> str:
        """The form stored in the vocabulary: optionally lowercased, digits mapped to "0"."""
        if self.lowercase:
            token = token.lower()
        if self.normalize_digits:
            token = _DIGIT.sub("0", token)
        return token

    def index(self, token: str) -> int:
        """Id of ``token`` (after normalisation); unk id when unknown, KeyError without unk."""
        i = self.stoi.get(self.normalize(token), self.unk_index)
        if i is None:
            raise KeyError(f"Vocab: {token!r} is not in the vocabulary and it has no unk entry")
        return i

    def indices(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens`` (hot path of encoding: avoids a method call per token)."""
        stoi, unk = self.stoi, self.unk_index
        if not (self.lowercase or self.normalize_digits) and unk is not None:
            return [stoi.get(t, unk) for t in tokens]
        return [self.index(t) for t in tokens]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.normalize(token) in self.stoi

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: no hashing

    def __repr__(self) -> str:
        return (
            f"Vocab(size={len(self)}, pad={self.pad!r}, unk={self.unk!r}, "
            f"lowercase={self.lowercase}, normalize_digits={self.normalize_digits})"
        )

    # -- serialisation ----------------------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # Canonical pickled form = the JSON data: datasets' fingerprint hashes fn_kwargs by
        # pickling them, so equal vocabularies must pickle to equal bytes in every process.
        return (Vocab.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (lists, strings, bools)."""
        return {
            "version": FORMAT_VERSION,
            "itos": list(self.itos),
            "pad": self.pad,
            "unk": self.unk,
            "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "vocab data") -> Vocab:
        """Inverse of :meth:`to_dict`; ``source`` names the file in error messages."""
        if not isinstance(data, dict):
            raise VocabularyError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise VocabularyError(f"{source}: unsupported vocab format version {version!r}")
        missing = [k for k in ("itos", "pad", "unk") if k not in data]
        if missing:
            raise VocabularyError(f"{source}: missing key(s) {missing}")
        itos = data["itos"]
        if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
            raise VocabularyError(f"{source}: 'itos' must be a list of strings")
        return cls(
            itos,
            pad=data["pad"],
            unk=data["unk"],
            lowercase=bool(data.get("lowercase", False)),
            normalize_digits=bool(data.get("normalize_digits", False)),
        )

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as UTF-8 JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a file written by :meth:`save`; errors name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise VocabularyError(f"{path}:{e.lineno}: invalid JSON in vocab file: {e.msg}") from e
        return cls.from_dict(data, source=str(path))


def build_vocabs(
    train: datasets.Dataset,
    *,
    scheme: str = "plain",
    min_freq: int = 1,
    max_size: int | None = None,
    lowercase: bool = False,
    normalize_digits: bool = False,
) -> dict[str, Vocab]:
    """Build ``{"words", "chars", "labels"}`` from the training split's ``tokens`` and ``tags``
    (one task): :func:`build_text_vocabs` and :func:`build_labels`."""
    if "tags" not in train.column_names:
        raise CorpusFormatError("build_vocabs: the training split has no 'tags' column")
    vocabs = build_text_vocabs(
        train,
        min_freq=min_freq,
        max_size=max_size,
        lowercase=lowercase,
        normalize_digits=normalize_digits,
    )
    return {**vocabs, "labels": build_labels(_rows(train, "tags"), scheme)}


def check_vocab_options(options: Mapping[str, Any]) -> None:
    """Every ``data.vocab`` key must be an option of :func:`build_text_vocabs` (a typo failed
    as a ``TypeError`` after the corpus was read)."""
    known = [name for name in inspect.signature(build_text_vocabs).parameters if name != "train"]
    for key in options:
        if key not in known:
            raise ConfigError(
                f"data.vocab.{key}={options[key]}: not a vocabulary option; the options are "
                f"{', '.join(known)}"
            )


def build_text_vocabs(
    train: datasets.Dataset,
    *,
    min_freq: int = 1,
    max_size: int | None = None,
    lowercase: bool = False,
    normalize_digits: bool = False,
) -> dict[str, Vocab]:
    """Build ``{"words", "chars"}`` from the training split only (no dev/test leakage).

    Words use the normalisation options; chars are built from the raw words (the char CNN sees
    case and digits). Warns when the words cover few training tokens.
    """
    word_counts = Counter(chain.from_iterable(_rows(train, "tokens")))
    words = Vocab.from_counts(
        word_counts,
        min_freq=min_freq,
        max_size=max_size,
        lowercase=lowercase,
        normalize_digits=normalize_digits,
    )
    _warn_low_coverage(words, word_counts, min_freq, max_size)
    return {"words": words, "chars": Vocab.chars_from_word_counts(word_counts)}


def build_task_labels(train: datasets.Dataset, tasks: Sequence[Task]) -> dict[str, Vocab]:
    """One label namespace per task: its training tags in its train scheme
    (:func:`build_labels`); a task whose column the split lacks is a ``CorpusFormatError``."""
    labels = {}
    for task in tasks:
        if task.tags_key not in train.column_names:
            raise CorpusFormatError(
                f"the training split has no tags for task {task.name!r} (columns: "
                f"{train.column_names})"
            )
        named = task.name if task.name != DEFAULT_TASK else None  # one task: as before tasks
        labels[task.name] = build_labels(_rows(train, task.tags_key), task.train_scheme, named)
    return labels


def _rows(dataset: datasets.Dataset, column: str) -> Iterator[list[str]]:
    """One list column, row by row, read ``ROWS_PER_READ`` rows at a time: counting never holds
    a whole split's strings in memory (at 20M tokens that was gigabytes)."""
    for batch in dataset.select_columns([column]).with_format(None).iter(ROWS_PER_READ):
        yield from batch[column]


def build_labels(
    tag_sequences: Iterable[Iterable[str]], scheme: str, task: str | None = None
) -> Vocab:
    """The label set of the training tags in ``scheme``, alphabetical.

    For a chunk scheme it is every prefix of every entity type seen (``scheme_labels``), not only
    the tags seen: a type seen only in 2-token spans must still have ``I-X`` under BIOES, or the
    model could never tag the middle of a longer span and dev gold would lose it.
    """
    seen = Vocab.build(tag_sequences, pad=None, unk=None, sort="alpha")
    if len(seen) == 1:
        log.warning(
            "the training split has a single tag%s, %r: the model can only predict it "
            "(wrong tag column, or a corpus without annotations?)",
            f" for task {task!r}" if task else "",
            seen.itos[0],
        )
    if scheme == "plain":
        return seen
    return Vocab(sorted(scheme_labels(label_types(seen.itos), scheme)), pad=None, unk=None)


def _warn_low_coverage(
    words: Vocab, counts: Counter[str], min_freq: int, max_size: int | None
) -> None:
    """Warn when ``min_freq``/``max_size`` turn most training tokens into ``<unk>``."""
    total = sum(counts.values())
    known = sum(count for token, count in counts.items() if token in words)
    if total and known / total < MIN_COVERAGE:
        log.warning(
            "the word vocabulary (data.vocab.min_freq=%s, data.vocab.max_size=%s) keeps %d "
            "words, which cover %.1f%% of the training tokens: the rest become %s",
            min_freq,
            max_size,
            len(words) - (words.pad is not None) - (words.unk is not None),
            100 * known / total,
            words.unk,
        )

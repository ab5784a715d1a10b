"""Featurizers: the words of sentences -> the id columns that one embedder reads.

An embedder owns its featurizer (as flair's embeddings own their tokenization): word + character
embeddings read word ids and character ids cut at ``max_word_length``; a subword transformer
reads subword ids and word offsets. Training and evaluation (``Dataset.map`` in
``data/encoding.py``) and ``Predictor`` call the same :meth:`Featurizer.encode`, so a rule such as
the character clipping lives in one place. A featurizer is plain data (:meth:`to_dict`), stored
in the checkpoint and rebuilt from it with the checkpoint's vocabularies
(:func:`featurizer_from_dict`); ``collate_batch`` pads whatever columns it produces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from seqtagger.data.vocab import Vocab
from seqtagger.errors import CheckpointError, ConfigError

__all__ = ["FEATURIZERS", "Featurizer", "WordCharFeaturizer", "featurizer_from_dict"]

FEATURIZERS: dict[str, type[Featurizer]] = {}
"""``kind`` -> class, filled by every subclass as it is defined (no table to edit)."""


class Featurizer:
    """Base class. Subclasses set ``kind``, and implement :meth:`encode` and the dict round trip.

    ``encode`` must be deterministic and picklable (``datasets`` fingerprints it to cache the
    encoded corpus), and must keep one position per word: the model scores words, never pieces.
    """

    kind: ClassVar[str]
    pad_values: ClassVar[Mapping[str, int]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        FEATURIZERS[cls.kind] = cls

    def encode(self, sentences: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
        """Id columns for a batch of sentences, one row per sentence, plus ``length`` (words)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain options (no vocabularies: the checkpoint stores those once)."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], vocabs: Mapping[str, Vocab]) -> Featurizer:
        raise NotImplementedError


class WordCharFeaturizer(Featurizer):
    """Word ids and, when ``use_chars``, the character ids of each word cut at ``max_word_length``
    (the word itself stays whole); unseen words and characters map to ``<unk>``.

    Word forms repeat (a corpus of 200k tokens has ~20k forms), so each form's ids are computed
    once and remembered (up to ``MEMO_SIZE`` forms, then the memo starts afresh): encoding costs
    a dictionary lookup per token. The memo is not part of the featurizer's identity (pickling,
    ``datasets`` fingerprints, ``to_dict``)."""

    kind = "word_char"
    MEMO_SIZE: ClassVar[int] = 500_000

    def __init__(self, words: Vocab, chars: Vocab | None = None, max_word_length: int = 20) -> None:
        if max_word_length < 1:
            raise ConfigError(f"data.max_word_length must be >= 1, got {max_word_length}")
        self.words = words
        self.chars = chars
        self.max_word_length = max_word_length
        self._memo: dict[str, tuple[int, list[int] | None]] = {}

    @classmethod
    def from_vocabs(
        cls, vocabs: Mapping[str, Vocab], max_word_length: int = 20, use_chars: bool = True
    ) -> WordCharFeaturizer:
        """The default featurizer (the one every embedder without its own uses): the ``words``
        vocabulary, and ``chars`` when ``use_chars``."""
        return cls(vocabs["words"], vocabs["chars"] if use_chars else None, max_word_length)

    def _word(self, word: str) -> tuple[int, list[int] | None]:
        """``(word id, character ids or None)`` of one form, remembered."""
        if len(self._memo) >= self.MEMO_SIZE:
            self._memo.clear()
        chars = None if self.chars is None else self.chars.indices(word[: self.max_word_length])
        entry = self._memo[word] = (self.words.index(word), chars)
        return entry

    def encode(self, sentences: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
        memo, compute = self._memo, self._word
        entries = [[memo.get(word) or compute(word) for word in tokens] for tokens in sentences]
        columns: dict[str, list[Any]] = {
            "token_ids": [[entry[0] for entry in row] for row in entries],
            "length": [len(tokens) for tokens in sentences],
        }
        if self.chars is not None:
            columns["char_ids"] = [[entry[1] for entry in row] for row in entries]
        return columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "use_chars": self.chars is not None,
            "max_word_length": self.max_word_length,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], vocabs: Mapping[str, Vocab]) -> Featurizer:
        chars = vocabs["chars"] if data.get("use_chars", True) else None
        return cls(vocabs["words"], chars, int(data.get("max_word_length", 20)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # stable datasets fingerprint
        return type(self), (self.words, self.chars, self.max_word_length)


def featurizer_from_dict(data: Mapping[str, Any], vocabs: Mapping[str, Vocab]) -> Featurizer:
    """Rebuild a featurizer stored with :meth:`Featurizer.to_dict` (checkpoints, data_info)."""
    kind = data.get("kind", WordCharFeaturizer.kind)
    if kind not in FEATURIZERS:
        raise CheckpointError(
            f"unknown featurizer {kind!r} (this seqtagger knows {sorted(FEATURIZERS)}): the "
            "checkpoint was written by a newer or extended seqtagger"
        )
    return FEATURIZERS[kind].from_dict(data, vocabs)

"""Token representations: word embeddings (optionally pretrained) + character features.

Written by hand because the pieces are small and the details matter for tagging: the character
encoders (``models/chars.py``) must ignore padding characters, word dropout must never touch
padding, and pretrained-vector loading must report its coverage and fall back to the lowercased
form, which generic loaders (``torchtext`` is retired) do not do.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqtagger.data.featurizers import WordCharFeaturizer
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError, CorpusFormatError, CorpusNotFoundError
from seqtagger.models.chars import CharCNN, CharEncoder, CharLSTM, build_char_encoder
from seqtagger.models.dropout import sequence_dropout

__all__ = ["CharCNN", "CharLSTM", "TokenEmbedder", "load_pretrained_vectors"]

log = logging.getLogger(__name__)


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        yield from handle


def _split_vector_line(parts: list[str], dim: int, path: Path, line_no: int) -> tuple[str, list]:
    """``word v1 ... vD`` -> (word, values); words containing spaces (GloVe 840B) are re-joined."""
    if len(parts) < dim + 1:
        raise CorpusFormatError(
            f"{path}:{line_no}: expected a word followed by {dim} values, found "
            f"{len(parts) - 1} values. Check the embedding file and the configured word_dim."
        )
    return " ".join(parts[:-dim]), parts[-dim:]


def load_pretrained_vectors(
    path: str | Path, words: Sequence[str], dim: int
) -> tuple[Tensor, float]:
    """Read GloVe / word2vec text vectors for a vocabulary.

    Each vocabulary word takes the vector of its exact form if the file has it, else the vector
    of its lowercased form (``"Paris"`` may take ``"paris"``, not the reverse). Words found in
    neither way keep a random initialisation, uniform in ``±sqrt(3 / dim)`` (variance ``1 / dim``
    per value, expected norm 1).
    A word2vec header line ``"N D"`` is tolerated (and its D checked); ``.gz`` files are read
    transparently.

    Args:
        path: text file, one ``word v1 ... vD`` per line.
        words: the vocabulary, index ``i`` -> row ``i`` of the result.
        dim: the expected vector size (the embedder's ``word_dim``).

    Returns:
        ``(weights (V, dim), coverage)`` with coverage the fraction of ``words`` found (exact or
        lowercased). Coverage is logged.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: on a dimension mismatch, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusNotFoundError(f"pretrained vectors file not found: {path}")
    bound = math.sqrt(3.0 / dim)
    weights = torch.empty(len(words), dim).uniform_(-bound, bound)
    exact_rows: dict[str, list[int]] = {}
    lower_rows: dict[str, list[int]] = {}
    for row, word in enumerate(words):
        exact_rows.setdefault(word, []).append(row)
        lower_rows.setdefault(word.lower(), []).append(row)
    exact_found: set[int] = set()
    lower_found: set[int] = set()

    first_data_line = True
    for line_no, line in enumerate(_open_text(path), start=1):
        parts = line.rstrip("\r\n ").split(" ")
        if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            if int(parts[1]) != dim:
                raise ConfigError(
                    f"{path}:1: word2vec header declares {parts[1]}-dimensional vectors but "
                    f"word_dim={dim}. Set word_dim to {parts[1]} or use another file."
                )
            continue
        if parts == [""]:
            continue
        if first_data_line and len(parts) - 1 != dim:
            raise ConfigError(
                f"{path}:{line_no}: vectors have {len(parts) - 1} values but word_dim={dim}. "
                f"Set word_dim to {len(parts) - 1} or use another file."
            )
        first_data_line = False
        word, values = _split_vector_line(parts, dim, path, line_no)
        new_exact = [r for r in exact_rows.get(word, ()) if r not in exact_found]
        new_lower = [
            r
            for r in lower_rows.get(word, ())
            if r not in exact_found and r not in lower_found and r not in new_exact
        ]
        if not new_exact and not new_lower:
            continue
        vector = torch.tensor([float(v) for v in values])
        for r in new_exact:
            weights[r] = vector
            exact_found.add(r)
            lower_found.discard(r)  # an exact match later in the file beats a lowercase one
        for r in new_lower:
            weights[r] = vector
            lower_found.add(r)

    coverage = (len(exact_found) + len(lower_found)) / max(len(words), 1)
    log.info(
        "pretrained vectors %s: %d/%d words found (%d exact, %d lowercased), coverage %.1f%%",
        path,
        len(exact_found) + len(lower_found),
        len(words),
        len(exact_found),
        len(lower_found),
        100 * coverage,
    )
    return weights, coverage


class TokenEmbedder(nn.Module):
    """Word embedding (+ character features), word dropout and dropout.

    ``forward(batch) -> (N, L, output_size)`` from the batch's ``token_ids (N, L)`` and
    ``char_ids (N, L, W)`` (see :meth:`make_featurizer`), with
    ``output_size = word_dim + char_filters`` (``char_filters`` only when ``char_dim > 0``).
    ``char_encoder`` picks the character CNN (``cnn``) or BiLSTM (``lstm``, ``char_filters``
    split between its two directions); ``char_kernel_size`` is the CNN's.

    Word dropout (training only) replaces each real token id (``!= pad_index``) by ``unk_index``
    with probability ``word_dropout``, so the model learns a useful ``<unk>`` vector; padding is
    never touched. ``locked_dropout`` shares one dropout mask across a sentence's tokens
    (``models/dropout.py``). With ``pretrained`` the word table is initialised from that vectors
    file (``words`` is then required, index-aligned with the word vocab) and frozen if ``freeze``.
    ``export_safe``: every position is encoded, without the CPU-only gather of real words (its
    output shape depends on the data, which an exported graph cannot follow).
    """

    export_safe: bool = False

    def __init__(
        self,
        num_words: int,
        num_chars: int,
        word_dim: int = 100,
        char_dim: int = 30,
        char_filters: int = 50,
        char_kernel_size: int = 3,
        char_encoder: str = "cnn",
        word_dropout: float = 0.0,
        dropout: float = 0.5,
        locked_dropout: bool = False,
        pad_index: int = 0,
        unk_index: int = 1,
        pretrained: str | None = None,
        words: Sequence[str] | None = None,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ConfigError(f"word_dropout must be in [0, 1); received {word_dropout}.")
        self.pad_index = pad_index
        self.unk_index = unk_index
        self.word_dropout = word_dropout
        self.word_embedding = nn.Embedding(num_words, word_dim, padding_idx=pad_index)
        self.coverage: float | None = None
        if pretrained is not None:
            self._load_pretrained(pretrained, words, num_words, word_dim, freeze)
        # held as char_<kind> (char_cnn, char_lstm), which names its weights in the state dict
        self._chars_name: str | None = None
        if char_dim > 0:
            chars = build_char_encoder(
                char_encoder, num_chars, char_dim, char_filters, char_kernel_size, pad_index
            )
            self._chars_name = f"char_{char_encoder}"
            self.add_module(self._chars_name, chars)
        self.dropout = sequence_dropout(dropout, locked_dropout)
        chars = self.char_encoder
        self.output_size = word_dim + (chars.output_size if chars is not None else 0)

    @property
    def char_encoder(self) -> CharEncoder | None:
        """The character encoder in use, None when ``char_dim == 0``."""
        return None if self._chars_name is None else getattr(self, self._chars_name)

    def _load_pretrained(
        self,
        pretrained: str,
        words: Sequence[str] | None,
        num_words: int,
        word_dim: int,
        freeze: bool,
    ) -> None:
        if words is None or len(words) != num_words:
            got = "None" if words is None else f"{len(words)} words"
            raise ConfigError(
                f"pretrained={pretrained!r} needs `words`, the word vocab in index order "
                f"({num_words} entries); received {got}."
            )
        weights, self.coverage = load_pretrained_vectors(pretrained, words, word_dim)
        weights[self.pad_index] = 0.0
        with torch.no_grad():
            self.word_embedding.weight.copy_(weights)
        self.word_embedding.weight.requires_grad_(not freeze)

    def _drop_words(self, token_ids: Tensor) -> Tensor:
        if not self.training or self.word_dropout == 0.0:
            return token_ids
        drop = torch.rand(token_ids.shape, device=token_ids.device) < self.word_dropout
        drop &= token_ids != self.pad_index
        return token_ids.masked_fill(drop, self.unk_index)

    @staticmethod
    def make_featurizer(
        config: Mapping[str, Any], vocabs: Mapping[str, Vocab], max_word_length: int
    ) -> WordCharFeaturizer:
        """The featurizer for an embedder built from ``config``: word ids, plus character ids
        when the character CNN is on (``char_dim > 0``)."""
        use_chars = config.get("char_dim", 30) > 0
        return WordCharFeaturizer.from_vocabs(vocabs, max_word_length, use_chars)

    def word_vectors(self, token_ids: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Word vectors ``(N, L, word_dim)`` of (word-dropped) ``token_ids``; subclasses may
        read more of the batch (``models/vectors.py`` reaches unseen words)."""
        return self.word_embedding(token_ids)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``token_ids (N, L)``, ``char_ids (N, L, W)`` of a batch -> ``(N, L, output_size)``."""
        features = [self.word_vectors(self._drop_words(batch["token_ids"]), batch)]
        chars = self.char_encoder
        if chars is not None:
            if "char_ids" not in batch:
                raise ValueError(
                    "the character encoder is enabled (char_dim > 0) but the batch has no "
                    "char_ids; its featurizer was built without characters"
                )
            features.append(self._char_features(batch["char_ids"], batch.get("mask")))
        return self.dropout(torch.cat(features, dim=-1))

    def _char_features(self, char_ids: Tensor, mask: Tensor | None) -> Tensor:
        """Character features ``(N, L, F)``. On the CPU only the real words are encoded: each
        padded position costs time there (batches of whole documents are 2.6x padding). On a
        GPU padded work is cheap and the gather would wait for the device (a host sync)."""
        chars = self.char_encoder
        if self.export_safe or mask is None or char_ids.device.type != "cpu" or bool(mask.all()):
            return chars(char_ids)
        real = chars(char_ids[mask].unsqueeze(0))[0]  # (M, F), M = real words
        return real.new_zeros(*mask.shape, real.shape[-1]).index_put_((mask,), real)

